"""Entry point for `stemqa.core.retrieval.open_retriever(location, kind="chroma")`.

stemqa.train finds retrieval through this plugin instead of importing stemqa.rag, so the two
packages stay independent.
"""

from __future__ import annotations

from typing import Any

from stemqa.rag.index import Index


def open_index(location: str, **options: Any) -> Index:
    """Open an existing index folder, or a server given as `http://HOST:PORT` (no creation)."""
    options.setdefault("create", False)
    if location.startswith(("http://", "https://")):
        from urllib.parse import urlparse

        url = urlparse(location)
        return Index(
            options.pop("path", None),
            chroma_host=url.hostname,
            chroma_port=url.port or 8000,
            **options,
        )
    return Index(location, **options)
