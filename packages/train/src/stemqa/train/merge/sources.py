"""Reading a source into memory: Hub ids and local files go through `datasets`.

A Hub id and a local dataset folder take the very same `datasets.load_dataset(path, name, split,
revision)` call, which is how the tests exercise the Hub path without a network: they point it at a
folder laid out like the Hub repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from .config import SourceConfig
from .records import MergeError

_EXTENSION_FORMATS = {
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".csv": "csv",
}


class SourceError(MergeError, RuntimeError):
    """A source that cannot be read; the message names the source and its file or Hub id."""


@dataclass
class LoadedSource:
    config: SourceConfig
    columns: list[str]
    data: dict[str, list[Any]]  # column -> values, after the recipe's column mapping
    num_rows: int


def _is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def _read(src: SourceConfig, cache_dir: str | None) -> datasets.Dataset:
    if src.hub is not None:
        return hub_load(src.hub, src.config, src.split, src.revision, cache_dir)
    path = Path(src.path)  # type: ignore[arg-type]
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    fmt = src.format
    if fmt == "disk" or (fmt is None and path.is_dir() and _is_saved_dataset(path)):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if src.split not in loaded:
                raise KeyError(
                    f"split '{src.split}' not found; the saved dataset has {', '.join(loaded)}"
                )
            return loaded[src.split]
        return loaded
    if path.is_dir():
        # A folder of data files laid out like a Hub repo: the same call as a Hub id.
        return hub_load(str(path), src.config, src.split, src.revision, cache_dir)
    if fmt is None:
        fmt = _EXTENSION_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise ValueError(
                f"cannot tell the format of '{path.name}' from its extension; "
                "set format: json, parquet or csv in the source block"
            )
    builder = "json" if fmt == "jsonl" else fmt
    return datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache_dir)


def hub_load(
    path: str, config: str | None, split: str, revision: str | None, cache_dir: str | None
) -> datasets.Dataset:
    """The one call for Hub ids and Hub-shaped local folders."""
    return datasets.load_dataset(
        path, name=config, split=split, revision=revision, cache_dir=cache_dir
    )


def load_source(src: SourceConfig, *, cache_dir: str | None = None) -> LoadedSource:
    try:
        ds = _read(src, cache_dir)
    except Exception as exc:  # datasets raises many unrelated types; all mean "cannot read"
        hint = ""
        if src.hub is not None and isinstance(exc, ConnectionError | OSError):
            hint = (
                " (the Hub could not be reached: check the id, your network, HF_HUB_OFFLINE / "
                "HF_DATASETS_OFFLINE, or download the dataset and point 'path' at it)"
            )
        raise SourceError(
            f"source '{src.name}': cannot read {src.location}: {type(exc).__name__}: {exc}{hint}"
        ) from exc
    columns = list(ds.column_names)
    rename = {}
    for canonical, column in src.columns.items():
        if column not in columns:
            raise SourceError(
                f"source '{src.name}': columns.{canonical} maps to '{column}', which is not a "
                f"column of {src.location}; its columns are {', '.join(columns)}"
            )
        rename[column] = canonical
    data = ds.to_dict()
    # Canonical names win over same-named original columns the mapping replaces.
    for original in list(data):
        if original in src.columns and original not in rename:
            del data[original]
    data = {rename.get(c, c): v for c, v in data.items()}
    return LoadedSource(src, list(data), data, ds.num_rows)
