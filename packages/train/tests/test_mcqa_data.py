"""MCQ loaders on real MMLU CSVs and on files written with the exact Hub/GPQA/course schemas."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from stemqa.core import MCQ
from stemqa.train.mcqa_data import (
    COURSE_SUBJECTS,
    MCQDataError,
    detect_format,
    gpqa_order,
    load_gpqa,
    load_mcqs,
    load_mmlu_csv,
    write_mcqs_jsonl,
)

DATA = Path(__file__).parent / "data"
MMLU_DIR = Path(__file__).resolve().parents[3] / "tests" / "data" / "mmlu"
EXPECTED_ROWS = {
    "college_computer_science": 100,
    "college_physics": 102,
    "college_mathematics": 100,
    "machine_learning": 112,
    "high_school_physics": 151,
    "conceptual_physics": 235,
}


def test_real_mmlu_csvs_row_counts_and_subjects() -> None:
    mcqs = load_mcqs(MMLU_DIR)
    assert Counter(m.subject for m in mcqs) == EXPECTED_ROWS
    assert len(mcqs) == 800
    assert all(len(m.choices) == 4 and m.answer in range(4) for m in mcqs)
    # every answer letter in the file survives the round trip
    for name in EXPECTED_ROWS:
        with (MMLU_DIR / f"{name}_test.csv").open(newline="") as handle:
            letters = [row[-1].strip() for row in csv.reader(handle)]
        assert [m.answer_letter for m in mcqs if m.subject == name] == letters


def test_real_mmlu_multiline_quotes_and_latex() -> None:
    ccs = load_mmlu_csv(MMLU_DIR / "college_computer_science_test.csv")
    multiline = [m for m in ccs if "\n" in m.question]
    assert len(multiline) == 34  # quoted newlines stay inside one question
    assert all("\r" not in m.question for m in ccs)
    assert ccs[2].question.startswith("In the NoNicks operating system")
    assert "disk latency time-8 msec\n" in ccs[2].question
    magic = next(m for m in ccs if "Magic memory" in m.question)
    assert magic.question.startswith('"Magic memory"\'')  # doubled quotes unescaped
    ml = load_mmlu_csv(MMLU_DIR / "machine_learning_test.csv")
    assert any("$\\ell_2$" in m.question for m in ml)


def test_subject_filters_and_groups() -> None:
    physics = load_mcqs(MMLU_DIR, subjects=["college_physics", "High School Physics"])
    assert Counter(m.subject for m in physics) == {
        "college_physics": 102,
        "high_school_physics": 151,
    }
    assert len(load_mcqs(MMLU_DIR, subjects=["course"])) == 800
    assert set(COURSE_SUBJECTS) == set(EXPECTED_ROWS)
    with pytest.raises(MCQDataError, match="no questions left"):
        load_mcqs(MMLU_DIR, subjects=["astronomy"])


def test_malformed_csv_row_names_file_and_row(tmp_path: Path) -> None:
    bad = tmp_path / "college_physics_test.csv"
    bad.write_text('"Q1",a,b,c,d,A\n"Q2",a,b,c,d,Z\n')
    with pytest.raises(MCQDataError, match=r"college_physics_test\.csv, row 2.*'Z'"):
        load_mcqs(bad)


def _hub_rows() -> dict[str, list]:
    return {
        "question": ["What is 1+1?", "Unit of force?", "Big-O of binary search?"],
        "subject": ["college_mathematics", "college_physics", "college_computer_science"],
        "choices": [
            ["1", "2", "3", "4"],
            ["joule", "newton", "watt", "pascal"],
            ["O(n)", "O(1)", "O(log n)", "O(n log n)"],
        ],
        "answer": [1, 1, 2],
    }


def test_mmlu_hub_schema_parquet_and_jsonl(tmp_path: Path) -> None:
    from datasets import ClassLabel, Dataset, Features, List, Value

    features = Features(
        {
            "question": Value("string"),
            "subject": Value("string"),
            "choices": List(Value("string")),
            "answer": ClassLabel(names=["A", "B", "C", "D"]),
        }
    )
    ds = Dataset.from_dict(_hub_rows(), features=features)
    parquet = tmp_path / "mmlu.parquet"
    ds.to_parquet(str(parquet))
    jsonl = tmp_path / "mmlu.jsonl"
    ds.to_json(str(jsonl))
    for path in (parquet, jsonl):
        assert detect_format(path) == "mmlu-hub"
        mcqs = load_mcqs(path)
        assert [m.answer_letter for m in mcqs] == ["B", "B", "C"]
        assert mcqs[1].choices == ("joule", "newton", "watt", "pascal")
        assert mcqs[2].subject == "college_computer_science"
        assert [m.question for m in load_mcqs(path, subjects=["college_physics"])] == [
            "Unit of force?"
        ]


def test_hub_id_unreachable_gives_actionable_error() -> None:
    with pytest.raises(
        MCQDataError, match=r"^cais/mmlu: cannot load it from the Hugging Face Hub.*local path$"
    ):
        load_mcqs("cais/mmlu:college_physics")


def test_gpqa_shuffle_is_deterministic_and_keeps_answer() -> None:
    path = DATA / "gpqa_sample.csv"
    assert detect_format(path) == "gpqa"
    first = load_gpqa(path, seed=0)
    again = load_gpqa(path, seed=0)
    assert first == again
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(first) == len(rows) == 6
    for mcq, row in zip(first, rows, strict=True):
        assert mcq.choices[mcq.answer] == row["Correct Answer"].strip()
        assert sorted(mcq.choices) == sorted(
            row[c].strip()
            for c in (
                "Correct Answer",
                "Incorrect Answer 1",
                "Incorrect Answer 2",
                "Incorrect Answer 3",
            )
        )
    # the right answer does not always sit at A any more, and a seed changes the orders
    assert len({m.answer for m in first}) > 1
    assert [m.choices for m in load_gpqa(path, seed=1)] != [m.choices for m in first]
    # keyed by the question's Record ID, not its row: filtering keeps each question's order
    physics = load_gpqa(path, seed=0, subjects=["physics"])
    assert {m.source.split(":")[-1] for m in physics} == {
        "recPHY001",
        "recPHY002",
        "recPHY003",
        "recPHY004",
    }
    by_source = {m.source: m for m in first}
    assert all(by_source[m.source] == m for m in physics)
    assert gpqa_order("recPHY001", 4, 0) == gpqa_order("recPHY001", 4, 0)
    # subdomains filter too, and multi-line questions survive the csv reader
    qm = load_gpqa(path, subjects=["quantum mechanics"])
    assert len(qm) == 2 and "\n" in qm[0].question


def test_course_jsonl_with_embedded_options() -> None:
    path = DATA / "course_mcqa_sample.jsonl"
    assert detect_format(path) == "course"
    mcqs = load_mcqs(path)
    assert [m.answer_letter for m in mcqs] == ["C", "B", "C"]
    assert mcqs[0].question.startswith("A ball is dropped")
    assert not mcqs[0].question.lower().startswith("question:")
    assert mcqs[0].choices == ("4.9 m/s", "9.8 m/s", "19.6 m/s", "39.2 m/s")
    assert mcqs[2].choices[2] == "L2 regularization"
    assert [m.subject for m in load_mcqs(path, subjects=["machine_learning"])] == [
        "machine_learning"
    ]


def test_generic_prompt_answer_jsonl() -> None:
    mcqs = load_mcqs(DATA / "prompt_answer_sample.jsonl")
    # answer as option text, as an index, and as a letter; 3, 5 and 2 options
    assert [(len(m.choices), m.answer_letter) for m in mcqs] == [(3, "B"), (5, "C"), (2, "B")]
    assert mcqs[1].choices[2] == "Carbon dioxide"


def test_bad_jsonl_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    rows = [
        {"question": "Q?\nA. x\nB. y", "answer": "A"},
        {"question": "Q?\nA. x\nB. y", "answer": "D"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(MCQDataError, match=r"bad\.jsonl, line 2.*outside the 2 options"):
        load_mcqs(path)
    path.write_text('{"question": "Q?\\nA. x\\nB. y", "answer": "A"}\n{not json}\n')
    with pytest.raises(MCQDataError, match=r"bad\.jsonl, line 2: invalid JSON"):
        load_mcqs(path)


def test_write_then_reload_roundtrip(tmp_path: Path) -> None:
    mcqs = load_mcqs(MMLU_DIR, subjects=["college_physics"], limit=5)
    path = write_mcqs_jsonl(mcqs, tmp_path / "out.jsonl")
    again = load_mcqs(path)
    assert [(m.question, m.choices, m.answer, m.subject) for m in again] == [
        (m.question, m.choices, m.answer, m.subject) for m in mcqs
    ]
    assert all(isinstance(m, MCQ) for m in again)
