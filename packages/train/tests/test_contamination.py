"""check-contamination on constructed data: exactly the planted overlaps, no paraphrase, none missed.

Eval questions are real MMLU rows (tests/data/mmlu); training data are preference jsonl files,
a merge-datasets-style DatasetDict folder and a course-layout MCQ jsonl, read through the
package's own loaders.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import datasets
import pytest

from stemqa.train.contamination import (
    ContaminationError,
    NgramIndex,
    check_contamination,
    normalize_tokens,
    question_text,
    read_contaminated_ids,
    write_report,
)
from stemqa.train.contamination_cli import main
from stemqa.train.mcqa_data import load_mcqs

REPO = Path(__file__).resolve().parents[3]
MMLU = REPO / "tests" / "data" / "mmlu" / "college_physics_test.csv"
FILLER = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "the",
    "physicist",
    "writes",
    "notes",
]


def _filler(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(words))


def _paraphrase(text: str) -> str:
    """One (normalized) word changed every 10 words: no 13-token window survives intact."""
    words = normalize_tokens(text)
    return " ".join("altered" if i % 10 == 9 else w for i, w in enumerate(words))


def _unique(mcqs, count: int, min_tokens: int = 25):
    """Questions sharing no 13-gram with another eval question (MMLU has near-duplicates, e.g.
    college_physics rows 1 and 34 share their stem), so each planted copy has one owner."""
    out = []
    for i, m in enumerate(mcqs):
        if len(normalize_tokens(m.question)) < min_tokens:
            continue
        others = NgramIndex({"rest": mcqs[:i] + mcqs[i + 1 :]})
        if not others.contaminated([(question_text(m),)])[0]:
            out.append(m)
        if len(out) == count:
            return out
    raise AssertionError("not enough distinct questions")


@pytest.fixture(scope="module")
def eval_mcqs():
    return load_mcqs(MMLU)


@pytest.fixture(scope="module")
def planted(tmp_path_factory, eval_mcqs):
    """A preference jsonl with three planted copies and one paraphrase; returns (path, truth)."""
    rng = random.Random(0)
    a, b, c, d = _unique(eval_mcqs, 4)
    rows = []
    for i in range(40):
        rows.append(
            {
                "prompt": _filler(rng, 30) + f" row {i}?",
                "chosen": _filler(rng, 60),
                "rejected": _filler(rng, 50),
            }
        )
    # row 5: a whole question with its options pasted inside a chosen response
    rows[4]["chosen"] = f"Sure. {question_text(a)}\nThe answer is B. " + rows[4]["chosen"]
    # row 12: only the stem, in the prompt, with different case and punctuation
    rows[11]["prompt"] = "Q: " + b.question.upper().replace(",", " ;") + " Explain."
    # row 30: a rejected response quoting question c
    rows[29]["rejected"] = rows[29]["rejected"] + " -- " + c.question
    # row 20: a paraphrase of d (one word in ten changed) must NOT match
    rows[19]["chosen"] = _paraphrase(question_text(d))
    path = tmp_path_factory.mktemp("train") / "mix.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    truth = {(a.source, 5, "chosen"), (b.source, 12, "prompt"), (c.source, 30, "rejected")}
    return path, truth, d


def test_finds_exactly_the_planted_overlaps(planted) -> None:
    path, truth, paraphrased = planted
    report = check_contamination([str(path)], [str(MMLU)])
    found = {(o.eval_id, o.row, o.field) for o in report.overlaps}
    assert found == truth
    assert paraphrased.source not in report.contaminated_ids()
    assert report.matrix() == {str(path): {str(MMLU): 3}}
    stem_hit = next(o for o in report.overlaps if o.row == 12)
    assert stem_hit.span.startswith(" ".join(normalize_tokens(stem_hit.span)[:5]))
    assert stem_hit.span_tokens >= 25  # the whole stem, not just one 13-gram


def test_paraphrase_matches_at_smaller_n(planted) -> None:
    """Sanity check that the paraphrase test has teeth: at n=8 windows fit between changes."""
    path, _, paraphrased = planted
    report = check_contamination([str(path)], [str(MMLU)], n=8)
    assert paraphrased.source in report.contaminated_ids()


def test_merge_output_folder_reports_per_mix_source(tmp_path, eval_mcqs) -> None:
    (q,) = _unique(eval_mcqs, 1)

    def split(rows):
        return datasets.Dataset.from_dict(
            {k: [r[k] for r in rows] for k in ("prompt", "chosen", "rejected", "source")}
        )

    clean = {"prompt": "hello there", "chosen": "fine answer", "rejected": "bad answer"}
    train = [dict(clean, source="intel"), dict(clean, source="m1"), dict(clean, source="m1")]
    train[2]["chosen"] = "as asked: " + q.question
    folder = tmp_path / "mix"
    datasets.DatasetDict(
        {"train": split(train), "test": split([dict(clean, source="intel")])}
    ).save_to_disk(str(folder))
    report = check_contamination([str(folder)], [str(MMLU)])
    assert set(report.train_sources) == {
        f"{folder}[train] intel",
        f"{folder}[train] m1",
        f"{folder}[test] intel",
    }
    (overlap,) = report.overlaps
    assert (overlap.train_source, overlap.row, overlap.eval_id) == (
        f"{folder}[train] m1",
        3,  # 1-based row in the train split, not within the m1 rows
        q.source,
    )


def test_mcq_training_data_and_short_questions(tmp_path, eval_mcqs) -> None:
    (q,) = _unique(eval_mcqs, 1)
    course = tmp_path / "course.jsonl"
    options = "\n".join(f"{'ABCD'[i]}. {c}" for i, c in enumerate(q.choices))
    course.write_text(
        json.dumps({"question": f"{q.question}\nOptions:\n{options}", "answer": "A"})
        + "\n"
        + json.dumps({"question": "What is 2+2?\nOptions:\nA. 3\nB. 4", "answer": "B"})
        + "\n"
    )
    report = check_contamination([str(course)], [str(MMLU), str(course)])
    assert {(o.eval_set, o.eval_id, o.row) for o in report.overlaps} == {
        (str(MMLU), q.source, 1),
        (str(course), f"{course}:1", 1),
    }
    # "What is 2+2? 3 4" has 6 tokens: too short to check at n = 13, and said so
    assert report.eval_sets[str(course)].too_short == 1
    assert report.eval_sets[str(course)].checked == 1


def test_index_contaminated_rows(eval_mcqs) -> None:
    index = NgramIndex({"mmlu": eval_mcqs})
    q = eval_mcqs[0]
    rows = [("clean prompt", "clean answer"), ("x", question_text(q)), ("", "")]
    assert index.contaminated(rows) == [False, True, False]


def test_cli_table_json_and_errors(tmp_path, planted, capsys) -> None:
    path, truth, _ = planted
    out = tmp_path / "report.json"
    assert (
        main(
            ["--train", str(path), "--eval", str(MMLU), "--output_path", str(out), "--no-progress"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "Overlaps (3" in printed and "row 5 (chosen)" in printed
    assert read_contaminated_ids(out) == {t[0] for t in truth}
    data = json.loads(out.read_text())
    assert data["n"] == 13 and len(data["overlaps"]) == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("only,two\n")
    assert main(["--train", str(path), "--eval", str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.csv, row 1" in err[0]
    assert main(["--train", str(tmp_path / "missing.jsonl"), "--eval", str(MMLU)]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the team's vocabulary: --out was renamed
        main(["--train", str(path), "--eval", str(MMLU), "--out", str(out)])
    assert "--out was renamed to --output_path" in capsys.readouterr().err


def test_read_report_rejects_other_json(tmp_path) -> None:
    other = tmp_path / "x.json"
    other.write_text("{}")
    with pytest.raises(ContaminationError, match="not a check-contamination report"):
        read_contaminated_ids(other)
    assert write_report  # used by the CLI test
