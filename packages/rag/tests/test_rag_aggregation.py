"""Page aggregation, page fusion and multi-query retrievers: the shared retriever contract,
plus what each promises (one passage per page; fused pages; variants fused by RRF)."""

from __future__ import annotations

import pytest

from stemqa.core.retrieval import Passage
from stemqa.rag import Index
from stemqa.rag.aggregation import (
    MultiQuery,
    PageAggregator,
    PageFusion,
    fuse_pages,
    multi_granularity,
    page_hybrid,
    score_pages,
)
from stemqa.rag.config import IndexConfig
from stemqa.rag.retrievers import WRAPPERS, HybridRetriever, QueryCleanup, make_retriever

from .conftest import PDF_DIR, SMALL
from .retriever_contract import EASY, RetrieverContract


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Index:
    index = Index(
        tmp_path_factory.mktemp("aggregation") / "index", preprocess="lowercase,stopwords"
    )
    report = index.add([PDF_DIR / name for name in SMALL])
    assert report.files == 2 and not report.skipped, report.summary()
    return index


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Index:
    return Index(tmp_path_factory.mktemp("aggregation_empty") / "index")


@pytest.fixture()
def corpus_size(store: Index) -> int:
    return store.count()


class TestPageFusion(RetrieverContract):
    @pytest.fixture()
    def expected_mode(self) -> str:
        return "pages"

    @pytest.fixture()
    def retriever(self, store: Index):
        return page_hybrid(store, k=4)

    @pytest.fixture()
    def empty_retriever(self, empty_store: Index):
        return page_hybrid(empty_store)


class TestPageAggregator(RetrieverContract):
    @pytest.fixture()
    def expected_mode(self) -> str:
        return "hybrid"

    @pytest.fixture()
    def retriever(self, store: Index):
        return PageAggregator(HybridRetriever(store, k=4))

    @pytest.fixture()
    def empty_retriever(self, empty_store: Index):
        return PageAggregator(HybridRetriever(empty_store))


def pages(hits: list[Passage]) -> list[tuple[str, int | None]]:
    return [(h.source, h.page) for h in hits]


@pytest.mark.parametrize("make", [page_hybrid, lambda s: PageAggregator(HybridRetriever(s))])
def test_one_passage_per_page(store: Index, make):
    hits = make(store).retrieve("entropy energy temperature partition function", k=6)
    assert len(hits) == 6 and len(set(pages(hits))) == 6


def test_page_fusion_sums_votes_per_page_not_per_chunk():
    def p(source: str, page: int, n: int) -> Passage:
        return Passage(text=f"{source}{page}{n}", source=source, page=page, chunk_id=f"{page}:{n}")

    dense = [p("a", 1, 0), p("a", 1, 1), p("b", 2, 0)]  # page a1 twice: one vote, not two
    bm25 = [p("b", 2, 3), p("a", 1, 2)]
    fused = fuse_pages([dense, bm25], k=5)
    assert pages(fused) == [("a", 1), ("b", 2)]  # a1: 1/61 + 1/62; b2: 1/62 + 1/61, a1 first
    assert fused[0].chunk_id == "1:0"  # represented by the first ranking's best chunk
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)
    assert [q.chunk_id for q in fuse_pages([bm25, dense], k=1)] == ["2:3"]  # tie: first seen


def test_multi_query_fuses_variants_and_is_a_no_op_alone(store: Index):
    inner = HybridRetriever(store, k=5)
    alone = MultiQuery(inner)
    question = EASY[1][0]
    assert [h.chunk_id for h in alone.retrieve(question)] == [
        h.chunk_id for h in inner.retrieve(question, 5)
    ]
    fused = MultiQuery(inner, variants=lambda q: [q, "Stirling approximation N factorial"])
    hits = fused.retrieve(question, k=5)
    assert len(hits) == 5 and hits[0].source == EASY[1][1]
    assert all(h.score > 0 for h in hits)


def test_wrappers_are_registered_by_name(store: Index):
    assert WRAPPERS["pages"] is PageAggregator and WRAPPERS["multi-query"] is MultiQuery
    retriever = make_retriever(store, mode="dense", k=3, wrappers=["pages"])
    hits = retriever.retrieve(EASY[0][0])
    assert len(set(pages(hits))) == len(hits) <= 3
    assert isinstance(page_hybrid(store), PageFusion)


def test_score_pages_max_sum_and_neighbours():
    scored = [(("a", 1), 0.5), (("b", 7), 0.4), (("a", 2), 0.3), (("b", 7), 0.35), (("a", 1), 0.1)]
    # both weights 0: the best chunk's order, each page once
    assert [key for key, _ in score_pages(scored)] == [("a", 1), ("b", 7), ("a", 2)]
    # max + sum: b7's second chunk (0.35) lifts it over a1 (0.5 + 0.1)
    ranked = dict(score_pages(scored, sum_weight=1.0))
    assert ranked[("b", 7)] == pytest.approx(0.75) and ranked[("a", 1)] == pytest.approx(0.6)
    assert next(iter(ranked)) == ("b", 7)
    # neighbours: a2 gets half of a1's best, a1 half of a2's; b7 has no neighbour listed
    near = score_pages(scored, neighbour_weight=0.5)
    assert [key for key, _ in near] == [("a", 1), ("a", 2), ("b", 7)]
    assert dict(near)[("a", 2)] == pytest.approx(0.3 + 0.25)


def test_page_aggregator_with_page_scoring_keeps_one_passage_per_page(store: Index):
    plain = PageAggregator(HybridRetriever(store, k=5))
    near = PageAggregator(HybridRetriever(store, k=5), neighbour_weight=0.5, sum_weight=0.25)
    question = EASY[1][0]
    hits = near.retrieve(question)
    assert len(hits) == 5 and len(set(pages(hits))) == 5
    assert hits[0].source == EASY[1][1]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # the re-scored page's score exceeds its best chunk's RRF score when a neighbour is listed
    assert sum(h.score for h in hits) > sum(h.score for h in plain.retrieve(question))


def test_query_cleanup_asks_the_inner_retriever_the_topic(store: Index):
    assert WRAPPERS["clean-query"] is QueryCleanup
    inner = HybridRetriever(store, k=3)
    cleaned = make_retriever(store, mode="hybrid", k=3, wrappers=["clean-query"])
    topic = "the Stirling approximation for N factorial"
    hits = cleaned.retrieve(f"Which of the following is called {topic}?")
    assert [h.chunk_id for h in hits] == [h.chunk_id for h in inner.retrieve(f"{topic}?")]


@pytest.fixture(scope="module")
def page_store(tmp_path_factory) -> Index:
    """The same two PDFs with one entry per page (the multi-granularity companion index)."""
    config = IndexConfig.whole_pages().replace(preprocess="lowercase,stopwords")
    index = Index(tmp_path_factory.mktemp("aggregation_pages") / "index", config=config)
    report = index.add([PDF_DIR / name for name in SMALL])
    assert report.files == 2 and report.chunks == report.pages, report.summary()
    return index


class TestMultiGranularity(RetrieverContract):
    @pytest.fixture()
    def expected_mode(self) -> str:
        return "pages"

    @pytest.fixture()
    def retriever(self, store: Index, page_store: Index):
        return multi_granularity(store, page_store, k=4)

    @pytest.fixture()
    def empty_retriever(self, empty_store: Index):
        return multi_granularity(empty_store, empty_store)


def test_multi_granularity_shows_the_chunk_not_the_whole_page(store: Index, page_store: Index):
    hits = multi_granularity(store, page_store).retrieve(EASY[1][0], k=5)
    assert len(set(pages(hits))) == len(hits) == 5 and hits[0].source == EASY[1][1]
    chunk_ids = {h.chunk_id for h in store.dense_search(EASY[1][0], 80)}
    assert hits[0].chunk_id in chunk_ids  # the chunk index's passage, not the page's
    assert len(hits[0].text) <= store.chunk_size
