"""Load preference data for train-dpo: prompt/chosen/rejected, by split.

Accepts what users have: a merge-datasets output folder (DatasetDict.save_to_disk + stats.json),
any local jsonl/ndjson/json/parquet/csv file or folder (the same data ``trl dpo --dataset_name``
reads), or a Hub dataset id, all through the one reader `stemqa.train.dataset_files`. Rows are
checked up front, so a malformed row names its file and 1-based line or row instead of failing
inside tokenization an hour later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stemqa.train.dataset_files import DatasetError, load_splits, row_where

REQUIRED_COLUMNS = ("prompt", "chosen", "rejected")

#: The preference data cannot be used; the message names the file, split and 1-based row. The
#: reader's own error, so train-dpo reports unreadable files and bad rows the same way.
PreferenceDataError = DatasetError


@dataclass
class PreferenceData:
    """Splits by name (``train``, ``eval``, ``test`` when present) plus the recipe/stats that
    came with them (merge-datasets' stats.json), for the model card."""

    splits: dict[str, Any]
    source: str
    stats: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = field(default=None)


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
                    f"{row_where(source, split, index)}: {column!r} is empty or not text "
                    f"({type(value).__name__}: {str(value)[:60]!r}); fix or remove that row"
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
    loaded = load_splits(source, config=config)
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
