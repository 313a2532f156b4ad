"""Load preference data for train-dpo: prompt/chosen/rejected, by split.

Accepts what users have: a merge-datasets output folder (DatasetDict.save_to_disk + stats.json),
any local jsonl/json/parquet/csv file or folder (the same data ``trl dpo --dataset_name`` reads),
or a Hub dataset id. Rows are checked up front, so a malformed row names its source and index
instead of failing inside tokenization an hour later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED_COLUMNS = ("prompt", "chosen", "rejected")
_FILE_TYPES = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


class PreferenceDataError(ValueError):
    """The preference data cannot be used; the message names the source, split and row."""


@dataclass
class PreferenceData:
    """Splits by name (``train``, ``eval``, ``test`` when present) plus the recipe/stats that
    came with them (merge-datasets' stats.json), for the model card."""

    splits: dict[str, Any]
    source: str
    stats: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = field(default=None)


def _load_any(source: str, config: str | None):
    from datasets import DatasetDict, load_dataset, load_from_disk

    path = Path(source)
    if path.is_dir() and (
        (path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file()
    ):
        loaded = load_from_disk(str(path))
        return loaded if isinstance(loaded, DatasetDict) else DatasetDict({"train": loaded})
    if path.is_file():
        kind = _FILE_TYPES.get(path.suffix.lower())
        if kind is None:
            raise PreferenceDataError(
                f"{source}: unsupported file type {path.suffix!r}; use jsonl, json, parquet or csv"
            )
        return load_dataset(kind, data_files={"train": str(path)})
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in _FILE_TYPES)
        kinds = {_FILE_TYPES[f.suffix.lower()] for f in files}
        stems = [f.stem for f in files]
        if files and len(kinds) == 1 and len(set(stems)) == len(stems):
            # One file per split, named by the split (train.jsonl, eval.jsonl, test.jsonl):
            # map them by name; datasets' own patterns would fold eval.* into "test".
            return load_dataset(kinds.pop(), data_files={f.stem: str(f) for f in files})
    try:
        return load_dataset(source, name=config)
    except Exception as exc:
        hint = (
            "it is a local folder but holds no dataset files"
            if path.is_dir()
            else "it is not a local path, so it was looked up on the Hugging Face Hub"
        )
        raise PreferenceDataError(f"Could not load the dataset {source!r} ({hint}): {exc}") from exc


def validate_split(dataset, source: str, split: str) -> None:
    """Every row needs non-empty string prompt/chosen/rejected (or conversational lists)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise PreferenceDataError(
            f"{source} [{split}]: missing column(s) {', '.join(missing)}; it has "
            f"{', '.join(dataset.column_names)}. Run merge-datasets to map other schemas to "
            "prompt/chosen/rejected."
        )
    for column in REQUIRED_COLUMNS:
        for index, value in enumerate(dataset[column]):
            ok = (isinstance(value, str) and value.strip()) or (
                isinstance(value, list) and len(value) > 0
            )
            if not ok:
                raise PreferenceDataError(
                    f"{source} [{split}] row {index}: {column!r} is empty or not text "
                    f"({type(value).__name__}: {str(value)[:60]!r})"
                )


def load_preference_data(
    source: str,
    *,
    config: str | None = None,
    splits: dict[str, str] | None = None,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
) -> PreferenceData:
    """Load and check the splits named in ``splits`` (role -> split name, e.g.
    {"train": "train", "eval": "eval", "test": "test"}); train is required, the others are
    optional (missing ones are left out, and said so in the summary)."""
    if not source:
        raise PreferenceDataError(
            "No data: pass --dataset_name (a merge-datasets folder, a jsonl file or a Hub id)"
        )
    splits = splits or {"train": "train", "eval": "eval", "test": "test"}
    loaded = _load_any(source, config)
    out: dict[str, Any] = {}
    for role, name in splits.items():
        if name not in loaded:
            if role == "train":
                raise PreferenceDataError(
                    f"{source}: no split {name!r} (it has {', '.join(loaded)}); set "
                    "dataset_train_split"
                )
            continue
        dataset = loaded[name]
        limit = max_train_samples if role == "train" else max_eval_samples
        if limit is not None:
            dataset = dataset.select(range(min(limit, len(dataset))))
        validate_split(dataset, source, name)
        out[role] = dataset
    stats = recipe = None
    folder = Path(source)
    if folder.is_dir():
        if (folder / "stats.json").is_file():
            stats = json.loads((folder / "stats.json").read_text())
        if (folder / "merge_config.yaml").is_file():  # merge-datasets' resolved recipe
            import yaml

            recipe = yaml.safe_load((folder / "merge_config.yaml").read_text())
    return PreferenceData(splits=out, source=source, stats=stats, recipe=recipe)
