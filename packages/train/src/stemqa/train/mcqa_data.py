"""Load multiple-choice questions from the layouts people actually have into core's `MCQ`.

Every loader ends in the same record type so that evaluation, training and the app never care
where a question came from. Layouts:

* ``mmlu-hub``  — the Hub's ``cais/mmlu`` schema (``question``, ``subject``, ``choices``,
  ``answer`` as an int), from the Hub or from a local parquet/jsonl/json file with that schema.
* ``mmlu-csv``  — the original MMLU release: one ``<subject>_<split>.csv`` per subject, no
  header, ``question, A, B, C, D, answer-letter``, RFC-4180 quoting (multi-line questions).
  A file or a folder of such files.
* ``gpqa``      — ``Idavidrein/gpqa`` (``Question``, ``Correct Answer``, ``Incorrect Answer 1-3``,
  ``High-level domain``, ``Subdomain``, ``Record ID``). The correct answer always sits in the
  same column, so the options are shuffled with a seeded RNG per question (see `gpqa_order`).
* ``course``    — the course's jsonl: the question embeds its options after ``Options:`` and the
  answer is a letter.
* ``jsonl``     — any prompt/answer jsonl: the prompt embeds the options, the answer is a letter,
  an index or the text of the right option.

Files are read through the one reader, `stemqa.train.dataset_files`, so errors name the file
(or dataset id) and the 1-based line (jsonl) or row (csv, json arrays, parquet, Hub), say what is
wrong and what to do, and a bad row can be fixed in place.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from stemqa.core import LETTERS, MCQ
from stemqa.train.dataset_files import (
    EXTENSION_FORMATS,
    DatasetError,
    Row,
    check_utf8,
    csv_header,
    iter_csv_rows,
    iter_json_rows,
    load_split,
    read_rows,
    saved_dataset_kind,
)

FORMATS = ("auto", "mmlu-hub", "mmlu-csv", "gpqa", "course", "jsonl")

MMLU_HUB_ID = "cais/mmlu"
GPQA_HUB_ID = "Idavidrein/gpqa"

#: The course's MCQA subjects, and MMLU's STEM category (Hendrycks et al., 2021, appendix).
COURSE_SUBJECTS = (
    "college_computer_science",
    "college_physics",
    "college_mathematics",
    "machine_learning",
    "high_school_physics",
    "conceptual_physics",
)
MMLU_STEM_SUBJECTS = (
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "electrical_engineering",
    "elementary_mathematics",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_mathematics",
    "high_school_physics",
    "high_school_statistics",
    "machine_learning",
)
#: Names usable in a subject filter that stand for several subjects.
SUBJECT_GROUPS: dict[str, tuple[str, ...]] = {
    "course": COURSE_SUBJECTS,
    "stem": MMLU_STEM_SUBJECTS,
}

_MMLU_CSV_SUFFIX = re.compile(r"_(test|dev|val|validation|train|auxiliary_train)$")
_GPQA_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1")
_QUESTION_KEYS = ("question", "prompt", "input", "query")
_ANSWER_KEYS = ("answer", "label", "target", "output", "gold")


#: A dataset row or file that cannot become an MCQ; the message names the file and 1-based line
#: or row. The reader's own error, so eval-mcqa and train-mcqa report both the same way.
MCQDataError = DatasetError


def normalize_subject(name: str) -> str:
    """'College Physics' / 'college-physics' -> 'college_physics', so filters match any spelling."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def expand_subjects(subjects: Iterable[str] | None) -> frozenset[str] | None:
    """Normalize a subject filter; group names ('stem', 'course') expand to their members."""
    if subjects is None:
        return None
    out: set[str] = set()
    for raw in subjects:
        for part in str(raw).split(","):
            name = normalize_subject(part)
            if not name:
                continue
            out.update(SUBJECT_GROUPS.get(name, (name,)))
    return frozenset(out) if out else None


def _keep(mcq: MCQ, wanted: frozenset[str] | None, *aliases: str | None) -> bool:
    if wanted is None:
        return True
    names = {normalize_subject(n) for n in (mcq.subject, *aliases) if n}
    return bool(names & wanted)


def _letter_to_index(value: Any, n_choices: int, where: str) -> int:
    """Accept 'B', 'b', ' B ', 'B.', '(B)', 1 and '1' (an index) for the second option."""
    if isinstance(value, bool):
        raise MCQDataError(f"{where}: answer {value!r} is a boolean, expected a letter or index")
    if isinstance(value, int):
        index = value
    else:
        text = str(value).strip().strip("().").strip()
        if len(text) == 1 and text.upper() in LETTERS:
            index = LETTERS.index(text.upper())
        elif text.isdigit():
            index = int(text)
        else:
            raise MCQDataError(
                f"{where}: answer {value!r} is not a letter ({LETTERS[:n_choices]}) or an index; "
                "give the right option's letter"
            )
    if n_choices == 0:
        raise MCQDataError(
            f"{where}: the row has no options; give it its options before the answer"
        )
    if not 0 <= index < n_choices:
        raise MCQDataError(
            f"{where}: answer {value!r} points outside the {n_choices} options "
            f"({LETTERS[:n_choices]}); give one of those letters, or add the missing options"
        )
    return index


# --------------------------------------------------------------------------- MMLU, original CSVs


def mmlu_subject_from_filename(path: Path) -> str:
    """'college_physics_test.csv' -> 'college_physics' (the original release names files so)."""
    return _MMLU_CSV_SUFFIX.sub("", path.stem)


def load_mmlu_csv(
    path: str | Path, *, subjects: Iterable[str] | None = None, subject: str | None = None
) -> list[MCQ]:
    """Read one original-layout MMLU CSV or every ``*.csv`` in a folder (sorted, stable order).

    The stdlib csv reader is used because the files are RFC-4180 (quoted newlines, doubled
    quotes); a naive line split breaks multi-line questions.
    """
    path = Path(path)
    wanted = expand_subjects(subjects)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise MCQDataError(f"{path}: folder has no MMLU *.csv files")
        out: list[MCQ] = []
        for file in files:
            name = mmlu_subject_from_filename(file)
            if wanted is not None and normalize_subject(name) not in wanted:
                continue
            out.extend(load_mmlu_csv(file))
        return out
    name = subject or mmlu_subject_from_filename(path)
    if wanted is not None and normalize_subject(name) not in wanted:
        return []
    out = []
    check_utf8(path)
    for row_no, row in iter_csv_rows(path, header=False):
        where = f"{path}, row {row_no}"
        if len(row) < 4:
            raise MCQDataError(
                f"{where}: {len(row)} fields; an MMLU csv row is 'question, option..., "
                "answer-letter' (at least 4 fields, 6 in the original release)"
            )
        question, *choices, answer = row
        out.append(
            _make_mcq(
                question,
                choices,
                _letter_to_index(answer, len(choices), where),
                subject=name,
                source=f"{path.name}:{row_no}",
                where=where,
            )
        )
    return out


def _clean(text: Any) -> str:
    """Strip, and turn the CSVs' Windows line ends into '\\n' so prompts tokenize the same."""
    return str(text).replace("\r\n", "\n").replace("\r", "\n").strip()


def _make_mcq(
    question: str,
    choices: Sequence[Any],
    answer: int | None,
    *,
    subject: str | None,
    source: str,
    where: str,
) -> MCQ:
    try:
        return MCQ(
            question=_clean(question),
            choices=tuple(_clean(c) for c in choices),
            answer=answer,
            subject=subject,
            source=source,
        )
    except (TypeError, ValueError) as exc:
        raise MCQDataError(f"{where}: {exc}") from exc


# --------------------------------------------------------------------------- Hub / datasets


def _load_rows(
    source: str | Path, *, config: str | None = None, split: str | None = None
) -> tuple[str, Iterable[Row]]:
    """A label for MCQ sources and the rows of a local file or a Hub dataset, via the reader."""
    path = Path(source)
    if path.is_file() and path.suffix.lower() not in EXTENSION_FORMATS:
        raise MCQDataError(
            f"{path}: unknown file type {path.suffix!r}; use .parquet, .jsonl, .ndjson, .json "
            "or .csv"
        )
    return read_rows(source, split=split, config=config)


_MIXED_LAYOUT = "put every row of a file in one layout, or split the file by layout"


def mmlu_rows_to_mcqs(
    rows: Iterable[Row], *, label: str, subjects: Iterable[str] | None = None
) -> list[MCQ]:
    """cais/mmlu rows (question, subject, choices, answer:int) to MCQs."""
    wanted = expand_subjects(subjects)
    out = []
    for item in rows:
        row, row_no, where = item.data, item.number, item.where
        missing = [k for k in ("question", "choices", "answer") if row.get(k) is None]
        if missing:
            raise MCQDataError(
                f"{where}: no {', '.join(repr(k) for k in missing)}, so this row is not in the "
                f"cais/mmlu layout (question, choices, answer) of the first row; {_MIXED_LAYOUT}"
            )
        choices = row["choices"]
        if not isinstance(choices, list | tuple) or not choices:
            raise MCQDataError(
                f"{where}: 'choices' must be a non-empty list of option texts, got "
                f"{str(choices)[:60]!r}"
            )
        choices = list(choices)
        mcq = _make_mcq(
            row["question"],
            choices,
            _letter_to_index(row["answer"], len(choices), where),
            subject=row.get("subject") or None,
            source=f"{label}:{row_no}",
            where=where,
        )
        if _keep(mcq, wanted):
            out.append(mcq)
    return out


def load_mmlu_hub(
    source: str | Path = MMLU_HUB_ID,
    *,
    config: str | None = None,
    split: str | None = None,
    subjects: Iterable[str] | None = None,
) -> list[MCQ]:
    """MMLU in the Hub's schema, from `cais/mmlu` (config 'all', split 'test' by default) or a
    local file or dataset folder (its only split, else 'train', unless `split` names one)."""
    wanted = expand_subjects(subjects)
    if not Path(source).exists():
        split = split or "test"
        if config is None:
            config = next(iter(wanted)) if wanted is not None and len(wanted) == 1 else "all"
    label, rows = _load_rows(source, config=config, split=split)
    return mmlu_rows_to_mcqs(rows, label=label, subjects=subjects)


def gpqa_order(key: str, n_choices: int, seed: int) -> list[int]:
    """The seeded permutation used for one GPQA question.

    Seeded by (seed, the question's own id) rather than by row position, so a question keeps its
    option order when the file is filtered, re-sorted or concatenated. `random.Random` hashes a
    str seed with SHA-512, so the order does not depend on PYTHONHASHSEED or the platform.
    """
    order = list(range(n_choices))
    random.Random(f"{seed}:{key}").shuffle(order)
    return order


def gpqa_rows_to_mcqs(
    rows: Iterable[Row],
    *,
    label: str,
    seed: int = 0,
    subjects: Iterable[str] | None = None,
) -> list[MCQ]:
    """GPQA rows to MCQs; option 0 before shuffling is the correct answer."""
    wanted = expand_subjects(subjects)
    out = []
    for item in rows:
        row, row_no, where = item.data, item.number, item.where
        missing = [c for c in _GPQA_COLUMNS if c not in row]
        if missing:
            raise MCQDataError(
                f"{where}: missing GPQA column(s) {', '.join(missing)}; {_MIXED_LAYOUT}"
            )
        options = [row["Correct Answer"]]
        options += [
            row[c]
            for c in ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
            if c in row
        ]
        if any(o is None or not str(o).strip() for o in options):
            raise MCQDataError(
                f"{where}: an answer column is empty; fill in 'Correct Answer' and every "
                "'Incorrect Answer' column"
            )
        key = str(row.get("Record ID") or row["Question"])
        order = gpqa_order(key, len(options), seed)
        domain = row.get("High-level domain") or None
        mcq = _make_mcq(
            row["Question"],
            [options[i] for i in order],
            order.index(0),
            subject=normalize_subject(domain) if domain else None,
            source=f"{label}:{row.get('Record ID') or row_no}",
            where=where,
        )
        if _keep(mcq, wanted, row.get("Subdomain")):
            out.append(mcq)
    return out


def load_gpqa(
    source: str | Path = GPQA_HUB_ID,
    *,
    config: str | None = None,
    split: str | None = None,
    seed: int = 0,
    subjects: Iterable[str] | None = None,
) -> list[MCQ]:
    """GPQA from the Hub (gated: accept its terms, then `hf auth login`) or a local csv/parquet."""
    if not Path(source).exists():
        split = split or "train"
        if config is None:
            config = "gpqa_main"
    label, rows = _load_rows(source, config=config, split=split)
    return gpqa_rows_to_mcqs(rows, label=label, seed=seed, subjects=subjects)


# --------------------------------------------------------------------------- jsonl with embedded options

_QUESTION_PREFIX = re.compile(r"^\s*question\s*:\s*", re.IGNORECASE)
_ANSWER_SUFFIX = re.compile(r"\n\s*answer\s*:\s*$", re.IGNORECASE)


def _strip_prompt_scaffolding(text: str) -> str:
    """Drop a leading 'Question:' and a trailing 'Answer:' that course prompts carry."""
    return _ANSWER_SUFFIX.sub("", _QUESTION_PREFIX.sub("", text.strip())).strip()


def embedded_rows_to_mcqs(
    rows: Iterable[Row],
    *,
    label: str,
    question_key: str | None = None,
    answer_key: str | None = None,
    subjects: Iterable[str] | None = None,
) -> list[MCQ]:
    """Rows whose question text embeds the options ('Options:' header optional).

    The answer may be a letter, an index, or the exact text of one option.
    """
    wanted = expand_subjects(subjects)
    out = []
    for item in rows:
        row, where = item.data, item.where
        q_key = question_key or next((k for k in _QUESTION_KEYS if k in row), None)
        a_key = answer_key or next((k for k in _ANSWER_KEYS if k in row), None)
        if q_key is None or q_key not in row:
            raise MCQDataError(
                f"{where}: no question field (looked for {question_key or _QUESTION_KEYS}); "
                f"found keys {sorted(row)}"
            )
        text = row[q_key]
        if not isinstance(text, str):
            raise MCQDataError(f"{where}: field {q_key!r} is not a string")
        try:
            parsed = MCQ.from_text(_strip_prompt_scaffolding(text))
        except ValueError as exc:
            if "choices" in row:
                raise MCQDataError(
                    f"{where}: no options in {q_key!r} but a 'choices' field: this row is in the "
                    f"cais/mmlu layout, unlike the file's first row (options in the question); "
                    f"{_MIXED_LAYOUT}"
                ) from exc
            raise MCQDataError(
                f"{where}: no options in {q_key!r}; write them after the question as 'A. …' "
                "lines (at least A and B, in order)"
            ) from exc
        answer = None
        if a_key is not None and a_key in row and row[a_key] is not None:
            raw = row[a_key]
            stripped = str(raw).strip()
            is_letter = len(stripped) == 1 and stripped.upper() in parsed.letters
            if isinstance(raw, str) and not is_letter and stripped in parsed.choices:
                answer = parsed.choices.index(stripped)  # the option's text, e.g. "4"
            else:
                answer = _letter_to_index(raw, len(parsed.choices), where)
        subject = row.get("subject") or row.get("category") or None
        mcq = _make_mcq(
            parsed.question,
            parsed.choices,
            answer,
            subject=normalize_subject(subject) if subject else None,
            source=f"{label}:{item.number}",
            where=where,
        )
        if _keep(mcq, wanted):
            out.append(mcq)
    return out


def load_course_jsonl(
    path: str | Path,
    *,
    question_key: str | None = None,
    answer_key: str | None = None,
    subjects: Iterable[str] | None = None,
) -> list[MCQ]:
    """The course's jsonl (and any prompt/answer jsonl): options embedded in the question."""
    path = Path(path)
    check_utf8(path)
    return embedded_rows_to_mcqs(
        iter_json_rows(path),
        label=str(path),
        question_key=question_key,
        answer_key=answer_key,
        subjects=subjects,
    )


# --------------------------------------------------------------------------- dispatcher


def _sniff_columns(columns: Iterable[str], label: str) -> str:
    """The layout of a columnar source (parquet, a dataset folder): cais/mmlu or GPQA."""
    columns = set(columns)
    if all(c in columns for c in _GPQA_COLUMNS):
        return "gpqa"
    if {"question", "choices", "answer"} <= columns:
        return "mmlu-hub"
    raise MCQDataError(
        f"{label}: columns {sorted(columns)} match neither cais/mmlu (question, choices, "
        "answer) nor GPQA; rename the columns, or pass --format"
    )


def _sniff_file(path: Path) -> str:
    """Guess the layout of a local file from its first record."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header = csv_header(path)
        return "gpqa" if all(c in header for c in _GPQA_COLUMNS) else "mmlu-csv"
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return _sniff_columns(pq.read_schema(path).names, str(path))
    if suffix in (".jsonl", ".ndjson", ".json"):
        check_utf8(path)
        first = next(iter_json_rows(path), None)
        if first is None:
            raise MCQDataError(f"{path}: file is empty; give it one question per line")
        columns = set(first.data)
    else:
        raise MCQDataError(
            f"{path}: unknown file type {suffix!r}; use .csv, .parquet, .jsonl, .ndjson or .json"
        )
    if all(c in columns for c in _GPQA_COLUMNS):
        return "gpqa"
    if {"question", "choices", "answer"} <= columns:
        return "mmlu-hub"
    return "course" if "question" in columns else "jsonl"


def detect_format(source: str | Path, *, split: str | None = None) -> str:
    """The layout of a source: a folder of MMLU *.csv files is mmlu-csv, any other dataset
    folder (save_to_disk, per-split files, Hub layout) is judged by its columns."""
    path = Path(source)
    if path.is_dir():
        if not saved_dataset_kind(path) and any(path.glob("*.csv")):
            return "mmlu-csv"
        return _sniff_columns(load_split(path, split).column_names, str(path))
    if path.exists():
        return _sniff_file(path)
    name = str(source).split(":", 1)[0].lower()
    if "gpqa" in name:
        return "gpqa"
    if "mmlu" in name:
        return "mmlu-hub"
    raise MCQDataError(
        f"{source!r} is not an existing file or folder, and not a known Hub dataset id "
        f"({MMLU_HUB_ID}, {GPQA_HUB_ID}); pass a path, or --format with one of {FORMATS[1:]}"
    )


def load_mcqs(
    source: str | Path,
    *,
    format: str = "auto",
    subjects: Iterable[str] | None = None,
    split: str | None = None,
    config: str | None = None,
    seed: int = 0,
    question_key: str | None = None,
    answer_key: str | None = None,
    limit: int | None = None,
) -> list[MCQ]:
    """Load MCQs from a path or Hub id in any supported layout.

    A Hub id may carry its config after a colon: ``Idavidrein/gpqa:gpqa_diamond``,
    ``cais/mmlu:college_physics``. `limit` keeps the first N per source after filtering.
    """
    if format not in FORMATS:
        raise MCQDataError(f"unknown format {format!r}; choose one of {FORMATS}")
    source_str = str(source)
    if not Path(source_str).exists() and ":" in source_str and config is None:
        source_str, config = source_str.split(":", 1)
    fmt = detect_format(source_str, split=split) if format == "auto" else format
    if fmt == "mmlu-csv":
        mcqs = load_mmlu_csv(source_str, subjects=subjects)
    elif fmt == "mmlu-hub":
        mcqs = load_mmlu_hub(source_str, config=config, split=split, subjects=subjects)
    elif fmt == "gpqa":
        mcqs = load_gpqa(source_str, config=config, split=split, seed=seed, subjects=subjects)
    else:
        if not Path(source_str).exists():
            raise MCQDataError(f"{source_str}: file not found")
        mcqs = load_course_jsonl(
            source_str, question_key=question_key, answer_key=answer_key, subjects=subjects
        )
    if not mcqs:
        raise MCQDataError(
            f"{source}: no questions left"
            + (
                f" after the subject filter {sorted(expand_subjects(subjects) or [])}"
                if subjects
                else ""
            )
        )
    return mcqs[:limit] if limit is not None else mcqs


def write_mcqs_jsonl(mcqs: Iterable[MCQ], path: str | Path) -> Path:
    """Write MCQs as jsonl of `MCQ.to_dict()` rows (the format `from_dict` reads back)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for mcq in mcqs:
            handle.write(json.dumps(mcq.to_dict(), ensure_ascii=False) + "\n")
    return path
