"""Retrievers over one store: dense, BM25 and hybrid, each a small class with `k` and `mode`.

Every retriever implements `stemqa.core.retrieval.Retriever`: `retrieve(query, k=None)` (None:
the retriever's own `k`), plus the `k` and `mode` properties callers need to describe what they
used. They wrap ONE store (an `Index`: the Chroma collection plus its BM25 index) instead of
each owning a query path, so that a reranker, query expansion or page aggregation is a new
`RetrieverWrapper` subclass registered in `WRAPPERS` (one flag), not edits in every caller.

`MODES` is the one tuple of mode names: CLIs and the app import it (never retype it).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from stemqa.core.retrieval import Passage, fuse_rankings
from stemqa.rag.preprocess import strip_boilerplate

if TYPE_CHECKING:
    from stemqa.rag.index import Index

#: How many candidates each retriever contributes to hybrid fusion, per requested hit.
FUSION_DEPTH = 4
FUSION_MIN_CANDIDATES = 40
DEFAULT_K = 5


def check_k(k: Any, where: str = "query") -> int:
    # bool is an int in Python; "k=True" is a mistake, not 1.
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"{where}: k must be a positive integer, got {k!r}")
    return k


def check_query(query: Any) -> str:
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query: the question is empty")
    return query


def with_score(passage: Passage, score: float) -> Passage:
    return replace(passage, score=float(score) if math.isfinite(score) else 0.0)


class BaseRetriever:
    """Validation and the `k` default shared by every retriever; subclasses do `_retrieve`."""

    mode: ClassVar[str] = ""

    def __init__(self, k: int = DEFAULT_K) -> None:
        self._k = check_k(k, f"{type(self).__name__}")

    @property
    def k(self) -> int:
        return self._k

    def retrieve(self, query: str, k: int | None = None) -> list[Passage]:
        """Top passages for `query`, best first, at most `k` (default: this retriever's k)."""
        n = self._k if k is None else check_k(k)
        return self._retrieve(check_query(query), n)

    def _retrieve(self, query: str, k: int) -> list[Passage]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mode={self.mode!r}, k={self._k})"


class StoreRetriever(BaseRetriever):
    """A retriever that queries the store directly."""

    def __init__(self, index: Index, k: int = DEFAULT_K) -> None:
        super().__init__(k)
        self.index = index


class DenseRetriever(StoreRetriever):
    """Nearest chunks by embedding. Score: cosine similarity (l2 indexes: the same scale)."""

    mode = "dense"

    def _retrieve(self, query: str, k: int) -> list[Passage]:
        return [with_score(p, p.score) for p in self.index.dense_search(query, k)]


class Bm25Retriever(StoreRetriever):
    """BM25 over the preprocessed tokens. Score: BM25 (> 0; chunks sharing no term are left out)."""

    mode = "bm25"

    def _retrieve(self, query: str, k: int) -> list[Passage]:
        hits = self.index.bm25_search(query, k)
        found = self.index.fetch([i for i, _ in hits])
        return [with_score(found[i], s) for i, s in hits if i in found]


class HybridRetriever(StoreRetriever):
    """Dense and BM25 fused by reciprocal rank (core's `fuse_rankings`). Score: RRF."""

    mode = "hybrid"

    def _retrieve(self, query: str, k: int) -> list[Passage]:
        depth = max(FUSION_MIN_CANDIDATES, FUSION_DEPTH * k)
        dense = self.index.dense_search(query, depth)
        sparse = self.index.bm25_search(query, depth)
        # BM25 hits are placeholders keyed by chunk id: only the fused top k not already
        # fetched by the dense search are read from Chroma.
        fused = fuse_rankings(
            [dense, [Passage(text="", source="", chunk_id=i) for i, _ in sparse]], k
        )
        known = {p.chunk_id: p for p in dense}
        found = self.index.fetch([p.chunk_id for p in fused if p.chunk_id not in known])
        known.update(found)
        return [with_score(known[p.chunk_id], p.score) for p in fused if p.chunk_id in known]


class RetrieverWrapper(BaseRetriever):
    """Base for retrievers that transform another one (reranking, query expansion, ...).

    A subclass overrides `_retrieve` and calls `self.inner.retrieve`; `k` and `mode` follow the
    inner retriever unless the subclass says otherwise.
    """

    def __init__(self, inner: BaseRetriever, k: int | None = None) -> None:
        super().__init__(inner.k if k is None else k)
        self.inner = inner

    @property
    def mode(self) -> str:  # type: ignore[override]
        return self.inner.mode

    def _retrieve(self, query: str, k: int) -> list[Passage]:
        return self.inner.retrieve(query, k)


class QueryCleanup(RetrieverWrapper):
    """The inner retriever asked the question without boilerplate ("Which of the following",
    "is called", ...; `preprocess.strip_boilerplate`), so both dense and BM25 see the topic."""

    def _retrieve(self, query: str, k: int) -> list[Passage]:
        return self.inner.retrieve(strip_boilerplate(query), k)


#: mode name -> retriever class over one store
RETRIEVERS: dict[str, type[StoreRetriever]] = {
    "dense": DenseRetriever,
    "bm25": Bm25Retriever,
    "hybrid": HybridRetriever,
}
MODES: tuple[str, ...] = tuple(RETRIEVERS)
DEFAULT_MODE = "hybrid"
#: Modes over an index plus its companion whole-page index (`rag-ingest --page-index`), opened
#: by `retriever.retriever_for`: not in MODES, which every single index serves (the app lists it).
PAGE_INDEX_MODES: tuple[str, ...] = ("multi",)
#: wrapper name -> class; `make_retriever(..., wrappers=[name])` applies them in order.
WRAPPERS: dict[str, type[RetrieverWrapper]] = {"clean-query": QueryCleanup}


def check_mode(mode: Any) -> str:
    if mode in PAGE_INDEX_MODES:
        raise ValueError(
            f"query: mode={mode!r} needs the companion page index: use "
            "stemqa.rag.retriever.retriever_for(index, mode) or open_index"
        )
    if mode not in RETRIEVERS:
        raise ValueError(f"query: mode={mode!r}; choose one of {', '.join(MODES)}")
    return mode


def make_retriever(
    index: Index,
    mode: str = DEFAULT_MODE,
    k: int = DEFAULT_K,
    wrappers: tuple[str, ...] | list[str] = (),
) -> BaseRetriever:
    """The retriever for `mode` over `index`, wrapped by each of `wrappers` in order."""
    retriever: BaseRetriever = RETRIEVERS[check_mode(mode)](index, k)
    for name in wrappers:
        if name not in WRAPPERS:
            known = ", ".join(WRAPPERS) or "none installed"
            raise ValueError(f"retriever wrapper {name!r} is unknown (available: {known})")
        retriever = WRAPPERS[name](retriever)
    return retriever
