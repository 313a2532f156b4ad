"""Every bad input file of issue 15 item 5, through every command that reads it.

Each case is a file a user could have, and the exact one line each command prints for it: the
file, the 1-based line (JSON Lines) or row (CSV as a spreadsheet shows it, JSON arrays), what is
wrong and what to do, and exit status 2, never a traceback. The message comes from the one
reader (`stemqa.train.dataset_files`) or the MCQ layouts (`stemqa.train.mcqa_data`), so it is the
same text in merge-datasets, train-dpo, train-mcqa and eval-mcqa, after each command's prefix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

PAIR = json.dumps({"prompt": "What is 2+2?", "chosen": "It is 4.", "rejected": "It is 5."})
PAIR2 = json.dumps({"prompt": "What is 3+3?", "chosen": "It is 6.", "rejected": "It is 7."})
COURSE = json.dumps({"question": "What is 2+2?\nA. 3\nB. 4", "answer": "B"})
COURSE2 = json.dumps({"question": "What is 3+3?\nA. 6\nB. 7", "answer": "A"})
HUB = json.dumps({"question": "What is 2+2?", "choices": ["3", "4"], "answer": 1})
GPQA_HEADER = "Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3"
CSV_ADVICE = (
    'a field is missing or an unquoted comma splits one (quote fields that contain commas: "a, b")'
)
UTF8_ADVICE = "save the file as UTF-8 (e.g. iconv -f cp1252 -t utf-8 IN > OUT)"
MIXED = "put every row of a file in one layout, or split the file by layout"


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    content: bytes
    message: str  # "{path}" is the file

    def write(self, folder: Path) -> Path:
        path = folder / self.file
        path.write_bytes(self.content)
        return path


def _b(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def _file_faults(ok: str, ok2: str, csv_header: str, csv_row: str) -> list[Case]:
    """Faults of the file itself, the same for preference pairs and MCQs."""
    n = csv_header.count(",") + 1
    cut = ok[:20].rindex(chr(34)) + 1  # the column of the quote the torn line leaves open
    return [
        Case(
            "invalid-utf8",
            "data.jsonl",
            _b(ok) + ok2.replace("?", "\u00e9?").encode("latin-1") + b"\n",
            f"{{path}}, line 2: not valid UTF-8 (byte 0xe9 at column {ok2.index('?') + 1}); "
            + UTF8_ADVICE,
        ),
        Case(
            "torn-jsonl-line",
            "data.jsonl",
            _b(ok, ok2, ok[:20]),
            "{path}, line 3: invalid JSON (Unterminated string starting at column "
            f"{cut}); fix or remove that line",
        ),
        Case(
            "ndjson-broken-line",
            "data.ndjson",
            _b(ok, "{not json}", ok2),
            "{path}, line 2: invalid JSON (Expecting property name enclosed in double quotes "
            "at column 2); fix or remove that line",
        ),
        Case(
            "line-not-an-object",
            "data.jsonl",
            _b(ok, ok2, '["a", "b"]'),
            '{path}, line 3: expected a JSON object {{...}} on each line, got a list (["a", "b"]); '
            "write one row object per line",
        ),
        Case(
            "array-element-not-an-object",
            "data.json",
            f'[{ok},\n {ok2},\n "third"]'.encode(),
            '{path}, row 3: expected an object {{...}} in the array, got a string ("third"); '
            "make every element a row object",
        ),
        Case(
            "json-array-syntax",
            "data.json",
            f"[{ok},\n {ok2}\n {ok}]".encode(),
            "{path}, line 3: invalid JSON (Expecting ',' delimiter at column 2); fix the file so "
            "it is one JSON array of row objects",
        ),
        Case(
            "csv-short-row",
            "data.csv",
            _b(csv_header, csv_row, csv_row.rsplit(",", 1)[0]),
            f"{{path}}, row 3: {n - 1} fields, but the header (row 1) has {n}; " + CSV_ADVICE,
        ),
        Case(
            "csv-long-row",
            "data.csv",
            _b(csv_header, csv_row, "Is 2+2, really, 4?," + csv_row.split(",", 1)[1]),
            f"{{path}}, row 3: {n + 2} fields, but the header (row 1) has {n}; " + CSV_ADVICE,
        ),
        Case(
            "csv-unclosed-quote",
            "data.csv",
            _b(csv_header, csv_row, '"What is 3+3?,' + csv_row.split(",", 1)[1]),
            "{path}, row 3 (line 3): bad CSV quoting (unexpected end of data); close the quote, "
            'or double a quote inside a quoted field ("")',
        ),
    ]


PAIR_CASES = _file_faults(PAIR, PAIR2, "prompt,chosen,rejected", "What is 2+2?,It is 4.,It is 5.")
MCQ_CASES = [
    *_file_faults(COURSE, COURSE2, GPQA_HEADER, "What is 2+2?,4,3,5,6"),
    Case(
        "mixed-layouts-hub-then-course",
        "mcq.jsonl",
        _b(HUB, HUB, COURSE),
        "{path}, line 3: no 'choices', so this row is not in the cais/mmlu layout (question, "
        f"choices, answer) of the first row; {MIXED}",
    ),
    Case(
        "mixed-layouts-course-then-hub",
        "mcq.jsonl",
        _b(COURSE, HUB),
        "{path}, line 2: no options in 'question' but a 'choices' field: this row is in the "
        f"cais/mmlu layout, unlike the file's first row (options in the question); {MIXED}",
    ),
    Case(
        "answer-outside-the-options",
        "mcq.jsonl",
        _b(COURSE, COURSE.replace('"B"', '"D"')),
        "{path}, line 2: answer 'D' points outside the 2 options (AB); give one of those "
        "letters, or add the missing options",
    ),
    Case(
        "mmlu-csv-short-row",
        "college_physics_test.csv",
        _b("Q1,a,b,c,d,A", "Q2,a,b,c,B"),
        "{path}, row 2: 5 fields, but row 1 has 6; " + CSV_ADVICE,
    ),
    Case(
        "mmlu-csv-7-columns",
        "college_physics_test.csv",
        _b("Q1,a,b,c,d,A", "Is 2+2, or 3+1, four?,a,b,c,d,B"),
        "{path}, row 2: 8 fields, but row 1 has 6; " + CSV_ADVICE,
    ),
    Case(
        "mmlu-csv-bad-letter",
        "college_physics_test.csv",
        _b("Q1,a,b,c,d,A", "Q2,a,b,c,d,Z"),
        "{path}, row 2: answer 'Z' is not a letter (ABCD) or an index; give the right "
        "option's letter",
    ),
]
# train-dpo checks rows as well as files (merge-datasets drops and counts such rows instead).
DPO_CASES = [
    *PAIR_CASES,
    Case(
        "empty-chosen",
        "data.jsonl",
        _b(PAIR, PAIR2.replace("It is 6.", "  ")),
        "{path}, line 2: 'chosen' is empty or not text (str: '  '); fix or remove that row",
    ),
]
CORRUPT_PARQUET = Case("corrupt-parquet", "data.parquet", b"PAR1 this is not parquet", "")


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


def _error_line(err: str, expected: str) -> None:
    """The expected line is printed, alone among stderr's non-empty lines that are not
    progress bars, and no traceback."""
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip() and "examples/s" not in ln]
    assert lines == [expected]


# --------------------------------------------------------------------------- merge-datasets


def _merge(tmp_path: Path, path: Path, capsys) -> tuple[int, str]:
    from stemqa.train.merge_cli import main

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump({"max_length": None, "sources": [{"name": "bad", "path": str(path)}]})
    )
    code = main(["--config", str(recipe), "--output_dir", str(tmp_path / "out"), "--no-progress"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", PAIR_CASES, ids=_ids(PAIR_CASES))
def test_merge_datasets(tmp_path: Path, case: Case, capsys) -> None:
    path = case.write(tmp_path)
    code, err = _merge(tmp_path, path, capsys)
    assert code == 2
    _error_line(err, "merge-datasets: error: source 'bad': " + case.message.format(path=path))
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- train-dpo / train-mcqa


def _train(main, tiny_model_dir: Path, path: Path, out: Path) -> int:
    return main(
        [
            "--model_name_or_path",
            str(tiny_model_dir),
            "--dataset_name",
            str(path),
            "--output_dir",
            str(out),
            "--use_cpu",
            "true",
            "--dtype",
            "float32",
            "--max_steps",
            "1",
            "--report_to",
            "none",
        ]
    )


@pytest.mark.parametrize("case", DPO_CASES, ids=_ids(DPO_CASES))
def test_train_dpo(tmp_path: Path, case: Case, tiny_model_dir: Path, capsys) -> None:
    from stemqa.train.dpo_cli import main

    path = case.write(tmp_path)
    assert _train(main, tiny_model_dir, path, tmp_path / "run") == 2
    _error_line(capsys.readouterr().err, "error: " + case.message.format(path=path))


@pytest.mark.parametrize("case", MCQ_CASES, ids=_ids(MCQ_CASES))
def test_train_mcqa(tmp_path: Path, case: Case, tiny_model_dir: Path, capsys) -> None:
    from stemqa.train.mcqa_cli import main

    path = case.write(tmp_path)
    assert _train(main, tiny_model_dir, path, tmp_path / "run") == 2
    _error_line(capsys.readouterr().err, "error: " + case.message.format(path=path))


# --------------------------------------------------------------------------- eval-mcqa


@pytest.mark.parametrize("case", MCQ_CASES, ids=_ids(MCQ_CASES))
def test_eval_mcqa(tmp_path: Path, case: Case, capsys) -> None:
    from stemqa.train.eval_cli import main

    path = case.write(tmp_path)
    argv = ["--model_name_or_path", "unused-data-fails-first", "--dataset_name", str(path)]
    assert main([*argv, "--output_path", str(tmp_path / "r.json"), "--no_progress"]) == 2
    _error_line(capsys.readouterr().err, "eval-mcqa: " + case.message.format(path=path))


# --------------------------------------------------------------------------- unparseable parquet


def test_corrupt_parquet_in_every_command(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    from stemqa.train.dpo_cli import main as dpo_main

    path = CORRUPT_PARQUET.write(tmp_path)
    code, err = _merge(tmp_path, path, capsys)
    assert code == 2
    line = f"{path}: not a readable parquet file ("
    advice = "); re-export it, e.g. with Dataset.to_parquet or pandas.DataFrame.to_parquet"
    (printed,) = [ln for ln in err.splitlines() if ln.strip()]
    assert printed.startswith("merge-datasets: error: source 'bad': " + line)
    assert printed.endswith(advice)
    assert _train(dpo_main, tiny_model_dir, path, tmp_path / "run") == 2
    (printed,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert printed.startswith("error: " + line) and printed.endswith(advice)


# --------------------------------------------------------------------------- the installed commands


def _command(name: str, *args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name(name)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_installed_commands_exit_2_with_one_line(tmp_path: Path) -> None:
    """The issue's two tracebacks, through the console scripts a user runs."""
    utf8 = PAIR_CASES[0].write(tmp_path)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump({"max_length": None, "sources": [{"name": "bad", "path": str(utf8)}]})
    )
    done = _command(
        "merge-datasets",
        "--config",
        str(recipe),
        "--output_dir",
        str(tmp_path / "o"),
        "--no-progress",
    )
    assert done.returncode == 2, done.stderr
    _error_line(
        done.stderr,
        "merge-datasets: error: source 'bad': " + PAIR_CASES[0].message.format(path=utf8),
    )

    torn = tmp_path / "mmlu.jsonl"
    torn.write_bytes(_b(HUB, HUB[:25]))
    done = _command(
        "eval-mcqa", "--model_name_or_path", "unused", "--dataset_name", str(torn),
        "--output_path", str(tmp_path / "r.json"), "--no_progress",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    _error_line(
        done.stderr,
        f"eval-mcqa: {torn}, line 2: invalid JSON (Unterminated string starting at column 14); "
        "fix or remove that line",
    )
