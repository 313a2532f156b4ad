"""The one reader of dataset files for merge-datasets, train-dpo, train-mcqa and eval-mcqa.

A source is a path or a Hub id. A path may be a jsonl/ndjson/json/parquet/csv file, a
``save_to_disk`` folder (a ``Dataset`` or a ``DatasetDict``), a folder of one file per split
(``train.jsonl``, ``eval.jsonl``, ...), or a folder laid out like a Hub repository. A Hub id is
read with its config, split and revision. Everything that becomes a ``datasets`` object goes
through ``datasets`` (caching, features, Hub access); what this module adds is the error
vocabulary. ``datasets`` reports a bad line as a generic ``DatasetGenerationError`` (the row
only in a log line, and wrong for a line that is not an object), and it reads invalid UTF-8
without complaint until a later ``to_pylist`` fails. So text files are checked for UTF-8 (and
CSV files for their field counts) before ``datasets`` sees them, and when ``datasets`` still
fails, the file is read line by line here to name the line. Every error is a `DatasetError`
whose message is one line: the file (or Hub id), the 1-based line or row, what is wrong and
what to do. Lines are counted in the file (jsonl); rows are records (a JSON array's elements,
a CSV's rows as a spreadsheet shows them, header included, or a dataset's rows).
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

#: File formats by extension; ``jsonl`` covers ``.ndjson`` (the same JSON Lines).
EXTENSION_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".csv": "csv",
}
#: Formats a caller may name instead of letting the extension decide ("disk": save_to_disk).
FORMATS = ("json", "jsonl", "parquet", "csv", "disk")
_BUILDERS = {"jsonl": "json", "json": "json", "parquet": "parquet", "csv": "csv"}
_TEXT_FORMATS = ("jsonl", "json", "csv")
_CHUNK = 1 << 24  # bytes per UTF-8 check read
HUB_ADVICE = (
    "check the id and the network (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE must be unset; gated "
    "sets need `hf auth login`), or download the dataset and pass its local path"
)


class DatasetError(ValueError):
    """A dataset, or one of its rows, that cannot be used.

    The message is one line naming the file or Hub id, the 1-based line or row where there is
    one, what is wrong and what to do. ``stemqa.train.mcqa_data.MCQDataError`` and
    ``stemqa.train.dpo_data.PreferenceDataError`` are this class, so every command that already
    turns those into a one-line exit 2 does so for the reader's errors too.
    """


@dataclass(frozen=True, slots=True)
class Row:
    """One record read from a source: `where` names it in messages ('FILE, line 7'), `number` is
    the 1-based line or row that `where` names."""

    where: str
    number: int
    data: Mapping[str, Any]


def one_line(text: object, limit: int = 240) -> str:
    """Collapse a library's (often multi-line) message to one line for an error message."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while (nxt := exc.__cause__ or exc.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        exc = nxt
    return exc


def describe(exc: BaseException) -> str:
    """'Type: message' of the innermost cause: the part of a wrapped error a user can act on."""
    root = _root_cause(exc)
    return one_line(f"{type(root).__name__}: {root}")


# --------------------------------------------------------------------------- what a path holds


def file_format(path: Path, format: str | None = None, *, format_hint: str | None = None) -> str:
    """The file's format: `format` when given, else from the extension."""
    if format is not None:
        return format
    fmt = EXTENSION_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DatasetError(
            f"{path}: cannot tell the format of '{path.name}' from its extension; "
            + (format_hint or "rename it to .jsonl, .ndjson, .json, .parquet or .csv")
        )
    return fmt


def saved_dataset_kind(folder: Path) -> str | None:
    """'dict' for a saved DatasetDict, 'dataset' for a saved Dataset, None otherwise
    (the same files `datasets.load_from_disk` looks for)."""
    if (folder / "dataset_dict.json").is_file():
        return "dict"
    if (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file():
        return "dataset"
    return None


def split_files(folder: Path) -> dict[str, Path] | None:
    """A folder of one data file per split, named by the split (train.jsonl, eval.jsonl, ...).

    Mapped by file name: datasets' own split patterns fold ``eval.*`` into "test". One file
    alone, or files of mixed formats or repeated names, are left to datasets' Hub-style layout.
    """
    files = sorted(
        f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in EXTENSION_FORMATS
    )
    stems = [f.stem for f in files]
    kinds = {EXTENSION_FORMATS[f.suffix.lower()] for f in files}
    if len(files) > 1 and len(kinds) == 1 and len(set(stems)) == len(stems):
        return {f.stem: f for f in files}
    return None


def _data_files_under(folder: Path) -> list[Path]:
    return sorted(
        f
        for f in folder.rglob("*")
        if f.is_file()
        and f.suffix.lower() in EXTENSION_FORMATS
        and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    )


# --------------------------------------------------------------------------- checks before datasets


def check_utf8(path: Path) -> None:
    """Raise naming the first line that is not UTF-8 (datasets would only fail much later).

    The whole file goes through one incremental decoder; only a file that fails is read again
    line by line to find the line and column.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            pass
        else:
            return
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(
                    f"{path}, line {line_no}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                    f"column {exc.start + 1}); save the file as UTF-8 "
                    f"(e.g. iconv -f cp1252 -t utf-8 IN > OUT)"
                ) from None


def iter_csv_rows(path: Path, *, header: bool = True) -> Iterator[tuple[int, list[str]]]:
    """(row, fields) of a CSV file, rows numbered as a spreadsheet shows them (header = row 1).

    Every row must have as many fields as the header (or, without a header, as the first row):
    a short row would otherwise be read with empty fields, and a long one shift its columns.
    Blank lines are skipped, as pandas does.
    """
    width = ref = None
    row_no = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, strict=True)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DatasetError(
                    f"{path}, row {row_no + 1} (line {reader.line_num}): bad CSV quoting ({exc}); "
                    'close the quote, or double a quote inside a quoted field ("")'
                ) from None
            if not fields or all(not f.strip() for f in fields):
                continue
            row_no += 1
            if width is None:
                width, ref = len(fields), row_no
            elif len(fields) != width:
                what = f"the header (row {ref})" if header else f"row {ref}"
                raise DatasetError(
                    f"{path}, row {row_no}: {len(fields)} fields, but {what} has {width}; a "
                    "field is missing or an unquoted comma splits one (quote fields that contain "
                    'commas: "a, b")'
                )
            yield row_no, fields


def check_csv(path: Path) -> None:
    """Raise naming the first row whose field count differs from the header's.

    pyarrow's C++ parser looks for such rows (about 6x faster than the csv module on a 55 MB
    file, see docs/BENCHMARKS.md); only a file it flags is read again with `iter_csv_rows`,
    which counts rows as a spreadsheet does, for the message.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    with path.open(newline="", encoding="utf-8") as handle:
        header = next((row for row in csv.reader(handle) if row), None)
    if not header:
        return
    flagged: list[object] = []

    def invalid(row: object) -> str:
        flagged.append(row)
        return "skip"

    try:
        pa_csv.read_csv(
            path,
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid),
            convert_options=pa_csv.ConvertOptions(
                include_columns=header[:1], column_types={header[0]: pa.string()}
            ),
        )
    except Exception as exc:  # any parse trouble: let the csv module say where
        flagged.append(exc)
    if flagged:
        for _ in iter_csv_rows(path):
            pass


def _preflight(path: Path, fmt: str) -> None:
    if fmt in _TEXT_FORMATS:
        check_utf8(path)
    if fmt == "csv":
        check_csv(path)


# --------------------------------------------------------------------------- our own JSON reading


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _json_problem(exc: json.JSONDecodeError) -> str:
    return f"invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                hint = (
                    "; a .json file is either one JSON array of row objects or one object per line"
                    if path.suffix.lower() == ".json" and line_no == 1
                    else "; fix or remove that line"
                )
                raise DatasetError(f"{path}, line {line_no}: {_json_problem(exc)}{hint}") from None


def _is_json_array(path: Path) -> bool:
    with path.open(encoding="utf-8-sig") as handle:
        while chunk := handle.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return stripped.startswith("[")
    return False


def iter_json_rows(path: Path) -> Iterator[Row]:
    """Rows of a JSON Lines file (``Row.where`` = 'FILE, line N') or of a ``.json`` array of
    objects ('FILE, row N'), read here so every error names the right line or row."""
    if path.suffix.lower() == ".json" and _is_json_array(path):
        try:
            rows = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{path}, line {exc.lineno}: {_json_problem(exc)}; fix the file so it is one "
                "JSON array of row objects"
            ) from None
        items = ((n, f"{path}, row {n}", row) for n, row in enumerate(rows, start=1))
        shape = "an object {...} in the array", "make every element a row object"
    else:
        items = ((n, f"{path}, line {n}", row) for n, row in _json_lines(path))
        shape = "a JSON object {...} on each line", "write one row object per line"
    for number, where, row in items:
        if not isinstance(row, dict):
            raise DatasetError(
                f"{where}: expected {shape[0]}, got {_kind(row)} "
                f"({one_line(json.dumps(row), 60)}); {shape[1]}"
            )
        yield Row(where, number, row)


def _json_finding(path: Path) -> DatasetError | None:
    """What is wrong in a JSON file datasets failed on, naming the line or row; None if nothing
    found here (then only datasets' own message is left to report)."""
    try:
        _check_json_types(path)
    except DatasetError as found:
        return found
    return None


def _check_json_types(path: Path) -> None:
    """Raise at the first row whose field has another JSON type than in an earlier row, the other
    way datasets (pyarrow) fails on a file of valid lines (and, via iter_json_rows, at the first
    invalid line or non-object row)."""
    first: dict[str, tuple[str, str]] = {}
    for row in iter_json_rows(path):
        for key, value in row.data.items():
            kind = _kind(value)
            if kind == "null":
                continue
            seen = first.setdefault(key, (kind, row.where))
            if seen[0] != kind:
                raise DatasetError(
                    f"{row.where}: '{key}' is {kind}, but {seen[0]} at "
                    f"{seen[1].removeprefix(f'{path}, ')}; give '{key}' the same type in every row"
                )


def _diagnose(path: Path, fmt: str, exc: BaseException) -> DatasetError:
    """Turn datasets' failure on one local file into a message that names the line or row."""
    if fmt in ("json", "jsonl") and (found := _json_finding(path)) is not None:
        return found
    if fmt == "parquet":
        return DatasetError(
            f"{path}: not a readable parquet file ({describe(exc)}); re-export it, "
            "e.g. with Dataset.to_parquet or pandas.DataFrame.to_parquet"
        )
    return DatasetError(f"{path}: cannot be read as {fmt} ({describe(exc)})")


# --------------------------------------------------------------------------- loading through datasets


def _load_file(path: Path, fmt: str, cache_dir: str | None) -> datasets.Dataset:
    import datasets

    _preflight(path, fmt)
    try:
        with _quiet_builder_logs():
            return datasets.load_dataset(
                _BUILDERS[fmt], data_files=str(path), split="train", cache_dir=cache_dir
            )
    except Exception as exc:  # datasets raises many unrelated types; all mean "cannot read"
        raise _diagnose(path, fmt, exc) from exc


def _load_disk(folder: Path) -> datasets.DatasetDict:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(folder))
    except Exception as exc:
        raise DatasetError(
            f"{folder}: a save_to_disk folder that cannot be loaded ({describe(exc)}); "
            "save it again with Dataset.save_to_disk"
        ) from exc
    return (
        loaded
        if isinstance(loaded, datasets.DatasetDict)
        else datasets.DatasetDict({"train": loaded})
    )


def _load_builder(
    source: str,
    *,
    folder: Path | None,
    config: str | None,
    split: str | None,
    revision: str | None,
    cache_dir: str | None,
):
    """The one `datasets.load_dataset(path, name, split, revision)` call for a Hub id or a folder
    laid out like a Hub repository (which is how tests exercise the Hub path offline)."""
    import datasets

    if folder is not None:
        files = _data_files_under(folder)
        if not files:
            raise DatasetError(
                f"{folder}: the folder holds no dataset files (.jsonl, .ndjson, .json, .parquet, "
                ".csv) and is not a save_to_disk folder"
            )
        for file in files:
            _preflight(file, EXTENSION_FORMATS[file.suffix.lower()])
    try:
        with _quiet_builder_logs():
            return datasets.load_dataset(
                source, name=config, split=split, revision=revision, cache_dir=cache_dir
            )
    except Exception as exc:
        if folder is None:
            picked = ", ".join(
                f"{k}={v!r}"
                for k, v in (("config", config), ("split", split), ("revision", revision))
                if v is not None
            )
            raise DatasetError(
                f"{source}: cannot load it from the Hugging Face Hub"
                + (f" ({picked})" if picked else "")
                + f": {describe(exc)}; {HUB_ADVICE}"
            ) from exc
        for file in files:
            fmt = EXTENSION_FORMATS[file.suffix.lower()]
            if fmt in ("json", "jsonl") and (found := _json_finding(file)) is not None:
                raise found from exc
        raise DatasetError(
            f"{folder}: cannot be read as a dataset folder ({describe(exc)}); check the split "
            "and config names, or point at one data file"
        ) from exc


def looks_like_path(source: str | Path) -> bool:
    """A data file's extension, a leading / . ~ or more than one '/': not an 'owner/name' id."""
    text = str(source)
    return (
        isinstance(source, Path)
        or Path(text).suffix.lower() in EXTENSION_FORMATS
        or text.startswith(("/", ".", "~"))
        or text.count("/") > 1
        or "\\" in text
    )


def _local(source: str | Path, hub: bool | None) -> Path | None:
    """The local path, or None for a Hub id; `hub`: True/False force it, None: path if it exists."""
    if hub:
        return None
    path = Path(source).expanduser()
    if path.exists():
        return path
    if hub is False or looks_like_path(source):
        raise DatasetError(f"{path}: no such file or folder; check the path")
    return None


@contextmanager
def _quiet_builder_logs() -> Iterator[None]:
    """datasets' builders log their own 'Failed to load JSON ...' line before raising; the error
    this module raises says it better, so keep a user's terminal to that one line."""
    logger = logging.getLogger("datasets.packaged_modules")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_splits(
    source: str | Path,
    *,
    config: str | None = None,
    revision: str | None = None,
    format: str | None = None,
    cache_dir: str | None = None,
    hub: bool | None = None,
    format_hint: str | None = None,
) -> datasets.DatasetDict:
    """Every split of a source as a DatasetDict; a single file or saved Dataset is "train"."""
    import datasets

    path = _local(source, hub)
    if path is not None:
        if format == "disk" or (format is None and path.is_dir() and saved_dataset_kind(path)):
            return _load_disk(path)
        if path.is_file():
            fmt = file_format(path, format, format_hint=format_hint)
            return datasets.DatasetDict({"train": _load_file(path, fmt, cache_dir)})
        per_split = split_files(path)
        if per_split is not None:
            return datasets.DatasetDict(
                {
                    name: _load_file(file, EXTENSION_FORMATS[file.suffix.lower()], cache_dir)
                    for name, file in per_split.items()
                }
            )
    return _load_builder(
        str(source if path is None else path),
        folder=path,
        config=config,
        split=None,
        revision=revision,
        cache_dir=cache_dir,
    )


def _pick(loaded: datasets.DatasetDict, split: str | None, label: str) -> datasets.Dataset:
    """`split` of `loaded`; with None, the only split, else "train"."""
    if split is None:
        split = next(iter(loaded)) if len(loaded) == 1 else "train"
    if split not in loaded:
        raise DatasetError(
            f"{label}: no split '{split}'; it has {', '.join(loaded) or 'none'}: "
            "name one of those splits"
        )
    return loaded[split]


def load_split(
    source: str | Path,
    split: str | None = "train",
    *,
    config: str | None = None,
    revision: str | None = None,
    format: str | None = None,
    cache_dir: str | None = None,
    hub: bool | None = None,
    format_hint: str | None = None,
) -> datasets.Dataset:
    """One split of a source. A single data file is one split, whatever `split` says; with
    `split` None a source of several splits gives its only split, else "train"."""
    path = _local(source, hub)
    if path is None or (
        path.is_dir()
        and format != "disk"
        and not saved_dataset_kind(path)
        and split_files(path) is None
    ):
        label = str(source) if path is None else str(path)
        loaded = _load_builder(
            label, folder=path, config=config, split=split, revision=revision, cache_dir=cache_dir
        )
        return loaded if split is not None else _pick(loaded, None, label)
    if path.is_file():
        fmt = file_format(path, format, format_hint=format_hint)
        if fmt != "disk":
            return _load_file(path, fmt, cache_dir)
    loaded = load_splits(path, config=config, format=format, cache_dir=cache_dir, hub=False)
    return _pick(loaded, split, str(path))


# --------------------------------------------------------------------------- rows, for own parsing


def read_rows(
    source: str | Path,
    *,
    split: str | None = None,
    config: str | None = None,
    revision: str | None = None,
) -> tuple[str, Iterator[Row]]:
    """A label for the source and its rows, each with a `where` for messages.

    Local jsonl/ndjson/json/csv files are read here, so a message names the exact line (jsonl)
    or spreadsheet row (csv, json arrays); parquet, saved folders and Hub ids go through
    `datasets` and are named by 1-based row.
    """
    path = _local(source, None)
    if path is not None and path.is_file():
        fmt = file_format(path)
        if fmt in ("json", "jsonl"):
            check_utf8(path)
            return str(path), iter_json_rows(path)
        if fmt == "csv":
            check_utf8(path)
            return str(path), _csv_dict_rows(path)
    if path is None:
        label = f"{source}[{config or 'default'}/{split}]"
        dataset = load_split(source, split or "train", config=config, revision=revision, hub=True)
    else:
        label = str(path)
        dataset = load_split(path, split, config=config, revision=revision)
    return label, (Row(f"{label}, row {i}", i, row) for i, row in enumerate(dataset, start=1))


def _csv_dict_rows(path: Path) -> Iterator[Row]:
    rows = iter_csv_rows(path)
    header = next(rows, None)
    if header is None:
        return
    names = header[1]
    for row_no, fields in rows:
        yield Row(f"{path}, row {row_no}", row_no, dict(zip(names, fields, strict=True)))


def csv_header(path: Path) -> list[str]:
    """The first row of a CSV file (its column names, when it has a header)."""
    check_utf8(path)
    return next((fields for _, fields in iter_csv_rows(path)), [])


def row_where(source: str | Path, split: str, index: int) -> str:
    """Name the `index`-th (0-based) row of a split loaded by `load_splits` for a message:
    'FILE, line N' for JSON Lines, 'FILE, row N' for csv (header = row 1) and json arrays,
    'SOURCE [split] row N' for saved folders and Hub datasets."""
    path = Path(source)
    file = None
    if path.is_file():
        file = path
    elif path.is_dir() and not saved_dataset_kind(path):
        file = (split_files(path) or {}).get(split)
    if file is None:
        return f"{source} [{split}] row {index + 1}"
    fmt = EXTENSION_FORMATS.get(file.suffix.lower())
    if fmt == "csv":
        return f"{file}, row {index + 2}"
    if fmt in ("json", "jsonl"):
        for number, row in enumerate(iter_json_rows(file)):
            if number == index:
                return row.where
    return f"{file}, row {index + 1}"
