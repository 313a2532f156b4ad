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

Errors name the file (or dataset id) and the row, so a bad row can be fixed in place.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from stemqa.core import LETTERS, MCQ

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


class MCQDataError(ValueError):
    """A dataset row or file that cannot become an MCQ; the message names source and row."""


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
                f"{where}: answer {value!r} is not a letter ({LETTERS[:n_choices]}) or an index"
            )
    if not 0 <= index < n_choices:
        raise MCQDataError(
            f"{where}: answer {value!r} points outside the {n_choices} options "
            f"({LETTERS[:n_choices]})"
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
    with path.open(newline="", encoding="utf-8") as handle:
        for row_no, row in enumerate(csv.reader(handle), start=1):
            where = f"{path}, row {row_no}"
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < 4:
                raise MCQDataError(
                    f"{where}: expected 'question, option..., answer-letter' "
                    f"(at least 4 columns), got {len(row)}"
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
) -> tuple[Iterable[Mapping[str, Any]], str]:
    """Rows of a local parquet/json/jsonl/csv file or a Hub dataset, through `datasets`.

    Returns the rows and a label used in error messages.
    """
    from datasets import load_dataset

    path = Path(source)
    if path.exists():
        suffix = path.suffix.lower()
        builder = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}.get(
            suffix
        )
        if builder is None:
            raise MCQDataError(
                f"{path}: unknown file type {suffix!r}; use .parquet, .jsonl, .json or .csv"
            )
        dataset = load_dataset(builder, data_files=str(path), split="train")
        return dataset, str(path)
    try:
        dataset = load_dataset(str(source), config, split=split)
    except Exception as exc:  # the Hub raises many types; the user needs the same advice
        raise MCQDataError(
            f"could not load dataset {source!r} (config={config!r}, split={split!r}): {exc}. "
            "Pass an existing local file, or a Hub id reachable from this machine "
            "(HF_HUB_OFFLINE/HF_DATASETS_OFFLINE must be unset, gated sets need `hf auth login`)."
        ) from exc
    return dataset, f"{source}[{config or 'default'}/{split}]"


def mmlu_rows_to_mcqs(
    rows: Iterable[Mapping[str, Any]], *, label: str, subjects: Iterable[str] | None = None
) -> list[MCQ]:
    """cais/mmlu rows (question, subject, choices, answer:int) to MCQs."""
    wanted = expand_subjects(subjects)
    out = []
    for row_no, row in enumerate(rows, start=1):
        where = f"{label}, row {row_no}"
        missing = [k for k in ("question", "choices", "answer") if k not in row]
        if missing:
            raise MCQDataError(f"{where}: missing column(s) {missing} of the cais/mmlu schema")
        choices = list(row["choices"] or [])
        mcq = _make_mcq(
            row["question"],
            choices,
            None if row["answer"] is None else _letter_to_index(row["answer"], len(choices), where),
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
    split: str = "test",
    subjects: Iterable[str] | None = None,
) -> list[MCQ]:
    """MMLU in the Hub's schema, from `cais/mmlu` (config 'all' by default) or a local file."""
    wanted = expand_subjects(subjects)
    if config is None and not Path(source).exists():
        config = next(iter(wanted)) if wanted is not None and len(wanted) == 1 else "all"
    rows, label = _load_rows(source, config=config, split=split)
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
    rows: Iterable[Mapping[str, Any]],
    *,
    label: str,
    seed: int = 0,
    subjects: Iterable[str] | None = None,
) -> list[MCQ]:
    """GPQA rows to MCQs; option 0 before shuffling is the correct answer."""
    wanted = expand_subjects(subjects)
    out = []
    for row_no, row in enumerate(rows, start=1):
        where = f"{label}, row {row_no}"
        missing = [c for c in _GPQA_COLUMNS if c not in row]
        if missing:
            raise MCQDataError(f"{where}: missing GPQA column(s) {missing}")
        options = [row["Correct Answer"]]
        options += [
            row[c]
            for c in ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
            if c in row
        ]
        if any(o is None or not str(o).strip() for o in options):
            raise MCQDataError(f"{where}: an answer column is empty")
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
    split: str = "train",
    seed: int = 0,
    subjects: Iterable[str] | None = None,
) -> list[MCQ]:
    """GPQA from the Hub (gated: accept its terms, then `hf auth login`) or a local csv/parquet."""
    if config is None and not Path(source).exists():
        config = "gpqa_main"
    rows, label = _load_rows(source, config=config, split=split)
    return gpqa_rows_to_mcqs(rows, label=label, seed=seed, subjects=subjects)


# --------------------------------------------------------------------------- jsonl with embedded options

_QUESTION_PREFIX = re.compile(r"^\s*question\s*:\s*", re.IGNORECASE)
_ANSWER_SUFFIX = re.compile(r"\n\s*answer\s*:\s*$", re.IGNORECASE)


def _strip_prompt_scaffolding(text: str) -> str:
    """Drop a leading 'Question:' and a trailing 'Answer:' that course prompts carry."""
    return _ANSWER_SUFFIX.sub("", _QUESTION_PREFIX.sub("", text.strip())).strip()


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        text = handle.read()
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MCQDataError(f"{path}: invalid JSON: {exc}") from exc
        for row_no, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise MCQDataError(f"{path}, row {row_no}: expected an object, got {row!r:.80}")
            yield row_no, row
        return
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MCQDataError(f"{path}, line {line_no}: invalid JSON: {exc.msg}") from exc
        if not isinstance(row, dict):
            raise MCQDataError(f"{path}, line {line_no}: expected an object, got {line[:80]!r}")
        yield line_no, row


def embedded_rows_to_mcqs(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
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
    for row_no, row in rows:
        where = f"{label}, line {row_no}"
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
            raise MCQDataError(f"{where}: cannot find the options in {q_key!r}: {exc}") from exc
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
            source=f"{label}:{row_no}",
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
    return embedded_rows_to_mcqs(
        _iter_jsonl(path),
        label=str(path),
        question_key=question_key,
        answer_key=answer_key,
        subjects=subjects,
    )


# --------------------------------------------------------------------------- dispatcher


def _sniff_file(path: Path) -> str:
    """Guess the layout of a local file from its first record."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        return "gpqa" if all(c in header for c in _GPQA_COLUMNS) else "mmlu-csv"
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        columns = set(pq.read_schema(path).names)
    elif suffix in (".jsonl", ".json"):
        first = next(_iter_jsonl(path), None)
        if first is None:
            raise MCQDataError(f"{path}: file is empty")
        columns = set(first[1])
    else:
        raise MCQDataError(
            f"{path}: unknown file type {suffix!r}; use .csv, .parquet, .jsonl or .json"
        )
    if all(c in columns for c in _GPQA_COLUMNS):
        return "gpqa"
    if {"question", "choices", "answer"} <= columns:
        return "mmlu-hub"
    if suffix == ".parquet":
        raise MCQDataError(
            f"{path}: parquet columns {sorted(columns)} match neither cais/mmlu "
            "(question, choices, answer) nor GPQA"
        )
    return "course" if "question" in columns else "jsonl"


def detect_format(source: str | Path) -> str:
    path = Path(source)
    if path.is_dir():
        return "mmlu-csv"
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
    fmt = detect_format(source_str) if format == "auto" else format
    if fmt == "mmlu-csv":
        mcqs = load_mmlu_csv(source_str, subjects=subjects)
    elif fmt == "mmlu-hub":
        mcqs = load_mmlu_hub(source_str, config=config, split=split or "test", subjects=subjects)
    elif fmt == "gpqa":
        mcqs = load_gpqa(
            source_str, config=config, split=split or "train", seed=seed, subjects=subjects
        )
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
