"""Reading a source into memory, through the one dataset reader (`stemqa.train.dataset_files`).

A Hub id and a local dataset folder take the very same `datasets.load_dataset(path, name, split,
revision)` call, which is how the tests exercise the Hub path without a network: they point it at a
folder laid out like the Hub repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stemqa.train.dataset_files import DatasetError, load_split

from .config import SourceConfig
from .records import MergeError

FORMAT_HINT = "set format: json, jsonl, parquet or csv in the source block"


class SourceError(MergeError, RuntimeError):
    """A source that cannot be read; the message names the source and its file or Hub id."""


@dataclass
class LoadedSource:
    config: SourceConfig
    columns: list[str]
    data: dict[str, list[Any]]  # column -> values, after the recipe's column mapping
    num_rows: int


def load_source(src: SourceConfig, *, cache_dir: str | None = None) -> LoadedSource:
    try:
        ds = load_split(
            src.location,
            src.split,
            config=src.config,
            revision=src.revision,
            format=src.format,
            cache_dir=cache_dir,
            hub=src.hub is not None,
            format_hint=FORMAT_HINT,
        )
    except DatasetError as exc:
        raise SourceError(f"source '{src.name}': {exc}") from exc
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
