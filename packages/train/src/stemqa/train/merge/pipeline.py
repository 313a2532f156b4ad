"""The merge itself: read -> normalise -> clean -> dedup -> cap -> sample -> format -> fit -> split.

Every random choice (which pairs survive the per-prompt cap, which rows a fraction keeps, which
prompts land in which split, row order) draws from its own generator seeded by the recipe seed
and a label, so changing one source never reshuffles another.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import yaml
from tqdm.auto import tqdm

from stemqa.core.loading import load_tokenizer

from .config import ConfigError, MergeConfig, SourceConfig
from .lengths import (
    TOO_LONG,
    TRUNCATED,
    TokenCounter,
    count_tokens,
    fit_pairs,
    token_upper_bound,
)
from .records import Dropped, MergeError, Pair, RowError
from .schemas import Schema, SchemaError, detect_schema
from .sources import LoadedSource, SourceError, load_source
from .stats import REASONS, SourceStats, format_stats
from .text import clean_text, messages_for, render_chatml, render_plain

OUTPUT_COLUMNS = ("prompt", "chosen", "rejected", "source")


@dataclass
class MergeResult:
    dataset: datasets.DatasetDict
    stats: dict[str, Any]
    config: MergeConfig

    def table(self) -> str:
        return format_stats(self.stats)

    def save(self, out_dir: str | Path) -> Path:
        """DatasetDict via save_to_disk, plus stats.json and the resolved recipe."""
        out = Path(out_dir)
        self.dataset.save_to_disk(str(out))
        (out / "stats.json").write_text(json.dumps(self.stats, indent=2) + "\n", encoding="utf-8")
        (out / "merge_config.yaml").write_text(
            yaml.safe_dump(self.config.to_dict(), sort_keys=False), encoding="utf-8"
        )
        return out


def _rng(seed: int, *labels: str) -> random.Random:
    return random.Random(":".join([str(seed), *labels]))


def load_merge_tokenizer(config: MergeConfig):
    """The target model's tokenizer, loaded the way every stemqa command loads it."""
    try:
        return load_tokenizer(config.tokenizer, revision=config.tokenizer_revision)
    except Exception as exc:
        raise ConfigError(
            f"'tokenizer': cannot load '{config.tokenizer}': {type(exc).__name__}: {exc}"
        ) from exc


def read_sources(
    config: MergeConfig, *, cache_dir: str | None = None, progress: bool = False
) -> list[LoadedSource]:
    """Read every source before any work, and report all unreadable ones together."""
    loaded, errors = [], []
    for src in tqdm(config.sources, desc="reading sources", unit="source", disable=not progress):
        try:
            loaded.append(load_source(src, cache_dir=cache_dir))
        except SourceError as exc:
            errors.append(str(exc))
    if errors:
        raise SourceError("\n".join(errors))
    return loaded


def _resolve_schemas(loaded: Sequence[LoadedSource]) -> list[Schema]:
    schemas = []
    for ls in loaded:
        sample = {c: v[0] for c, v in ls.data.items()} if ls.num_rows else None
        try:
            schemas.append(detect_schema(ls.columns, sample, requested=ls.config.schema))
        except SchemaError as exc:
            raise SchemaError(f"source '{ls.config.name}' ({ls.config.location}): {exc}") from None
    return schemas


def _clean(pair: Pair) -> Pair:
    pair.prompt = clean_text(pair.prompt)
    pair.chosen = clean_text(pair.chosen)
    pair.rejected = clean_text(pair.rejected)
    pair.system = clean_text(pair.system)
    if pair.history:
        pair.history = tuple((role, clean_text(content)) for role, content in pair.history)
    return pair


def normalize_source(
    ls: LoadedSource, schema: Schema, stats: SourceStats, seen: set, *, progress: bool = False
) -> list[Pair]:
    """Rows -> clean, non-empty, non-identical pairs not seen in this or an earlier source."""
    wanted = [c for c in (*schema.required, *schema.optional) if c in ls.data]
    columns = [(c, ls.data[c]) for c in wanted]
    out: list[Pair] = []
    for i in tqdm(
        range(ls.num_rows), desc=f"normalising {ls.config.name}", unit="row", disable=not progress
    ):
        stats.rows_read += 1
        row = {c: values[i] for c, values in columns}
        try:
            items = list(schema.convert(row, i))
        except RowError as exc:
            stats.candidates += 1
            stats.drop("malformed", i, str(exc))
            continue
        for item in items:
            stats.candidates += 1
            if isinstance(item, Dropped):
                stats.drop(item.reason, item.row, item.detail)
                continue
            pair = _clean(item)
            if not pair.prompt or not pair.chosen or not pair.rejected:
                stats.drop("empty")
            elif pair.chosen == pair.rejected:
                stats.drop("identical")
            else:
                key = pair.key()
                if key in seen:
                    stats.drop("duplicate")
                else:
                    seen.add(key)
                    out.append(pair)
    return out


def drop_contaminated(pairs: list[Pair], index, stats: SourceStats) -> list[Pair]:
    """Drop pairs any of whose texts shares an n-gram with a `decontaminate` eval question."""
    flags = index.contaminated(
        [
            (p.system, *(content for _, content in p.history), p.prompt, p.chosen, p.rejected)
            for p in pairs
        ]
    )
    stats.dropped["contaminated"] += sum(flags)
    return [p for p, bad in zip(pairs, flags, strict=True) if not bad]


def decontamination_index(config: MergeConfig):
    """The eval sets' n-gram index, or None when the recipe has no `decontaminate` list."""
    if not config.decontaminate:
        return None
    from stemqa.train.contamination import ContaminationError
    from stemqa.train.contamination import decontamination_index as build

    try:
        return build(config.decontaminate, n=config.decontaminate_n)
    except ContaminationError as exc:
        raise ConfigError(f"'decontaminate': {exc}") from None


def cap_per_prompt(
    pairs: list[Pair], cap: int | None, rng: random.Random, stats: SourceStats
) -> list[Pair]:
    """Keep at most `cap` pairs per prompt; which ones is a seeded choice, order is preserved."""
    if cap is None:
        return pairs
    groups: dict[tuple, list[int]] = defaultdict(list)
    for idx, pair in enumerate(pairs):
        groups[pair.prompt_key()].append(idx)
    removed: set[int] = set()
    for members in groups.values():
        if len(members) > cap:
            keep = set(rng.sample(members, cap))
            removed.update(m for m in members if m not in keep)
    stats.dropped["capped"] += len(removed)
    return [p for idx, p in enumerate(pairs) if idx not in removed]


def sample_pairs(
    pairs: list[Pair], src: SourceConfig, rng: random.Random, stats: SourceStats
) -> list[Pair]:
    """Seeded `fraction` / `rows` selection after shuffling; never oversamples."""
    n = len(pairs)
    if src.fraction is not None:
        k = round(src.fraction * n)
        if n and k == 0:
            k = 1
    elif src.rows is not None:
        k = src.rows
        if k > n:
            stats.warnings.append(
                f"asked for rows: {k} but only {n} pairs remain after clean-up; keeping all {n} "
                "(no oversampling)"
            )
            k = n
    else:
        return pairs
    order = list(range(n))
    rng.shuffle(order)
    chosen = sorted(order[:k])
    stats.dropped["sampled_out"] += n - k
    return [pairs[i] for i in chosen]


def render_prompt(pair: Pair, chat_format: str, tokenizer) -> str:
    if chat_format == "none":
        return render_plain(pair)
    if chat_format == "chatml":
        return render_chatml(messages_for(pair))
    return tokenizer.apply_chat_template(
        messages_for(pair), tokenize=False, add_generation_prompt=True
    )


def split_targets(total: int, ratios: dict[str, float]) -> dict[str, int]:
    """Row targets per split by largest remainder, so they sum exactly to `total`."""
    raw = {name: ratio * total for name, ratio in ratios.items()}
    targets = {name: int(value) for name, value in raw.items()}
    leftover = total - sum(targets.values())
    by_remainder = sorted(raw, key=lambda n: (-(raw[n] - targets[n]), list(raw).index(n)))
    for name in by_remainder[:leftover]:
        targets[name] += 1
    return targets


def assign_splits(keys: Sequence[tuple], ratios: dict[str, float], rng: random.Random) -> list[str]:
    """Split by prompt: all rows of a prompt go to one split, which keeps eval and test free of
    prompts seen in training. Prompts are visited in seeded random order and each goes to the
    split furthest below its row target (exact when every prompt has one row)."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for idx, key in enumerate(keys):
        groups[key].append(idx)
    order = list(groups)
    rng.shuffle(order)
    targets = split_targets(len(keys), ratios)
    filled = dict.fromkeys(ratios, 0)
    names = list(ratios)
    assignment = [""] * len(keys)
    for key in order:
        members = groups[key]
        best = max(names, key=lambda n: (targets[n] - filled[n], -names.index(n)))
        filled[best] += len(members)
        for idx in members:
            assignment[idx] = best
    return assignment


def merge_preferences(
    config: MergeConfig,
    *,
    tokenizer=None,
    cache_dir: str | None = None,
    progress: bool = False,
) -> MergeResult:
    """Run a recipe end to end and return the DatasetDict with its accounting."""
    if tokenizer is None and (config.max_length is not None or config.chat_format == "tokenizer"):
        tokenizer = load_merge_tokenizer(config)
    if config.chat_format == "tokenizer" and not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            f"'chat_format: tokenizer' but tokenizer '{config.tokenizer}' has no chat template; "
            "use chat_format: chatml or none"
        )
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    loaded = read_sources(config, cache_dir=cache_dir, progress=progress)
    lap("read")
    contamination = decontamination_index(config)
    schemas = _resolve_schemas(loaded)

    seen: set = set()
    all_stats: list[SourceStats] = []
    rows: list[tuple[int, Pair]] = []  # (source index, pair)
    for s_idx, (ls, schema) in enumerate(zip(loaded, schemas, strict=True)):
        src = ls.config
        stats = SourceStats(name=src.name, location=src.location, schema=schema.name)
        all_stats.append(stats)
        pairs = normalize_source(ls, schema, stats, seen, progress=progress)
        if contamination is not None:
            pairs = drop_contaminated(pairs, contamination, stats)
        pairs = cap_per_prompt(
            pairs, config.cap_for(src), _rng(config.seed, "cap", src.name), stats
        )
        pairs = sample_pairs(pairs, src, _rng(config.seed, "sample", src.name), stats)
        if not pairs:
            stats.warnings.append("no pairs left from this source")
        rows.extend((s_idx, p) for p in pairs)
    lap("normalize")

    prompts = [render_prompt(p, config.chat_format, tokenizer) for _, p in rows]
    chosen = [p.chosen for _, p in rows]
    rejected = [p.rejected for _, p in rows]
    keep = [True] * len(rows)
    lap("format")
    if config.max_length is not None:
        try:
            counter = TokenCounter(tokenizer)
        except ValueError as exc:
            raise ConfigError(f"'tokenizer': {exc}") from None
        budget = config.max_length - config.reserve_tokens
        plain_systems = [p.system if config.chat_format == "none" else "" for _, p in rows]
        # Only pairs that might not fit are tokenised: a cheap byte bound clears the rest.
        bound = {}
        for text in (*prompts, *chosen, *rejected, *plain_systems):
            if text not in bound:
                bound[text] = token_upper_bound(text) if text else 0
        maybe_long = [
            i
            for i in range(len(rows))
            if bound[plain_systems[i]]
            + bound[prompts[i]]
            + max(bound[chosen[i]], bound[rejected[i]])
            > budget
        ]
        texts = [
            t
            for i in maybe_long
            for t in (prompts[i], chosen[i], rejected[i], plain_systems[i])
            if t
        ]
        with tqdm(
            total=len(set(texts)), desc="counting tokens", unit="text", disable=not progress
        ) as bar:
            lengths = count_tokens(counter, texts, cap=budget, progress=bar.update)
        lengths[""] = 0
        fitted = fit_pairs(
            counter,
            [(prompts[i], chosen[i], rejected[i]) for i in maybe_long],
            lengths,
            [budget - lengths[plain_systems[i]] for i in maybe_long],
            config.length_policy,
        )
        for i, fit in zip(maybe_long, fitted, strict=True):
            s_idx = rows[i][0]
            if fit.status == TOO_LONG:
                keep[i] = False
                all_stats[s_idx].drop("too_long")
            elif fit.status == TRUNCATED:
                all_stats[s_idx].truncated += 1
                prompts[i], chosen[i], rejected[i] = fit.prompt, fit.chosen, fit.rejected
    lap("length")
    kept_idx = [i for i in range(len(rows)) if keep[i]]
    split_of = assign_splits(
        [rows[i][1].prompt_key() for i in kept_idx], config.splits, _rng(config.seed, "split")
    )
    with_system = config.chat_format == "none" and any(rows[i][1].system for i in kept_idx)
    columns = [*OUTPUT_COLUMNS, "system"] if with_system else list(OUTPUT_COLUMNS)
    by_split: dict[str, list[int]] = {name: [] for name in config.splits}
    for i, split in zip(kept_idx, split_of, strict=True):
        by_split[split].append(i)

    features = datasets.Features({c: datasets.Value("string") for c in columns})
    split_stats: dict[str, Any] = {}
    dsets = {}
    for name, members in by_split.items():
        _rng(config.seed, "order", name).shuffle(members)
        data: dict[str, list[str]] = {c: [] for c in columns}
        per_source: dict[str, int] = defaultdict(int)
        for i in members:
            s_idx, pair = rows[i]
            src_name = all_stats[s_idx].name
            data["prompt"].append(prompts[i])
            data["chosen"].append(chosen[i])
            data["rejected"].append(rejected[i])
            data["source"].append(src_name)
            if with_system:
                data["system"].append(pair.system)
            per_source[src_name] += 1
            all_stats[s_idx].kept += 1
            all_stats[s_idx].splits[name] = all_stats[s_idx].splits.get(name, 0) + 1
        dsets[name] = datasets.Dataset.from_dict(data, features=features)
        split_stats[name] = {
            "rows": len(members),
            "prompts": len({rows[i][1].prompt_key() for i in members}),
            "ratio": config.splits[name],
            "sources": dict(per_source),
        }
    for stats in all_stats:
        stats.check()
    lap("split_and_build")

    totals = {
        "rows_read": sum(s.rows_read for s in all_stats),
        "candidates": sum(s.candidates for s in all_stats),
        "dropped": {r: sum(s.dropped[r] for s in all_stats) for r in REASONS},
        "truncated": sum(s.truncated for s in all_stats),
        "kept": sum(s.kept for s in all_stats),
    }
    stats_out = {
        "seed": config.seed,
        "tokenizer": config.tokenizer,
        "max_length": config.max_length,
        "length_policy": config.length_policy,
        "chat_format": config.chat_format,
        "decontaminate": {"eval_sets": list(config.decontaminate), "n": config.decontaminate_n}
        if config.decontaminate
        else None,
        "columns": columns,
        "sources": [s.to_dict() for s in all_stats],
        "splits": split_stats,
        "totals": totals,
        "timings_s": timings,
    }
    return MergeResult(datasets.DatasetDict(dsets), stats_out, config)


__all__ = [
    "MergeError",
    "MergeResult",
    "assign_splits",
    "cap_per_prompt",
    "load_merge_tokenizer",
    "merge_preferences",
    "read_sources",
    "sample_pairs",
    "split_targets",
]
