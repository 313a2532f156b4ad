"""stemqa.rag: documents into Chroma, retrieved by BM25 + dense fusion, with provenance.

The public surface is `Index` (the store: ingest, list, delete), `IndexConfig` (what an index
stores), the retrievers over one store (`Index.as_retriever(mode, k)`, retrievers.py) and the
report/record types. Importing this package is light: chromadb and bm25s load with index.py,
the embedder only when something is embedded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stemqa.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "DEFAULT_EMBEDDING_MODEL": "config",
    "IndexConfig": "config",
    "EmbeddingModelError": "embeddings",
    "IndexConfigError": "errors",
    "IndexLockedError": "errors",
    "IndexNotFoundError": "errors",
    "IndexWriteError": "errors",
    "RagIndexError": "errors",
    "DocumentInfo": "index",
    "Index": "index",
    "IngestReport": "index",
    "SkippedFile": "index",
    "PdfLoadError": "loading",
    "NltkDataError": "nltk_data",
    "MODES": "retrievers",
    "BaseRetriever": "retrievers",
    "Bm25Retriever": "retrievers",
    "DenseRetriever": "retrievers",
    "HybridRetriever": "retrievers",
    "RetrieverWrapper": "retrievers",
    "make_retriever": "retrievers",
}

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "MODES",
    "BaseRetriever",
    "Bm25Retriever",
    "DenseRetriever",
    "DocumentInfo",
    "EmbeddingModelError",
    "HybridRetriever",
    "Index",
    "IndexConfig",
    "IndexConfigError",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexWriteError",
    "IngestReport",
    "NltkDataError",
    "PdfLoadError",
    "RagIndexError",
    "RetrieverWrapper",
    "SkippedFile",
    "make_retriever",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from stemqa.rag.config import DEFAULT_EMBEDDING_MODEL, IndexConfig
    from stemqa.rag.embeddings import EmbeddingModelError
    from stemqa.rag.errors import (
        IndexConfigError,
        IndexLockedError,
        IndexNotFoundError,
        IndexWriteError,
        RagIndexError,
    )
    from stemqa.rag.index import DocumentInfo, Index, IngestReport, SkippedFile
    from stemqa.rag.loading import PdfLoadError
    from stemqa.rag.nltk_data import NltkDataError
    from stemqa.rag.retrievers import (
        MODES,
        BaseRetriever,
        Bm25Retriever,
        DenseRetriever,
        HybridRetriever,
        RetrieverWrapper,
        make_retriever,
    )
