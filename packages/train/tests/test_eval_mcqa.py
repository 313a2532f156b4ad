"""eval-mcqa on the tiny model and real MMLU questions: metrics, lm-eval-harness equivalence,
generate/invalid accounting, few-shot prompts, and closed-book vs retrieved context."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from stemqa.core import MCQ, Passage
from stemqa.core.answering import pick_shots, prepare_mcqs
from stemqa.core.scoring import letter_token_ids
from stemqa.train.eval_mcqa import (
    CLOSED_BOOK,
    WITH_CONTEXT,
    evaluate_mcqa,
    wilson_interval,
    write_results,
)
from stemqa.train.mcqa_data import load_mcqs

MMLU_DIR = Path(__file__).resolve().parents[3] / "tests" / "data" / "mmlu"


@pytest.fixture(scope="module")
def tiny(tiny_cpu):
    return tiny_cpu


@pytest.fixture(scope="module")
def questions() -> list[MCQ]:
    physics = load_mcqs(MMLU_DIR, subjects=["college_physics"], limit=12)
    ml = load_mcqs(MMLU_DIR, subjects=["machine_learning"], limit=12)
    return physics + ml


def test_wilson_interval_reference_values() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0 and 0.1 < wilson_interval(0, 20)[1] < 0.2
    assert wilson_interval(20, 20)[1] == pytest.approx(1.0)


def test_logits_match_lm_eval_harness_loglikelihood(tiny, questions) -> None:
    """Batched, left-padded scoring picks what lm-eval's per-request loglikelihood of ' A', ' B'…
    after the same prompt picks: one unpadded forward pass per question."""
    model, tokenizer = tiny
    result = evaluate_mcqa(model, tokenizer, questions, batch_size=5, progress=False)
    closed = result.conditions[CLOSED_BOOK]
    prompts = [p.prompt for p in prepare_mcqs(questions, tokenizer)]
    ids = letter_token_ids(tokenizer, "ABCD")
    for prompt, pred in zip(prompts, closed.predictions, strict=True):
        enc = tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(**enc).logits[0, -1].float(), dim=-1)
        option_lp = logprobs[ids]
        assert pred.predicted == "ABCD"[int(option_lp.argmax())]
        assert pred.mass == pytest.approx(float(option_lp.exp().sum()), rel=1e-3)
        assert pred.probs["A"] == pytest.approx(float(torch.softmax(option_lp, 0)[0]), abs=1e-4)
    # metrics are consistent with the predictions
    assert closed.overall.n == 24 and set(closed.subjects) == {
        "college_physics",
        "machine_learning",
    }
    assert closed.overall.correct == sum(p.predicted == p.answer for p in closed.predictions)
    assert closed.overall.invalid == 0
    assert closed.subjects["college_physics"].n == 12
    assert 0 <= closed.overall.ci_low <= closed.overall.accuracy <= closed.overall.ci_high <= 1


def test_generate_counts_invalid_answers(tiny, questions, tmp_path: Path) -> None:
    model, tokenizer = tiny
    result = evaluate_mcqa(
        model,
        tokenizer,
        questions[:8],
        method="generate",
        batch_size=8,
        max_new_tokens=4,
        progress=False,
    )
    cond = result.conditions[CLOSED_BOOK]
    assert all(p.raw is not None and p.mass is None for p in cond.predictions)
    invalid = [p for p in cond.predictions if p.predicted is None]
    assert cond.overall.invalid == len(invalid)
    assert not any(p.correct for p in invalid)
    assert cond.overall.mean_mass is None
    json_path, md_path = write_results(result, tmp_path / "gen.json")
    data = json.loads(json_path.read_text())
    assert data["method"] == "generate"
    assert len(data["conditions"][CLOSED_BOOK]["predictions"]) == 8
    assert "| **overall** | 8 |" in md_path.read_text()


def test_shots_come_from_same_subject_never_the_question(questions) -> None:
    target = questions[0]
    shots = pick_shots(target, questions, 3)
    assert len(shots) == 3
    assert all(s.subject == target.subject and s != target for s in shots)
    prompts = [p.prompt for p in prepare_mcqs([target], None, shots=3, shot_pool=questions)]
    assert prompts[0].count("\nAnswer: ") == 3  # three solved examples, then "Answer:"
    assert prompts[0].endswith(target.choices[-1] + "\nAnswer:")


class KeywordRetriever:
    """A small, real retriever: ranks passages by shared words with the query."""

    def __init__(self, passages: dict[str, str]):
        self.passages = passages
        self.queries: list[str] = []

    @staticmethod
    def _words(text: str) -> set[str]:
        return set(re.findall(r"[a-z]{3,}", text.lower()))

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        self.queries.append(query)
        q = self._words(query)
        ranked = sorted(self.passages.items(), key=lambda kv: -len(q & self._words(kv[1])))
        return [
            Passage(text=text, source=name, page=0, score=float(len(q & self._words(text))))
            for name, text in ranked[:k]
        ]


def test_rag_side_by_side(tiny, questions, tmp_path: Path) -> None:
    model, tokenizer = tiny
    retriever = KeywordRetriever(
        {
            "optics.pdf": "Thin film interference: light reflected from oil on water interferes.",
            "lasers.pdf": "A dye laser is tunable over a range of visible wavelengths.",
            "ml.pdf": "L2 regularization reduces variance and increases bias of linear regression.",
            "thermo.pdf": "In a reversible process the entropy of system plus environment is unchanged.",
        }
    )
    subset = questions[:4] + questions[12:14]
    result = evaluate_mcqa(
        model, tokenizer, subset, retriever=retriever, k=2, query_mode="stem", progress=False
    )
    assert set(result.conditions) == {CLOSED_BOOK, WITH_CONTEXT}
    assert retriever.queries == [m.question for m in subset]  # the stem, not the options
    closed, rag = result.conditions[CLOSED_BOOK], result.conditions[WITH_CONTEXT]
    assert all(len(p.passages) == 2 for p in rag.predictions)
    assert all(not p.passages for p in closed.predictions)
    top = [p.passages[0] for p in rag.predictions]
    assert top[1]["citation"] == "optics.pdf p. 1"  # oil film on a puddle
    assert top[2]["citation"] == "thermo.pdf p. 1"  # reversible process
    assert top[3]["citation"] == "lasers.pdf p. 1"  # spectroscopy laser
    assert top[1]["page"] == 0 and top[1]["page_number"] == 1
    prepared = prepare_mcqs(subset, tokenizer, retriever=retriever, k=2, query_mode="stem")
    prompts = [p.prompt for p in prepared]
    assert prompts[3].startswith("Considering this context: A dye laser is tunable")
    assert "Output one letter only corresponding to the correct answer" in prompts[3]
    # retrieved context changes what the model sees, hence its letter probabilities
    assert [p.probs for p in rag.predictions] != [p.probs for p in closed.predictions]
    md = result.to_markdown()
    assert "closed-book % [95% CI] | with context % [95% CI] | Δ pts" in md
    data = result.to_dict(predictions=False)
    assert data["k"] == 2 and data["n_questions"] == 6
    assert set(data["conditions"]) == {CLOSED_BOOK, WITH_CONTEXT}


def test_cli_errors_are_actionable(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    from stemqa.train.eval_cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Q?\\nA. x\\nB. y", "answer": "Q"}\n')
    model = ["--model_name_or_path", str(tiny_model_dir)]
    assert main([*model, "--dataset_name", str(bad)]) == 2
    assert "bad.jsonl, line 1" in capsys.readouterr().err
    argv = [*model, "--dataset_name", str(MMLU_DIR / "college_physics_test.csv")]
    argv += ["--index", str(tmp_path), "--retriever_kind", "no-such-kind"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no-such-kind" in err and "stemqa.retrievers" in err


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("--model", "--model_name_or_path"),
        ("--data", "--dataset_name"),
        ("--rag-index", "--index"),
        ("--out", "--output_path"),
    ],
)
def test_renamed_flags_name_their_new_spelling(old: str, new: str, capsys) -> None:
    from stemqa.train.eval_cli import main

    with pytest.raises(SystemExit) as exc:
        main([old, "x"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"eval-mcqa: {old} was renamed to {new}; use {new}"


def test_dashed_aliases_of_the_snake_case_flags_work(tiny_model_dir: Path, tmp_path: Path) -> None:
    """TRL's parser accepts --batch-size for --batch_size; ours does the same."""
    from stemqa.train.eval_cli import build_parser

    args = build_parser().parse_args(
        ["--model-name-or-path", "m", "--dataset-name", "d", "--batch-size", "3", "--k", "2"]
    )
    assert (args.model_name_or_path, args.dataset_name, args.batch_size) == ("m", ["d"], 3)


def test_question_longer_than_window_names_itself(tiny, questions) -> None:
    from stemqa.core import PromptTooLongError

    model, tokenizer = tiny
    with pytest.raises(PromptTooLongError, match=r"college_physics_test\.csv:1"):
        evaluate_mcqa(model, tokenizer, questions[:2], max_tokens=20, progress=False)
