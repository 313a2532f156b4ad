"""The answer engine: retrieval queries, fusion, prompt fitting and scoring in one path."""

from __future__ import annotations

import re

import pytest

from stemqa.core import MCQ, Passage
from stemqa.core.answering import (
    QUERY_MODES,
    answer_mcqs,
    context_window,
    prepare_mcqs,
    retrieval_queries,
    score_prepared,
    training_example,
)
from stemqa.core.prompts import RAG_TEMPLATE, format_question
from stemqa.core.scoring import score_letters

QUESTIONS = [
    MCQ(
        "Which law relates the circulation of B around a loop to the enclosed current?",
        ("Gauss's law", "Ampère's law", "Faraday's law", "Coulomb's law"),
        answer=1,
        subject="physics",
        source="q.jsonl:1",
    ),
    MCQ(
        "What is conserved in a reversible adiabatic process?",
        ("entropy", "temperature", "pressure"),
        answer=0,
        subject="thermo",
        source="q.jsonl:2",
    ),
]


class WordRetriever:
    """A small real retriever: ranks passages by words shared with the query."""

    def __init__(self, docs: dict[str, str]) -> None:
        self.docs = docs
        self.queries: list[str] = []

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        self.queries.append(query)
        words = set(re.findall(r"[a-zà-ÿ]{3,}", query.lower()))
        ranked = sorted(
            self.docs.items(),
            key=lambda kv: (-len(words & set(re.findall(r"[a-zà-ÿ]{3,}", kv[1].lower()))), kv[0]),
        )
        return [
            Passage(text=text, source=name, page=0, chunk_id=name, score=1.0 / (n + 1))
            for n, (name, text) in enumerate(ranked[:k])
        ]


DOCS = {
    "ampere.pdf": "Ampère's law: the circulation of B equals mu0 times the enclosed current.",
    "gauss.pdf": "Gauss's law relates electric flux through a closed surface to charge.",
    "entropy.pdf": "In a reversible adiabatic process the entropy stays constant.",
    "coulomb.pdf": "Coulomb's law gives the force between two point charges.",
}


@pytest.fixture(scope="module")
def tiny(tiny_cpu):
    return tiny_cpu


def test_retrieval_queries_per_mode() -> None:
    mcq = QUESTIONS[0]
    assert retrieval_queries(mcq, "stem") == [mcq.question]
    assert retrieval_queries(mcq, "stem+options") == [format_question(mcq)]
    assert retrieval_queries(mcq, "fused") == [mcq.question, format_question(mcq)]
    with pytest.raises(ValueError, match="query mode must be one of"):
        retrieval_queries(mcq, "options")
    assert set(QUERY_MODES) == {"stem", "stem+options", "fused"}


def test_fused_query_asks_both_and_fuses_rankings() -> None:
    retriever = WordRetriever(DOCS)
    prepared = prepare_mcqs(QUESTIONS[:1], None, retriever=retriever, k=2, query_mode="fused")
    assert retriever.queries == [QUESTIONS[0].question, format_question(QUESTIONS[0])]
    passages = prepared[0].passages
    assert len(passages) == 2 and passages[0].source == "ampere.pdf"
    assert len({p.chunk_id for p in passages}) == 2  # a passage found by both queries counts once
    assert passages[0].score > passages[1].score  # fused (RRF) scores, best first


def test_prompt_is_the_rag_template_with_the_passages_in_order() -> None:
    retriever = WordRetriever(DOCS)
    (p,) = prepare_mcqs(QUESTIONS[:1], None, retriever=retriever, k=2, query_mode="stem")
    context = "\n\n".join(x.text for x in p.passages)
    expected = RAG_TEMPLATE.format(context=context, question=format_question(QUESTIONS[0]))
    assert p.prompt == expected + "\nAnswer:"
    (closed,) = prepare_mcqs(QUESTIONS[:1], None)
    assert closed.passages == [] and closed.queries == []
    assert closed.prompt.endswith("D. Coulomb's law\nAnswer:")


def test_context_window_reads_the_model_config(tiny) -> None:
    model, _ = tiny
    assert context_window(model) == model.config.max_position_embeddings
    assert context_window(None) == 2048


def test_prompts_fit_the_window_by_trimming_passages(tiny) -> None:
    _, tokenizer = tiny
    long_docs = {f"doc{i}.pdf": "entropy adiabatic " * 400 for i in range(3)}
    (p,) = prepare_mcqs(
        QUESTIONS[1:2], tokenizer, retriever=WordRetriever(long_docs), k=3, max_tokens=256
    )
    assert len(tokenizer(p.prompt)["input_ids"]) <= 256 - 8
    assert "A. entropy\nB. temperature\nC. pressure Output one letter" in p.prompt  # kept whole
    assert p.prompt.endswith("\nAnswer:")


def test_answers_equal_core_scoring_and_carry_their_evidence(tiny) -> None:
    model, tokenizer = tiny
    retriever = WordRetriever(DOCS)
    answers = answer_mcqs(model, tokenizer, QUESTIONS, retriever=retriever, k=2, batch_size=2)
    reference = score_letters(
        model, tokenizer, [a.prompt for a in answers], [m.letters for m in QUESTIONS]
    )
    for answer, ref, mcq in zip(answers, reference, QUESTIONS, strict=True):
        assert answer.letter == ref.letter and set(answer.probs) == set(mcq.letters)
        assert answer.probs == pytest.approx(ref.probs, abs=1e-6)
        assert answer.mass == pytest.approx(ref.mass, rel=1e-5)
        assert answer.confidence == answer.probs[answer.letter]
        assert answer.choice == mcq.choices[mcq.letters.index(answer.letter)]
        assert len(answer.passages) == 2 and answer.citations[0].endswith(" p. 1")
    # 4- and 3-option questions share a batch; batch size does not change the answers
    one_by_one = answer_mcqs(model, tokenizer, QUESTIONS, retriever=retriever, k=2, batch_size=1)
    for a, b in zip(answers, one_by_one, strict=True):
        assert a.letter == b.letter and a.probs == pytest.approx(b.probs, abs=1e-6)


def test_score_fn_hook_sees_every_prompt_once(tiny) -> None:
    model, tokenizer = tiny
    calls: list[list[str]] = []

    def score_fn(m, t, prompts, letters):
        calls.append(list(prompts))
        return score_letters(m, t, prompts, letters)

    prepared = prepare_mcqs(QUESTIONS, tokenizer)
    seen: list[int] = []
    answers = score_prepared(
        model, tokenizer, prepared, batch_size=1, score_fn=score_fn, progress=seen.append
    )
    assert calls == [[prepared[0].prompt], [prepared[1].prompt]] and seen == [1, 1]
    assert [a.prompt for a in answers] == [p.prompt for p in prepared]


def test_generate_method_reports_raw_text_and_no_probabilities(tiny) -> None:
    model, tokenizer = tiny
    answers = answer_mcqs(model, tokenizer, QUESTIONS, method="generate", max_new_tokens=3)
    assert all(a.raw is not None and a.probs is None and a.confidence is None for a in answers)
    assert all(a.letter is None or a.letter in a.mcq.letters for a in answers)


def test_training_example_is_the_closed_book_prompt_the_engine_asks(tiny) -> None:
    _, tokenizer = tiny
    row = training_example(QUESTIONS[0], tokenizer=tokenizer, max_tokens=512)
    (asked,) = prepare_mcqs(QUESTIONS[:1], tokenizer, max_tokens=512)
    assert row == {"prompt": asked.prompt, "completion": " B"}
    with pytest.raises(ValueError, match="no answer"):
        training_example(MCQ("Q?", ("a", "b")))


def test_fused_mode_weights_the_stem_with_options_higher_and_reads_deeper() -> None:
    """Ranks: stem → [x, y, …], stem+options → [y, x, …]: weighted RRF puts y first; and each
    query is asked for FUSION_DEPTH passages even when k is 1."""
    from stemqa.core.answering import FUSION_DEPTH

    mcq = QUESTIONS[0]

    class Fixed:
        k, mode = 5, "fixed"

        def __init__(self) -> None:
            self.asked: list[int | None] = []

        def retrieve(self, query: str, k: int | None = None) -> list[Passage]:
            self.asked.append(k)
            order = ["x", "y"] if query == mcq.question else ["y", "x"]
            order += [f"z{i}" for i in range(20)]
            return [Passage(n, f"{n}.pdf", 0, chunk_id=n) for n in order[:k]]

    fixed = Fixed()
    (p,) = prepare_mcqs([mcq], None, retriever=fixed, k=1, query_mode="fused")
    assert [x.chunk_id for x in p.passages] == ["y"]
    assert fixed.asked == [FUSION_DEPTH, FUSION_DEPTH]
    (p,) = prepare_mcqs([mcq], None, retriever=Fixed(), k=1, query_mode="stem")
    assert [x.chunk_id for x in p.passages] == ["x"]
