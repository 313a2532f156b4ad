"""Declarative recipe for `merge-datasets`.

The report built its DPO mix by hand in a notebook; a YAML recipe makes the same mix reproducible
and reviewable. Validation is strict on purpose: a typo such as `fractoin` would otherwise silently
fall back to "take everything" and change the mix without anyone noticing.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .records import MergeError

LENGTH_POLICIES = ("truncate", "drop")
CHAT_FORMATS = ("none", "chatml", "tokenizer")
LOCAL_FORMATS = ("json", "jsonl", "parquet", "csv", "disk")
_INHERIT: Any = object()  # marks "not set in the source block", distinct from an explicit null


class ConfigError(MergeError, ValueError):
    """A bad recipe value; the message names the offending key."""


@dataclass
class SourceConfig:
    """One input dataset: a Hub id or a local file/folder, plus how much of it to take."""

    name: str
    hub: str | None = None
    path: Path | None = None
    config: str | None = None  # Hub configuration (the `name` argument of load_dataset)
    split: str = "train"
    revision: str | None = None
    format: str | None = None  # local files only; inferred from the extension when None
    schema: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)  # canonical name -> column in the source
    fraction: float | None = None
    rows: int | None = None
    max_pairs_per_prompt: int | None = _INHERIT

    @property
    def location(self) -> str:
        return self.hub if self.hub is not None else str(self.path)


@dataclass
class MergeConfig:
    sources: list[SourceConfig]
    seed: int = 42
    tokenizer: str | None = None
    tokenizer_revision: str | None = None
    max_length: int | None = 2048
    reserve_tokens: int = 1  # room for the EOS that TRL's DPOTrainer appends to each completion
    length_policy: str = "truncate"
    max_pairs_per_prompt: int | None = None
    chat_format: str = "none"
    splits: dict[str, float] = field(
        default_factory=lambda: {"train": 0.75, "eval": 0.125, "test": 0.125}
    )
    # Eval sets (MCQ files/folders or Hub ids) whose questions must not leak into the mix: pairs
    # sharing a decontaminate_n-gram with one are dropped (reason "contaminated").
    decontaminate: list[str] = field(default_factory=list)
    decontaminate_n: int = 13

    def cap_for(self, source: SourceConfig) -> int | None:
        if source.max_pairs_per_prompt is _INHERIT:
            return self.max_pairs_per_prompt
        return source.max_pairs_per_prompt

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe, written next to the output so a merge documents itself."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name != "sources":
                out[f.name] = getattr(self, f.name)
        out["sources"] = []
        for src in self.sources:
            block: dict[str, Any] = {}
            for f in fields(src):
                value = getattr(src, f.name)
                if (
                    value is _INHERIT
                    or value is None
                    or value == {}
                    or (f.name == "schema" and value == "auto")
                ):
                    continue
                block[f.name] = str(value) if isinstance(value, Path) else value
            out["sources"].append(block)
        return out


def _unknown_key(key: str, where: str, allowed: list[str]) -> ConfigError:
    hint = difflib.get_close_matches(key, allowed, n=1)
    extra = f"; did you mean '{hint[0]}'?" if hint else f"; allowed keys: {', '.join(allowed)}"
    return ConfigError(f"unknown key '{key}' in {where}{extra}")


def _check_keys(block: dict, where: str, allowed: list[str]) -> None:
    if not isinstance(block, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(block).__name__}")
    for key in block:
        if key not in allowed:
            raise _unknown_key(str(key), where, allowed)


def _opt_int(value: Any, key: str, *, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"'{key}' must be an integer >= {minimum} or null, got {value!r}")
    return value


def _parse_source(block: Any, index: int, base_dir: Path) -> SourceConfig:
    where = f"sources[{index}]"
    if isinstance(block, dict) and block.get("name"):
        where += f" ('{block['name']}')"
    allowed = [f.name for f in fields(SourceConfig)]
    _check_keys(block, where, allowed)
    if "name" not in block or not str(block["name"]).strip():
        raise ConfigError(f"'{where}.name' is required (it labels the rows and the stats table)")
    name = str(block["name"])
    where = f"sources[{index}] ('{name}')"
    hub, path = block.get("hub"), block.get("path")
    if (hub is None) == (path is None):
        raise ConfigError(f"{where}: give exactly one of 'hub' (a Hub dataset id) or 'path'")
    src = SourceConfig(name=name)
    if hub is not None:
        src.hub = str(hub)
    else:
        p = Path(str(path)).expanduser()
        src.path = p if p.is_absolute() else (base_dir / p).resolve()
    for key in ("config", "revision"):
        if block.get(key) is not None:
            setattr(src, key, str(block[key]))
    if "split" in block:
        if not isinstance(block["split"], str) or not block["split"]:
            raise ConfigError(f"'{where}.split' must be a split name such as 'train'")
        src.split = block["split"]
    if block.get("format") is not None:
        fmt = str(block["format"]).lower()
        if fmt not in LOCAL_FORMATS:
            raise ConfigError(
                f"'{where}.format' must be one of {', '.join(LOCAL_FORMATS)}, got {fmt!r}"
            )
        if hub is not None:
            raise ConfigError(f"'{where}.format' only applies to local 'path' sources")
        src.format = fmt
    if block.get("schema") is not None:
        src.schema = str(block["schema"])
    columns = block.get("columns") or {}
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        raise ConfigError(
            f"'{where}.columns' must map canonical names to source columns, "
            "e.g. {prompt: instruction, chosen: good, rejected: bad}"
        )
    src.columns = dict(columns)
    fraction, rows = block.get("fraction"), block.get("rows")
    if fraction is not None and rows is not None:
        raise ConfigError(f"{where}: give 'fraction' or 'rows', not both")
    if fraction is not None:
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not 0 < fraction <= 1
        ):
            raise ConfigError(f"'{where}.fraction' must be a number in (0, 1], got {fraction!r}")
        src.fraction = float(fraction)
    if rows is not None:
        src.rows = _opt_int(rows, f"{where}.rows", minimum=1)
    if "max_pairs_per_prompt" in block:
        src.max_pairs_per_prompt = _opt_int(
            block["max_pairs_per_prompt"], f"{where}.max_pairs_per_prompt", minimum=1
        )
    return src


def parse_config(data: Any, *, base_dir: Path | str = ".") -> MergeConfig:
    """Validate a recipe mapping; relative source paths resolve against `base_dir`."""
    base_dir = Path(base_dir)
    allowed = [f.name for f in fields(MergeConfig)]
    _check_keys(data, "the config", allowed)
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ConfigError("'sources' must be a non-empty list of source blocks")
    sources = [_parse_source(b, i, base_dir) for i, b in enumerate(raw_sources)]
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"source names must be unique; repeated: {', '.join(dupes)}")
    cfg = MergeConfig(sources=sources)
    if "seed" in data:
        seed = _opt_int(data["seed"], "seed")
        if seed is None:
            raise ConfigError("'seed' must be an integer")
        cfg.seed = seed
    for key in ("tokenizer", "tokenizer_revision"):
        if data.get(key) is not None:
            setattr(cfg, key, str(data[key]))
    if "max_length" in data:
        cfg.max_length = _opt_int(data["max_length"], "max_length", minimum=8)
    if "reserve_tokens" in data:
        cfg.reserve_tokens = _opt_int(data["reserve_tokens"], "reserve_tokens") or 0
    if "max_pairs_per_prompt" in data:
        cfg.max_pairs_per_prompt = _opt_int(
            data["max_pairs_per_prompt"], "max_pairs_per_prompt", minimum=1
        )
    if "length_policy" in data:
        if data["length_policy"] not in LENGTH_POLICIES:
            raise ConfigError(
                f"'length_policy' must be one of {', '.join(LENGTH_POLICIES)}, "
                f"got {data['length_policy']!r}"
            )
        cfg.length_policy = data["length_policy"]
    if "chat_format" in data:
        value = "none" if data["chat_format"] in (None, False) else data["chat_format"]
        if value not in CHAT_FORMATS:
            raise ConfigError(
                f"'chat_format' must be one of {', '.join(CHAT_FORMATS)}, got {value!r}"
            )
        cfg.chat_format = value
    if "splits" in data:
        splits = data["splits"]
        if not isinstance(splits, dict) or not splits:
            raise ConfigError(
                "'splits' must map split names to ratios, e.g. {train: 0.8, test: 0.2}"
            )
        for key, ratio in splits.items():
            if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio < 0:
                raise ConfigError(f"'splits.{key}' must be a ratio >= 0, got {ratio!r}")
        total = sum(float(r) for r in splits.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ConfigError(f"'splits' ratios must sum to 1, they sum to {total:g}")
        cfg.splits = {str(k): float(v) for k, v in splits.items()}
    if data.get("decontaminate") is not None:
        cfg.decontaminate = parse_decontaminate(data["decontaminate"], base_dir)
    if "decontaminate_n" in data:
        n = _opt_int(data["decontaminate_n"], "decontaminate_n", minimum=1)
        cfg.decontaminate_n = 13 if n is None else n
    if cfg.max_length is not None and cfg.tokenizer is None:
        raise ConfigError(
            "'tokenizer' is required when 'max_length' is set (lengths are counted in tokens of "
            "the model you will train); set max_length: null to skip the length step"
        )
    if cfg.chat_format == "tokenizer" and cfg.tokenizer is None:
        raise ConfigError("'chat_format: tokenizer' needs 'tokenizer' to be set")
    if cfg.max_length is not None and cfg.reserve_tokens >= cfg.max_length:
        raise ConfigError("'reserve_tokens' must be smaller than 'max_length'")
    return cfg


def parse_decontaminate(value: Any, base_dir: Path) -> list[str]:
    """A list of eval sets; relative paths that exist resolve against the recipe's folder, anything
    else (a Hub id such as cais/mmlu) is kept as written."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(
            "'decontaminate' must be a list of eval sets (MCQ files, folders or Hub ids), "
            "e.g. [../tests/data/mmlu]"
        )
    out = []
    for item in items:
        p = Path(item).expanduser()
        candidate = p if p.is_absolute() else base_dir / p
        out.append(str(candidate.resolve()) if candidate.exists() else item)
    return out


def load_config(path: str | Path) -> MergeConfig:
    """Read a YAML recipe; relative source paths are relative to the recipe's own folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
    if data is None:
        raise ConfigError(f"config {path} is empty")
    return parse_config(data, base_dir=path.resolve().parent)
