"""stemqa.rag: PDFs into Chroma, retrieved by BM25 + dense fusion, with provenance.

The public surface is `Index` (used by the CLIs and the app) and the report/record types.
"""

from stemqa.rag.embeddings import DEFAULT_EMBEDDING_MODEL, EmbeddingModelError
from stemqa.rag.index import (
    MODES,
    DocumentInfo,
    Index,
    IndexConfigError,
    IndexNotFoundError,
    IngestReport,
    RagIndexError,
    SkippedFile,
)
from stemqa.rag.loading import PdfLoadError
from stemqa.rag.nltk_data import NltkDataError

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "MODES",
    "DocumentInfo",
    "EmbeddingModelError",
    "Index",
    "IndexConfigError",
    "IndexNotFoundError",
    "IngestReport",
    "NltkDataError",
    "PdfLoadError",
    "RagIndexError",
    "SkippedFile",
]
