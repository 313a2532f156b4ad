"""Retrieval as a plugin: the contract lives here, implementations register entry points.

``stemqa.train`` needs retrieval for ``eval-mcqa --rag-index`` but must not import
``stemqa.rag`` (the two packages stay independent). So core defines what a retriever is and finds
implementations through the ``stemqa.retrievers`` entry-point group, which ``stemqa-rag``
registers (``chroma = "stemqa.rag.retriever:open_index"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

ENTRY_POINT_GROUP = "stemqa.retrievers"


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with enough provenance to cite it (file and page)."""

    text: str
    source: str
    page: int | None = None
    page_label: str | None = None
    score: float = 0.0


@runtime_checkable
class Retriever(Protocol):
    def retrieve(self, query: str, k: int = 5) -> list[Passage]: ...


def available_retrievers() -> list[str]:
    """Names of the installed retriever kinds (entry points of ``stemqa.retrievers``)."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def open_retriever(location: str, *, kind: str = "chroma", **options: Any) -> Retriever:
    """Open a retriever of ``kind`` over ``location`` (an index folder, a server URL…)."""
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind]
    if not matches:
        kinds = ", ".join(available_retrievers()) or "none installed"
        raise LookupError(
            f"No retriever of kind {kind!r} is installed (available: {kinds}). Retrievers are "
            f"entry points of the {ENTRY_POINT_GROUP!r} group; install stemqa-rag for 'chroma'."
        )
    factory = matches[0].load()
    retriever = factory(location, **options)
    if not isinstance(retriever, Retriever):
        raise TypeError(
            f"The {kind!r} retriever factory {matches[0].value} returned {type(retriever).__name__}, "
            "which has no retrieve(query, k) method"
        )
    return retriever
