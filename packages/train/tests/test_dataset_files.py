"""The one dataset reader: every format through every command that reads datasets.

merge-datasets (`load_source`), train-dpo (`load_preference_data`), train-mcqa
(`stemqa.train.mcqa.load_splits`) and eval-mcqa (`load_mcqs`) all read through
`stemqa.train.dataset_files`, so each layout is written once here and read by each of them. The
Hub is the only thing mocked (no network here): `datasets.load_dataset` is wrapped to record the
arguments a Hub id passes and to serve them from a folder laid out like the Hub repository.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import datasets
import pytest

from stemqa.train import dataset_files
from stemqa.train.dataset_files import DatasetError, load_split, load_splits, row_where
from stemqa.train.dpo_data import load_preference_data
from stemqa.train.mcqa_data import MCQDataError, load_mcqs
from stemqa.train.merge import SourceConfig, load_source

PAIRS = [
    {
        "prompt": f"What is {i} + {i}?",
        "chosen": f"It is {2 * i}.",
        "rejected": f"It is {2 * i + 1}.",
    }
    for i in range(6)
]
MCQS = [
    {
        "question": f"What is {i} + {i}?",
        "subject": "college_mathematics",
        "choices": [f"{2 * i - 1} apples", f"{2 * i} apples", f"{2 * i + 1} apples", "none"],
        "answer": 1,
    }
    for i in range(6)
]
FILE_FORMATS = ("jsonl", "ndjson", "json-array", "json-lines", "parquet", "csv")
FOLDER_FORMATS = ("saved-dataset", "saved-dict", "split-files", "hub-layout")


def _columns(rows: list[dict]) -> dict[str, list]:
    return {key: [r[key] for r in rows] for key in rows[0]}


def write_format(kind: str, rows: list[dict], folder: Path) -> Path:
    """`rows` in one of the layouts the reader accepts; returns the path to give a command."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    if kind in ("jsonl", "ndjson"):
        path = folder / f"data.{kind}"
        path.write_text(lines, encoding="utf-8")
    elif kind == "json-array":
        path = folder / "data.json"
        path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    elif kind == "json-lines":
        path = folder / "data.json"
        path.write_text(lines, encoding="utf-8")
    elif kind == "parquet":
        path = folder / "data.parquet"
        datasets.Dataset.from_dict(_columns(rows)).to_parquet(str(path))
    elif kind == "csv":  # a header row, then one row per record (lists as JSON text)
        path = folder / "data.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif kind == "saved-dataset":
        path = folder / "saved"
        datasets.Dataset.from_dict(_columns(rows)).save_to_disk(str(path))
    elif kind == "saved-dict":
        path = folder / "saved_dict"
        datasets.DatasetDict(
            {
                "train": datasets.Dataset.from_dict(_columns(rows[:4])),
                "test": datasets.Dataset.from_dict(_columns(rows[4:])),
            }
        ).save_to_disk(str(path))
    elif kind == "split-files":  # eval.* would be folded into "test" by datasets' own patterns
        path = folder / "splits"
        path.mkdir()
        (path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:4]))
        (path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[4:]))
    elif kind == "hub-layout":
        path = folder / "hub_repo"
        (path / "data").mkdir(parents=True)
        datasets.Dataset.from_dict(_columns(rows[:4])).to_parquet(
            str(path / "data" / "train-00000-of-00001.parquet")
        )
        datasets.Dataset.from_dict(_columns(rows[4:])).to_parquet(
            str(path / "data" / "test-00000-of-00001.parquet")
        )
    else:
        raise AssertionError(kind)
    return path


def _expected_train(kind: str, rows: list[dict]) -> list[dict]:
    return rows if kind in (*FILE_FORMATS, "saved-dataset") else rows[:4]


@pytest.mark.parametrize("kind", FILE_FORMATS + FOLDER_FORMATS)
def test_reader_reads_every_format(tmp_path: Path, kind: str) -> None:
    path = write_format(kind, PAIRS, tmp_path)
    train = load_split(path, "train", cache_dir=str(tmp_path / "cache"))
    assert train.to_list() == _expected_train(kind, PAIRS)
    splits = load_splits(path, cache_dir=str(tmp_path / "cache"))
    expected = {
        "saved-dict": ["train", "test"],
        "split-files": ["eval", "train"],
        "hub-layout": ["train", "test"],
    }.get(kind, ["train"])
    assert sorted(splits) == sorted(expected)


@pytest.mark.parametrize("kind", FILE_FORMATS + FOLDER_FORMATS)
def test_merge_datasets_reads_every_format(tmp_path: Path, kind: str) -> None:
    path = write_format(kind, PAIRS, tmp_path)
    loaded = load_source(SourceConfig(name="s", path=path), cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == len(_expected_train(kind, PAIRS))
    assert loaded.data["prompt"] == [r["prompt"] for r in _expected_train(kind, PAIRS)]


@pytest.mark.parametrize("kind", FILE_FORMATS + FOLDER_FORMATS)
def test_train_dpo_reads_every_format(tmp_path: Path, kind: str) -> None:
    path = write_format(kind, PAIRS, tmp_path)
    data = load_preference_data(str(path))
    assert data.splits["train"].to_list() == _expected_train(kind, PAIRS)
    if kind == "split-files":
        assert data.splits["eval"]["prompt"] == [r["prompt"] for r in PAIRS[4:]]
    if kind in ("saved-dict", "hub-layout"):
        assert len(data.splits["test"]) == 2


def _mcq_rows(kind: str) -> list[dict]:
    if kind != "csv":
        return MCQS
    # A CSV has no list cell: the header layout the MCQ commands read from CSV is GPQA's.
    return [
        {
            "Question": m["question"],
            "Correct Answer": m["choices"][1],
            "Incorrect Answer 1": m["choices"][0],
            "Incorrect Answer 2": m["choices"][2],
            "Incorrect Answer 3": m["choices"][3],
            "Record ID": f"rec{i}",
        }
        for i, m in enumerate(MCQS)
    ]


@pytest.mark.parametrize("kind", FILE_FORMATS + FOLDER_FORMATS)
def test_eval_mcqa_reads_every_format(tmp_path: Path, kind: str) -> None:
    path = write_format(kind, _mcq_rows(kind), tmp_path)
    mcqs = load_mcqs(path)
    expected = _expected_train(kind, MCQS)
    assert [m.question for m in mcqs] == [r["question"] for r in expected]
    assert all(m.choices[m.answer] == r["choices"][1] for m, r in zip(mcqs, expected, strict=True))
    if kind in ("saved-dict", "hub-layout"):
        assert [m.question for m in load_mcqs(path, split="test")] == [
            r["question"] for r in MCQS[4:]
        ]


@pytest.mark.parametrize("kind", FILE_FORMATS + FOLDER_FORMATS)
def test_train_mcqa_reads_every_format(tmp_path: Path, kind: str) -> None:
    from stemqa.train.mcqa import MCQAScriptArguments, load_splits

    path = write_format(kind, _mcq_rows(kind), tmp_path)
    args = MCQAScriptArguments(dataset_name=str(path), eval_fraction=0.5)
    splits = load_splits(args, 0)
    n_train = len(_expected_train(kind, MCQS))
    assert len(splits["train"]) + len(splits["eval"]) == n_train
    assert {m.question for m in splits["train"] + splits["eval"]} == {
        r["question"] for r in _expected_train(kind, MCQS)
    }


def test_hub_ids_pass_config_split_and_revision(tmp_path: Path, monkeypatch) -> None:
    """Hub access mocked: a Hub id is served from a Hub-layout folder; the arguments are real."""
    repo = write_format("hub-layout", PAIRS, tmp_path / "pairs")
    mcq_repo = write_format("hub-layout", MCQS, tmp_path / "mcqs")
    real = datasets.load_dataset
    calls: list[dict[str, Any]] = []

    def fake_hub(path, name=None, split=None, revision=None, cache_dir=None, **kw):
        calls.append({"path": path, "name": name, "split": split, "revision": revision})
        local = {"org/pairs": repo, "cais/mmlu": mcq_repo}.get(path, path)
        return real(str(local), split=split, cache_dir=cache_dir, **kw)

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    ds = load_split("org/pairs", "test", config="default", revision="abc123")
    assert ds["prompt"] == [r["prompt"] for r in PAIRS[4:]]
    assert calls[-1] == {
        "path": "org/pairs",
        "name": "default",
        "split": "test",
        "revision": "abc123",
    }
    src = SourceConfig(name="h", hub="org/pairs", split="train", revision="v1")
    assert load_source(src).num_rows == 4
    assert calls[-1] == {"path": "org/pairs", "name": None, "split": "train", "revision": "v1"}
    data = load_preference_data("org/pairs", config="default")
    assert sorted(data.splits) == ["test", "train"]
    assert calls[-1] == {"path": "org/pairs", "name": "default", "split": None, "revision": None}
    mcqs = load_mcqs("cais/mmlu:college_mathematics", split="test")
    assert [m.question for m in mcqs] == [r["question"] for r in MCQS[4:]]
    assert calls[-1]["name"] == "college_mathematics" and calls[-1]["split"] == "test"


def test_reader_error_is_the_commands_error_types() -> None:
    from stemqa.train.dpo_data import PreferenceDataError

    assert MCQDataError is DatasetError and PreferenceDataError is DatasetError
    assert issubclass(DatasetError, ValueError)


def test_row_where_names_the_line_or_row(tmp_path: Path) -> None:
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(json.dumps(PAIRS[0]) + "\n\n" + json.dumps(PAIRS[1]) + "\n")
    assert row_where(jsonl, "train", 1) == f"{jsonl}, line 3"  # the blank line counts
    path = write_format("csv", PAIRS, tmp_path / "c")
    assert row_where(path, "train", 0) == f"{path}, row 2"  # the header is row 1
    saved = write_format("saved-dict", PAIRS, tmp_path / "s")
    assert row_where(saved, "test", 1) == f"{saved} [test] row 2"
    splits = write_format("split-files", PAIRS, tmp_path / "f")
    assert row_where(splits, "eval", 0) == f"{splits / 'eval.jsonl'}, line 1"


def test_missing_split_and_empty_folder(tmp_path: Path) -> None:
    saved = write_format("saved-dict", PAIRS, tmp_path)
    with pytest.raises(DatasetError) as err:
        load_split(saved, "validation")
    assert str(err.value) == (
        f"{saved}: no split 'validation'; it has train, test: name one of those splits"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError) as err:
        load_splits(empty)
    assert str(err.value) == (
        f"{empty}: the folder holds no dataset files (.jsonl, .ndjson, .json, .parquet, .csv) "
        "and is not a save_to_disk folder"
    )


def test_utf8_check_finds_the_line_across_chunks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(dataset_files, "_CHUNK", 64)  # many chunks, a line split between two
    path = tmp_path / "big.jsonl"
    good = (json.dumps(PAIRS[0]) + "\n").encode()
    path.write_bytes(good * 40 + b'{"prompt": "na\xefve"}\n' + good)
    with pytest.raises(DatasetError) as err:
        dataset_files.check_utf8(path)
    assert str(err.value).startswith(f"{path}, line 41: not valid UTF-8 (byte 0xef at column 15)")
