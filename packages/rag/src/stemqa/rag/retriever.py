"""Entry point for `stemqa.core.retrieval.open_retriever(location, kind="chroma")`.

stemqa.train finds retrieval through this plugin instead of importing stemqa.rag, so the two
packages stay independent. It returns a retriever from retrievers.py (with `k` and `mode`),
not the Index itself, so callers get exactly the protocol and nothing they could misuse.
"""

from __future__ import annotations

from typing import Any

from stemqa.rag.index import Index
from stemqa.rag.retrievers import DEFAULT_K, DEFAULT_MODE, BaseRetriever


def open_index(
    location: str, *, mode: str = DEFAULT_MODE, k: int | str = DEFAULT_K, **options: Any
) -> BaseRetriever:
    """Open an existing index folder, or a server given as `http://HOST:PORT` (no creation).

    `mode` and `k` choose the retriever; other options go to `Index` (an `IndexConfig` field,
    `collection`, `path` for a server's BM25 folder...). String values are accepted because
    eval-mcqa passes `--retriever-option key=value` through as text.
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
    return index.as_retriever(mode=mode, k=k)  # type: ignore[arg-type]
