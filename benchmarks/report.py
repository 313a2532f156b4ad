"""What every benchmark script ends with: a markdown table for docs/BENCHMARKS.md and the rows
as JSON, so results are pasted, not retyped."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> None:
    """A markdown table; ``align`` has one letter per column: 'l' left, anything else right."""
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if a == "l" else "---:" for a in align.ljust(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def write_json(path: Path | None, rows: object) -> None:
    if path is not None:
        path.write_text(json.dumps(rows, indent=2) + "\n")
