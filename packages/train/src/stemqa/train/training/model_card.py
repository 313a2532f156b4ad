"""Model card (README.md) for a trained adapter, written from the run's own records.

Everything in it comes from summary/metrics data the run wrote, so the card cannot claim a
number the run did not measure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _table(rows: Mapping[str, Any], headers: tuple[str, str] = ("", "")) -> list[str]:
    lines = [f"| {headers[0]} | {headers[1]} |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in rows.items() if v is not None]
    return lines


def write_model_card(
    folder: str | Path,
    *,
    title: str,
    base_model: str,
    method: str,
    summary: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
    metrics: Mapping[str, Mapping[str, Any]],
    data: Mapping[str, Any],
    plots: Sequence[str] = (),
    tags: Sequence[str] = (),
    command: str | None = None,
) -> Path:
    """Write ``folder/README.md`` with Hub front matter. ``metrics`` maps a split label (eval,
    test) to its metrics; ``plots`` are paths relative to ``folder``."""
    front = [
        "---",
        f"base_model: {base_model}",
        "library_name: peft",
        "pipeline_tag: text-generation",
        "tags:",
        *[f"- {t}" for t in ("stemqa", "trl", "peft", *tags)],
        "---",
        "",
        f"# {title}",
        "",
        f"A {method} adapter for [{base_model}](https://huggingface.co/{base_model}), trained "
        "with [stemqa](https://github.com/) (TRL + peft).",
        "",
        "## Use",
        "",
        "```python",
        "from stemqa.core import load_model",
        "",
        f'model, tokenizer = load_model("{base_model}", adapter="PATH_OR_REPO_ID", quantization="nf4")',
        "```",
        "",
        "## Adapter",
        "",
        *_table(
            {
                k: summary.get(k)
                for k in (
                    "adapter_type",
                    "trainable_params",
                    "total_params",
                    "target_modules",
                    "lora_r",
                    "lora_alpha",
                    "lora_dropout",
                    "quantization",
                    "reference",
                )
            },
            ("setting", "value"),
        ),
        "",
        "## Training data",
        "",
        f"Source: `{data.get('source')}`",
        "",
        *_table({f"{k} rows": v for k, v in (data.get("rows") or {}).items()}, ("split", "rows")),
        "",
    ]
    if data.get("stats"):
        front += [
            "Data recipe statistics (from the data command's stats.json):",
            "",
            "```json",
            json.dumps(data["stats"], indent=2)[:6000],
            "```",
            "",
        ]
    front += ["## Hyperparameters", "", *_table(hyperparameters, ("option", "value")), ""]
    for label, values in metrics.items():
        if values:
            front += [f"## Results: {label}", "", *_table(dict(values), ("metric", "value")), ""]
    run = {
        k: summary.get(k)
        for k in (
            "global_step",
            "epochs_completed",
            "stopped_early",
            "best_checkpoint",
            "best_metric",
        )
    }
    front += ["## Run", "", *_table(run, ("", "")), ""]
    if plots:
        front += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    if command:
        front += ["## Reproduce", "", "```bash", command, "```", ""]
    env = summary.get("environment")
    if env:
        front += ["## Environment", "", *_table(env, ("", "")), ""]
    path = Path(folder) / "README.md"
    path.write_text("\n".join(front))
    return path
