"""Entry point for `stemqa.core.retrieval.open_retriever(location, kind="chroma")`, and the
companion page index that retrieval mode "multi" needs.

stemqa.train finds retrieval through this plugin instead of importing stemqa.rag, so the two
packages stay independent. It returns a retriever from retrievers.py (with `k` and `mode`),
not the Index itself, so callers get exactly the protocol and nothing they could misuse.

Mode "multi" (`aggregation.multi_granularity`, the measured best: docs/BENCHMARKS.md, "Page
text, cleaning, OCR and retrieval levers") fuses the index with a companion index of the same
files holding one entry per page (`IndexConfig.whole_pages()`), which `rag-ingest --page-index`
builds at `<index>/pages` (a server: collection `<collection>-pages`). The companion is an
ordinary `Index` (its own lock, atomic per-file commits, resumable ingest), so this module only
says where it lives and how it is configured; `retriever_for` is the one place a mode name
becomes a retriever for the CLIs and this entry point.
"""

from __future__ import annotations

from typing import Any

from stemqa.rag.config import IndexConfig
from stemqa.rag.errors import IndexNotFoundError, RagIndexError
from stemqa.rag.index import Index
from stemqa.rag.retrievers import DEFAULT_K, DEFAULT_MODE, PAGE_INDEX_MODES, BaseRetriever

#: Folder of the companion page index inside an index folder.
PAGE_INDEX_FOLDER = "pages"
#: Collection-name suffix of the companion page index on a Chroma server.
PAGE_COLLECTION_SUFFIX = "-pages"
NO_PAGE_INDEX = "mode multi needs a page index: rerun rag-ingest with --page-index"


class PageIndexMissingError(RagIndexError):
    """Mode "multi" was asked of an index that has no companion page index."""


def page_index(index: Index, *, create: bool = False) -> Index | None:
    """The companion whole-page index of `index`; None when there is none and not `create`.

    It uses the index's embedder, distance and token preprocessing (only the chunking differs),
    so both rank with the same model; a companion recorded with other values is an error.
    """
    main = index.config
    config = IndexConfig.whole_pages().replace(
        embedding_model=main.embedding_model,
        distance=main.distance,
        preprocess=main.preprocess,
        embed_preprocessed=main.embed_preprocessed,
    )
    server = index.chroma_host is not None
    try:
        return Index(
            index.path / PAGE_INDEX_FOLDER if index.path is not None else None,
            config=config,
            chroma_host=index.chroma_host,
            chroma_port=index.chroma_port,
            collection=index.collection_name + (PAGE_COLLECTION_SUFFIX if server else ""),
            create=create,
            device=index.device,
            max_pages=index.max_pages,
            lock_timeout=index.lock.timeout,
        )
    except IndexNotFoundError:
        if create:
            raise
        return None


def page_index_where(index: Index) -> str:
    """Where `index`'s companion page index is (or would be), for messages."""
    if index.chroma_host is not None:
        return f"collection {index.collection_name + PAGE_COLLECTION_SUFFIX!r} on {index.where}"
    return str(index.path / PAGE_INDEX_FOLDER) if index.path is not None else "?"


def retriever_for(index: Index, mode: str = DEFAULT_MODE, k: int = DEFAULT_K) -> BaseRetriever:
    """The retriever for `mode` over `index`: a mode of MODES, or "multi" (index + page index).

    Raises PageIndexMissingError (one line saying what to run) when "multi" finds no companion.
    """
    if mode not in PAGE_INDEX_MODES:
        return index.as_retriever(mode=mode, k=k)
    from stemqa.rag.aggregation import multi_granularity

    pages = page_index(index)
    if pages is None:
        raise PageIndexMissingError(f"{NO_PAGE_INDEX} (none at {page_index_where(index)})")
    return multi_granularity(index, pages, k)


def open_index(
    location: str, *, mode: str = DEFAULT_MODE, k: int | str = DEFAULT_K, **options: Any
) -> BaseRetriever:
    """Open an existing index folder, or a server given as `http://HOST:PORT` (no creation).

    `mode` and `k` choose the retriever ("multi" also opens the companion page index); other
    options go to `Index` (an `IndexConfig` field, `collection`, `path` for a server's BM25
    folder...). String values are accepted because eval-mcqa passes `--retriever-option
    key=value` through as text.
    """
    if isinstance(k, str):
        k = int(k) if k.strip().isdigit() else k  # a bad k is reported by the retriever
    options.setdefault("create", False)
    if location.startswith(("http://", "https://")):
        from urllib.parse import urlparse

        url = urlparse(location)
        index = Index(
            options.pop("path", None),
            chroma_host=url.hostname,
            chroma_port=url.port or 8000,
            **options,
        )
    else:
        index = Index(location, **options)
    return retriever_for(index, mode=mode, k=k)  # type: ignore[arg-type]
