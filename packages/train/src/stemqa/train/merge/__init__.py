"""Preference-data merging behind `uv run merge-datasets`."""

from .config import (
    LENGTH_POLICIES,
    ConfigError,
    MergeConfig,
    SourceConfig,
    load_config,
    parse_config,
)
from .pipeline import MergeResult, merge_preferences
from .records import MergeError, Pair
from .schemas import SCHEMAS, SchemaError, detect_schema
from .sources import SourceError, load_source
from .stats import REASONS, format_stats

__all__ = [
    "LENGTH_POLICIES",
    "REASONS",
    "SCHEMAS",
    "ConfigError",
    "MergeConfig",
    "MergeError",
    "MergeResult",
    "Pair",
    "SchemaError",
    "SourceConfig",
    "SourceError",
    "detect_schema",
    "format_stats",
    "load_config",
    "load_source",
    "merge_preferences",
    "parse_config",
]
