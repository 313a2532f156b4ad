"""Retrievers measured as retrieval levers: page aggregation, page fusion, multi-query fusion.

All implement core's `Retriever` protocol by wrapping another retriever (dense, BM25, hybrid or
another wrapper), so they compose: `MultiQuery(PageAggregator(HybridRetriever(index)))`.

- `PageAggregator` ranks pages, not chunks: a question is about a page, and a page split into
  several chunks otherwise takes several of the k slots while other relevant pages drop out.
  Each page is represented by its best chunk (max); the summed-score variant was measured worse
  (docs/BENCHMARKS.md, "Retrieval levers").
- `PageFusion` turns each of several retrievers' rankings into pages first and then fuses the
  page rankings (RRF); `page_hybrid(index)` is dense + BM25 fused that way, and
  `multi_granularity(chunks, pages)` fuses a chunk index with a whole-page index.
- `MultiQuery` retrieves for several phrasings of one question (e.g. an MCQ's stem and its
  stem plus options) and fuses the rankings by reciprocal rank (core's `fuse_rankings`).
- `score_pages` is the page scoring both `PageAggregator` and benchmarks/rag_quality.py use:
  a page's best chunk, optionally plus a share of its other chunks (max+sum) and of its
  neighbouring pages' best chunk (a derivation continued on the next page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from stemqa.core.retrieval import RRF_K, Passage, fuse_rankings
from stemqa.rag.retrievers import (
    DEFAULT_K,
    FUSION_MIN_CANDIDATES,
    WRAPPERS,
    BaseRetriever,
    Bm25Retriever,
    DenseRetriever,
    RetrieverWrapper,
)

if TYPE_CHECKING:
    from stemqa.rag.index import Index

#: Candidates fetched per requested page: pages have 2-6 chunks at the default chunk size.
PAGE_DEPTH = 4


def page_key(passage: Passage) -> tuple[str, int | None]:
    return (passage.source, passage.page)


def score_pages(
    scored: Iterable[tuple[tuple[str, int | None], float]],
    sum_weight: float = 0.0,
    neighbour_weight: float = 0.0,
) -> list[tuple[tuple[str, int | None], float]]:
    """Pages ranked by score from (page key, chunk score) pairs given best chunk first.

    A page's score is its best chunk's score, plus `sum_weight` times the sum of its other
    chunks' scores, plus `neighbour_weight` times the best chunk score of the page before or
    after it in the same source (whichever is higher; only pages among `scored` count). With
    both weights 0 this is "rank pages by their best chunk" and keeps the input order.
    Ties keep the order of first appearance.
    """
    best: dict[tuple[str, int | None], float] = {}
    rest: dict[tuple[str, int | None], float] = {}
    for key, score in scored:
        if key in best:
            rest[key] = rest.get(key, 0.0) + score
        else:
            best[key] = score
    if not sum_weight and not neighbour_weight:
        return list(best.items())
    total = {}
    for key, score in best.items():
        value = score + sum_weight * rest.get(key, 0.0)
        source, page = key
        if neighbour_weight and page is not None:
            near = max(best.get((source, page - 1), 0.0), best.get((source, page + 1), 0.0))
            value += neighbour_weight * near
        total[key] = value
    order = {key: n for n, key in enumerate(best)}
    return sorted(total.items(), key=lambda item: (-item[1], order[item[0]]))


def best_chunk_per_page(passages: Sequence[Passage]) -> list[Passage]:
    """Keep the first (best-ranked) passage of each (source, page), in rank order."""
    seen: dict[tuple[str, int | None], Passage] = {}
    for passage in passages:
        seen.setdefault(page_key(passage), passage)
    return list(seen.values())


class PageAggregator(RetrieverWrapper):
    """One passage per page (its best chunk): the inner ranking, deduplicated by (source, page).

    `sum_weight` and `neighbour_weight` re-rank the pages by `score_pages` (the inner
    retriever's scores: RRF for hybrid); both 0 (the default) keep the inner order.
    """

    def __init__(
        self,
        inner: BaseRetriever,
        k: int | None = None,
        depth: int = PAGE_DEPTH,
        sum_weight: float = 0.0,
        neighbour_weight: float = 0.0,
    ) -> None:
        super().__init__(inner, k)
        self.depth = depth
        self.sum_weight = sum_weight
        self.neighbour_weight = neighbour_weight

    def _retrieve(self, query: str, k: int) -> list[Passage]:
        hits = self.inner.retrieve(query, k * self.depth)
        if not self.sum_weight and not self.neighbour_weight:
            return best_chunk_per_page(hits)[:k]
        first = {page_key(p): p for p in best_chunk_per_page(hits)}
        ranked = score_pages(
            ((page_key(p), p.score) for p in hits), self.sum_weight, self.neighbour_weight
        )
        return [replace(first[key], score=score) for key, score in ranked[:k]]


def fuse_pages(rankings: Sequence[Sequence[Passage]], k: int, rrf_k: int = RRF_K) -> list[Passage]:
    """RRF over page rankings: a page's score sums 1/(rrf_k + rank) over the rankings that
    list it; it is represented by the passage of the first ranking that has it (the dense
    retriever's best chunk when it comes first), with the fused score."""
    scores: dict[tuple[str, int | None], float] = {}
    first: dict[tuple[str, int | None], Passage] = {}
    for ranking in rankings:
        for rank, passage in enumerate(best_chunk_per_page(ranking), start=1):
            key = page_key(passage)
            scores[key] = scores.get(key, 0.0) + 1.0 / (rrf_k + rank)
            first.setdefault(key, passage)
    order = {key: n for n, key in enumerate(scores)}
    ranked = sorted(scores, key=lambda key: (-scores[key], order[key]))[:k]
    return [replace(first[key], score=scores[key]) for key in ranked]


class PageFusion(BaseRetriever):
    """Rank pages by fusing *page* rankings: each retriever's chunks become pages first.

    Measured on the 188 course questions (docs/BENCHMARKS.md, "Retrieval levers"): dense and
    BM25 aggregated to pages before RRF beat RRF over chunks then pages (R@1 0.686 -> 0.729,
    MRR@10 0.804 -> 0.820, cleaned pdfium text, 500/100 chunks): two chunks of one page no
    longer split that page's votes, and one retriever's second chunk of a page no longer
    outranks the other retriever's page.
    """

    mode = "pages"

    def __init__(
        self, retrievers: Sequence[BaseRetriever], k: int | None = None, depth: int = PAGE_DEPTH
    ) -> None:
        super().__init__(retrievers[0].k if k is None else k)
        self.retrievers = list(retrievers)
        self.depth = depth

    def _retrieve(self, query: str, k: int) -> list[Passage]:
        depth = max(2 * FUSION_MIN_CANDIDATES, k * self.depth)
        return fuse_pages([r.retrieve(query, depth) for r in self.retrievers], k)


def page_hybrid(index: Index, k: int = DEFAULT_K) -> PageFusion:
    """Dense + BM25 over one index, fused at page level (the measured best default)."""
    return PageFusion([DenseRetriever(index, k), Bm25Retriever(index, k)], k)


def multi_granularity(chunks: Index, pages: Index, k: int = DEFAULT_K) -> PageFusion:
    """Chunk dense + whole-page dense + whole-page BM25, fused at page level.

    `pages` is an index of the same documents built with `IndexConfig.whole_pages()` (one
    entry per page). The best configuration measured on the course questions (docs/
    BENCHMARKS.md, "Page text, cleaning, OCR and retrieval levers"): a page's embedding (its
    first 256 word pieces: heading and opening) and its BM25 over the whole page find the page
    a question is about; the small chunks' embedding finds the passage inside it. A page is
    shown by the chunk index's best chunk when the chunk ranking lists it (it comes first),
    else by the whole page.
    """
    return PageFusion(
        [DenseRetriever(chunks, k), DenseRetriever(pages, k), Bm25Retriever(pages, k)], k
    )


class MultiQuery(RetrieverWrapper):
    """Fuse the inner retriever's rankings for several variants of one query (RRF).

    `variants(query)` returns the queries to run (the query itself first, typically); the
    default runs the query alone, so the wrapper is a no-op until given a variant function,
    e.g. `lambda q: [stem, f"{stem} {' '.join(options)}"]` from the answer engine.
    """

    def __init__(
        self,
        inner: BaseRetriever,
        k: int | None = None,
        variants: Callable[[str], Sequence[str]] | None = None,
        weights: Sequence[float] | None = None,
        depth: int = 2,
    ) -> None:
        super().__init__(inner, k)
        self.variants = variants or (lambda query: [query])
        self.weights = weights
        self.depth = depth

    def _retrieve(self, query: str, k: int) -> list[Passage]:
        queries = [q for q in dict.fromkeys(self.variants(query)) if q.strip()] or [query]
        rankings = [self.inner.retrieve(q, k * self.depth) for q in queries]
        weights = None if self.weights is None else list(self.weights)[: len(rankings)]
        return fuse_rankings(rankings, k, weights=weights)


WRAPPERS.setdefault("pages", PageAggregator)
WRAPPERS.setdefault("multi-query", MultiQuery)
