"""Retrieval as a plugin: the contract lives here, implementations register entry points.

``stemqa.train`` needs retrieval for ``eval-mcqa --rag-index`` but must not import
``stemqa.rag`` (the two packages stay independent). So core defines what a retriever is and finds
implementations through the ``stemqa.retrievers`` entry-point group, which ``stemqa-rag``
registers (``chroma = "stemqa.rag.retriever:open_index"``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

ENTRY_POINT_GROUP = "stemqa.retrievers"
#: Reciprocal-rank-fusion constant (Cormack, Clarke & Buettcher, SIGIR 2009).
RRF_K = 60


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with enough provenance to cite it (file and page)."""

    text: str
    source: str
    page: int | None = None
    page_label: str | None = None
    score: float = 0.0
    chunk_id: str | None = None  # the store's id of the chunk, when it has one

    @property
    def page_number(self) -> int | None:
        """1-based page number (what a PDF viewer's page box takes), or None without pages."""
        return None if self.page is None else self.page + 1

    @property
    def key(self) -> Hashable:
        """Identity of the chunk across rankings: its store id, else source, page and text."""
        return self.chunk_id or (self.source, self.page, self.text)


def display_page(passage: Passage) -> str:
    """The page a reader looks for: the printed label when the PDF has one, else 1-based."""
    if passage.page_label:
        return str(passage.page_label)
    return "" if passage.page is None else str(passage.page + 1)


def cite(passage: Passage) -> str:
    """``file.pdf p. 3``: the one citation label used in prompts, answers, tables and reports."""
    page = display_page(passage)
    return f"{passage.source} p. {page}" if page else str(passage.source)


def fuse_rankings(
    rankings: Sequence[Sequence[Passage]],
    k: int | None = None,
    *,
    weights: Sequence[float] | None = None,
    rrf_k: int = RRF_K,
) -> list[Passage]:
    """Reciprocal rank fusion of passage rankings: the top ``k`` (all when None), best first.

    Rankings are combined by position, not by raw scores, because scores from different
    retrievers or queries are not comparable. The fused score replaces each passage's score;
    ties keep the order of first appearance. Used for hybrid retrieval (dense + BM25) and for
    fusing the rankings of several queries for one question.
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("fuse_rankings: one weight per ranking")
    scores: dict[Hashable, float] = {}
    first: dict[Hashable, Passage] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, passage in enumerate(ranking, start=1):
            key = passage.key
            scores[key] = scores.get(key, 0.0) + weight / (rrf_k + rank)
            first.setdefault(key, passage)
    order = {key: n for n, key in enumerate(scores)}
    ranked = sorted(scores, key=lambda key: (-scores[key], order[key]))
    if k is not None:
        ranked = ranked[:k]
    return [_with_score(first[key], scores[key]) for key in ranked]


def _with_score(passage: Passage, score: float) -> Passage:
    return replace(passage, score=score)


@runtime_checkable
class Retriever(Protocol):
    """What callers of retrieval need: passages for a query, and what was used to get them.

    ``retrieve(query)`` returns at most ``k`` passages (the retriever's own ``k``), best first;
    ``retrieve(query, k)`` asks for a different number for this call only. ``mode`` names the
    method (stemqa-rag: ``dense``, ``bm25`` or ``hybrid``) so that reports can say what ran.
    """

    @property
    def k(self) -> int: ...

    @property
    def mode(self) -> str: ...

    def retrieve(self, query: str, k: int | None = None) -> list[Passage]: ...


class _FixedRetriever:
    """Gives a plugin that only has ``retrieve(query, k)`` the protocol's ``k`` and ``mode``."""

    def __init__(self, inner: Any, mode: str, k: int = 5) -> None:
        self.inner = inner
        self.k = int(getattr(inner, "k", k))
        self.mode = str(getattr(inner, "mode", mode))

    def retrieve(self, query: str, k: int | None = None) -> list[Passage]:
        return list(self.inner.retrieve(query, k=self.k if k is None else k))


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
    if not isinstance(retriever, Retriever) and callable(getattr(retriever, "retrieve", None)):
        retriever = _FixedRetriever(retriever, mode=kind)  # an older plugin: retrieve() only
    if not isinstance(retriever, Retriever):
        raise TypeError(
            f"The {kind!r} retriever factory {matches[0].value} returned {type(retriever).__name__}, "
            "which has no retrieve(query, k) method"
        )
    return retriever
