"""The retriever contract: one reusable test class every retriever must pass.

Like langchain's standard tests (`langchain_tests.integration_tests.RetrieversIntegrationTests`),
a subclass provides fixtures and inherits the tests:

- `retriever`: a retriever over an index holding the course PDFs in `SOURCES`;
- `empty_retriever`: the same kind of retriever over an empty index;
- `expected_mode`: the mode it reports;
- `corpus_size`: how many chunks the index holds.

Also here: `snapshot`, what "equals a clean ingest" compares in the fault tests.
"""

from __future__ import annotations

import pytest

from stemqa.core.retrieval import Passage, Retriever

SOURCES = {"PHY102_Electromagnetism.pdf", "PHY202_Statistical_Mechanics.pdf"}
#: (question, the file a working retriever ranks first)
EASY = [
    ("Maxwell's equations for the electric and magnetic field", "PHY102_Electromagnetism.pdf"),
    (
        "partition function of an ideal gas of identical particles",
        "PHY202_Statistical_Mechanics.pdf",
    ),
]
UNICODE_QUERIES = [
    "Schrödinger équation ∇·E = ρ/ε₀",
    "麦克斯韦方程组 电场",
    "énergie libre de Helmholtz F = −kT ln Z 🔥",
]


class RetrieverContract:
    """Inherit and provide the fixtures named in the module docstring."""

    def test_is_the_core_protocol(self, retriever, expected_mode):
        assert isinstance(retriever, Retriever)
        assert retriever.mode == expected_mode
        assert isinstance(retriever.k, int) and retriever.k >= 1

    @pytest.mark.parametrize("k", [1, 3])
    def test_returns_at_most_k_passages_with_provenance(self, retriever, k):
        hits = retriever.retrieve(EASY[0][0], k=k)
        assert 1 <= len(hits) <= k
        for hit in hits:
            assert isinstance(hit, Passage)
            assert hit.source in SOURCES and hit.text.strip()
            assert isinstance(hit.page, int) and hit.page >= 0
            assert hit.chunk_id and hit.chunk_id.split(":")[1] == str(hit.page)
            assert hit.page_label is not None

    def test_sorted_by_score_without_duplicates(self, retriever):
        hits = retriever.retrieve("energy of the magnetic field and the Boltzmann factor", k=8)
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert len({h.chunk_id for h in hits}) == len(hits)

    @pytest.mark.parametrize(("question", "source"), EASY)
    def test_ranks_the_right_document_first(self, retriever, question, source):
        assert retriever.retrieve(question, k=3)[0].source == source

    def test_deterministic(self, retriever):
        question = "Gauss law divergence of the electric field"
        assert retriever.retrieve(question, k=4) == retriever.retrieve(question, k=4)

    def test_default_k_and_per_call_k(self, retriever):
        default = retriever.k
        assert len(retriever.retrieve(EASY[1][0])) <= default
        assert len(retriever.retrieve(EASY[1][0], 1)) == 1  # positional, as old callers do
        assert retriever.k == default  # a per-call k does not change the retriever

    def test_k_larger_than_the_corpus(self, retriever, corpus_size):
        hits = retriever.retrieve("the", k=corpus_size * 10 + 7)
        assert len(hits) <= corpus_size
        assert len({h.chunk_id for h in hits}) == len(hits)

    @pytest.mark.parametrize("question", UNICODE_QUERIES)
    def test_unicode_query(self, retriever, question):
        hits = retriever.retrieve(question, k=3)
        assert len(hits) <= 3 and all(isinstance(h, Passage) for h in hits)

    @pytest.mark.parametrize("k", [0, -1, 2.5, "3", True])
    def test_bad_k_is_refused(self, retriever, k):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            retriever.retrieve("entropy", k=k)

    @pytest.mark.parametrize("question", ["", "   \n\t"])
    def test_empty_query_is_refused(self, retriever, question):
        with pytest.raises(ValueError, match="question is empty"):
            retriever.retrieve(question)

    def test_empty_index_returns_nothing(self, empty_retriever):
        assert empty_retriever.retrieve("Maxwell's equations", k=5) == []


def snapshot(index, questions=tuple(q for q, _ in EASY), modes=("dense", "bm25", "hybrid")):
    """Everything a user can observe: ids, documents, and ranked results in every mode."""
    ids = sorted(index._get_all([])["ids"])
    docs = [(d.source, d.pages, d.chunks, d.sha256, d.state) for d in index.documents()]
    results = {
        (mode, q): [(p.chunk_id, round(p.score, 4)) for p in index.query(q, k=5, mode=mode)]
        for mode in modes
        for q in questions
    }
    return ids, docs, results
