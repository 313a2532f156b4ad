"""Every retriever over one store passes the shared contract; IndexConfig; composition."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemqa.core.retrieval import Passage, open_retriever
from stemqa.rag import (
    MODES,
    BaseRetriever,
    Index,
    IndexConfig,
    IndexConfigError,
    RetrieverWrapper,
    make_retriever,
)
from stemqa.rag.retrievers import WRAPPERS

from .conftest import PDF_DIR, SMALL
from .retriever_contract import RetrieverContract

#: No WordNet needed (lemmatize is the only step that reads it), so these run everywhere.
PREPROCESS = "lowercase,stopwords"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Index:
    index = Index(tmp_path_factory.mktemp("contract") / "index", preprocess=PREPROCESS)
    report = index.add([PDF_DIR / name for name in SMALL])
    assert report.files == 2 and not report.skipped, report.summary()
    return index


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Index:
    return Index(tmp_path_factory.mktemp("contract_empty") / "index", preprocess=PREPROCESS)


@pytest.fixture()
def corpus_size(store: Index) -> int:
    return store.count()


class _ModeContract(RetrieverContract):
    mode = ""

    @pytest.fixture()
    def expected_mode(self) -> str:
        return self.mode

    @pytest.fixture()
    def retriever(self, store: Index):
        return store.as_retriever(mode=self.mode, k=4)

    @pytest.fixture()
    def empty_retriever(self, empty_store: Index):
        return empty_store.as_retriever(mode=self.mode)


class TestDenseRetriever(_ModeContract):
    mode = "dense"

    def test_scores_are_cosine_similarities(self, retriever):
        assert all(-1.0 <= h.score <= 1.0 for h in retriever.retrieve("Biot-Savart law"))


class TestBm25Retriever(_ModeContract):
    mode = "bm25"

    def test_no_shared_term_no_hit(self, retriever):
        assert retriever.retrieve("zyzzyva quokka") == []


class TestHybridRetriever(_ModeContract):
    mode = "hybrid"


class TestEntryPointRetriever(RetrieverContract):
    """What eval-mcqa gets: `open_retriever(folder)` through the stemqa.retrievers entry point."""

    @pytest.fixture()
    def expected_mode(self) -> str:
        return "hybrid"

    @pytest.fixture()
    def retriever(self, store: Index):
        return open_retriever(str(store.path))

    @pytest.fixture()
    def empty_retriever(self, empty_store: Index):
        return open_retriever(str(empty_store.path))

    def test_mode_and_k_are_options(self, store: Index):
        retriever = open_retriever(str(store.path), mode="bm25", k="2")  # as --retriever_option
        assert (retriever.mode, retriever.k) == ("bm25", 2)
        assert len(retriever.retrieve("Boltzmann distribution")) == 2


def test_modes_is_the_one_tuple_the_cli_offers():
    from stemqa.rag.cli import query_main

    assert MODES == ("dense", "bm25", "hybrid")
    with pytest.raises(SystemExit):
        query_main(["q", "--index", "x", "--mode", "sparse"])


def test_index_query_matches_the_retriever(store: Index):
    for mode in MODES:
        question = "entropy of an ideal gas"
        assert store.query(question, 3, mode) == store.as_retriever(mode, 3).retrieve(question)


def test_a_wrapper_is_one_class_and_one_flag(store: Index):
    """What a reranker or page aggregation will be: a RetrieverWrapper registered by name."""

    class OnePerPage(RetrieverWrapper):
        def _retrieve(self, query: str, k: int) -> list[Passage]:
            seen, out = set(), []
            for hit in self.inner.retrieve(query, k * 4):
                if (hit.source, hit.page) not in seen:
                    seen.add((hit.source, hit.page))
                    out.append(hit)
            return out[:k]

    WRAPPERS["one-per-page"] = OnePerPage
    try:
        wrapped = make_retriever(store, "hybrid", 3, wrappers=["one-per-page"])
        assert isinstance(wrapped, BaseRetriever) and wrapped.mode == "hybrid"
        hits = wrapped.retrieve("Maxwell equations magnetic field")
        assert len({(h.source, h.page) for h in hits}) == len(hits) <= 3
        with pytest.raises(ValueError, match="wrapper 'rerank' is unknown"):
            make_retriever(store, "hybrid", 3, wrappers=["rerank"])
    finally:
        del WRAPPERS["one-per-page"]


def test_unknown_mode_is_named(store: Index):
    with pytest.raises(ValueError, match="mode='sparse'; choose one of dense, bm25, hybrid"):
        store.as_retriever("sparse")


# -- IndexConfig --------------------------------------------------------------------------------


def test_index_config_resolves_recorded_settings_and_names_conflicts(store: Index):
    assert store.config == IndexConfig(
        embedding_model="sentence-transformers/all-MiniLM-L6-v2",
        distance="cosine",
        chunk_size=1000,
        chunk_overlap=200,
        preprocess=PREPROCESS,
        embed_preprocessed=False,
    )
    # A reader that asks for nothing gets what was recorded; asking for the same is fine.
    reopened = Index(store.path, create=False, config=IndexConfig(preprocess="stopwords,lowercase"))
    assert reopened.config == store.config
    with pytest.raises(IndexConfigError, match=r"chunk_overlap=50 does not match.*=200"):
        Index(store.path, config=IndexConfig(chunk_overlap=50))
    with pytest.raises(IndexConfigError, match="preprocess='lowercase' does not match"):
        Index(store.path, preprocess="lowercase")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (IndexConfig(distance="dot"), "distance='dot': choose one of"),
        (IndexConfig(chunk_size=100, chunk_overlap=100), "0 <= chunk_overlap < chunk_size"),
        (IndexConfig(chunk_size=0), "need chunk_size > 0"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path: Path, config, message):
    with pytest.raises(IndexConfigError, match=message):
        Index(tmp_path / "index", config=config)
    assert not (tmp_path / "index").exists()


def test_index_config_from_cli_options_and_metadata():
    import argparse

    parser = argparse.ArgumentParser()
    IndexConfig.add_arguments(parser)
    args = parser.parse_args(["--chunk-size", "400", "--preprocess", "all", "--distance", "l2"])
    config = IndexConfig.from_options(vars(args))
    assert config.chosen() == {
        "chunk_size": 400,
        "preprocess": "lowercase,stopwords,lemmatize",
        "distance": "l2",
    }
    assert IndexConfig.from_metadata(config.to_metadata()) == config
    with pytest.raises(IndexConfigError, match="unexpected keyword"):
        Index("unused", chunk_sise=400)
