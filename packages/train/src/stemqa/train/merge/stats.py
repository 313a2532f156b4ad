"""Accounting for every candidate pair: read, dropped (by reason), kept, and where it went.

"Nothing is dropped silently" is enforced, not hoped for: `check()` fails the merge if a source's
candidates do not equal its kept rows plus its drops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REASONS = (
    "malformed",  # the row does not follow its schema
    "tie",  # the annotators (or ratings) preferred neither answer
    "empty",  # empty prompt, chosen or rejected after whitespace clean-up
    "identical",  # chosen == rejected
    "duplicate",  # exact repeat of an earlier pair (in this or an earlier source)
    "capped",  # over max_pairs_per_prompt for its prompt
    "sampled_out",  # not selected by fraction / rows
    "too_long",  # over max_length with length_policy: drop
    "contaminated",  # shares an n-gram with a `decontaminate` eval question
)
MAX_EXAMPLES = 50  # malformed rows listed per source in stats.json (all are counted)


@dataclass
class SourceStats:
    name: str
    location: str
    schema: str = ""
    rows_read: int = 0
    candidates: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    truncated: int = 0
    kept: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    malformed_rows: list[dict[str, Any]] = field(default_factory=list)

    def drop(self, reason: str, row: int | None = None, detail: str = "") -> None:
        self.dropped[reason] += 1
        if reason == "malformed" and len(self.malformed_rows) < MAX_EXAMPLES:
            self.malformed_rows.append({"row": row, "error": detail})

    def check(self) -> None:
        accounted = self.kept + sum(self.dropped.values())
        if accounted != self.candidates:
            raise AssertionError(
                f"source '{self.name}': {self.candidates} candidate pairs but {accounted} accounted for"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "location": self.location,
            "schema": self.schema,
            "rows_read": self.rows_read,
            "candidates": self.candidates,
            "dropped": dict(self.dropped),
            "truncated": self.truncated,
            "kept": self.kept,
            "splits": dict(self.splits),
            "warnings": list(self.warnings),
            "malformed_rows": list(self.malformed_rows),
        }


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fmt = lambda r: "  ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
    )
    rule = "  ".join("-" * w for w in widths)
    lines = [fmt(cells[0]), rule] + [fmt(r) for r in cells[1:-1]]
    return "\n".join([*lines, rule, fmt(cells[-1])])


def format_stats(stats: dict[str, Any]) -> str:
    """The human-readable summary `merge-datasets` prints (stats.json holds the same numbers)."""
    sources = stats["sources"]
    split_names = list(stats["splits"])
    short = {"malformed": "malformed", "sampled_out": "unsampled", "too_long": "too_long"}
    header = ["source", "schema", "read", "pairs"]
    header += [short.get(r, r) for r in REASONS] + ["kept", "truncated", *split_names]
    rows = []
    for s in sources:
        rows.append(
            [s["name"], s["schema"], s["rows_read"], s["candidates"]]
            + [s["dropped"][r] for r in REASONS]
            + [s["kept"], s["truncated"]]
            + [s["splits"].get(n, 0) for n in split_names]
        )
    total = stats["totals"]
    rows.append(
        ["TOTAL", "", total["rows_read"], total["candidates"]]
        + [total["dropped"][r] for r in REASONS]
        + [total["kept"], total["truncated"]]
        + [stats["splits"][n]["rows"] for n in split_names]
    )
    kept = max(total["kept"], 1)
    split_rows = [
        [n, s["rows"], s["prompts"], f"{s['rows'] / kept:.3f}", f"{s['ratio']:.3f}"]
        for n, s in stats["splits"].items()
    ]
    split_rows.append(
        [
            "TOTAL",
            total["kept"],
            sum(s["prompts"] for s in stats["splits"].values()),
            "1.000",
            "1.000",
        ]
    )
    out = [
        "Rows per source (read = source rows; pairs = candidate pairs; then drops by reason):",
        _table(header, rows),
        "",
        "Splits (no prompt appears in two splits):",
        _table(["split", "rows", "prompts", "share", "target"], split_rows),
    ]
    warnings = [f"  {s['name']}: {w}" for s in sources for w in s["warnings"]]
    if warnings:
        out += ["", "Warnings:", *warnings]
    return "\n".join(out)
