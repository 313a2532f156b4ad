"""PNG plots of a run's metrics (the report's Figures 1 and 2, plus reward margins).

Panels are declared by metric name, so DPO (rewards/accuracies) and SFT (mean_token_accuracy)
share the code: a panel draws each of its keys that appears in the log, against the step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Panel:
    """One PNG: ``file`` name, ``title``, and the metric keys to draw (train and eval)."""

    file: str
    title: str
    keys: tuple[str, ...]
    ylabel: str = ""


#: train-dpo's plots: loss, reward accuracy and reward margin, each train vs eval.
DPO_PANELS: tuple[Panel, ...] = (
    Panel("loss.png", "DPO loss", ("loss", "eval_loss"), "loss"),
    Panel(
        "reward_accuracy.png",
        "Reward accuracy",
        ("rewards/accuracies", "eval_rewards/accuracies"),
        "accuracy",
    ),
    Panel(
        "reward_margin.png", "Reward margin", ("rewards/margins", "eval_rewards/margins"), "margin"
    ),
)


def series(records: Iterable[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    steps, values = [], []
    for record in records:
        value = record.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            steps.append(float(record.get("step", len(steps))))
            values.append(float(value))
    return steps, values


def write_plots(
    records: Sequence[dict[str, Any]], out_dir: str | Path, panels: Sequence[Panel]
) -> list[Path]:
    """Write one PNG per panel that has data; returns the files written. Atomic (write then
    rename), so a viewer refreshing during training never sees a half-written file."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for panel in panels:
        drawn = False
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        for key in panel.keys:
            steps, values = series(records, key)
            if not values:
                continue
            label = "eval" if key.startswith("eval_") else "train"
            style = "o-" if label == "eval" else "-"
            ax.plot(steps, values, style, label=f"{label} ({key})", markersize=3)
            drawn = True
        if drawn:
            ax.set_title(panel.title)
            ax.set_xlabel("optimizer step")
            ax.set_ylabel(panel.ylabel)
            ax.grid(alpha=0.3)
            ax.legend()
            fig.tight_layout()
            target = out / panel.file
            tmp = target.with_suffix(".tmp.png")
            fig.savefig(tmp)
            tmp.replace(target)
            written.append(target)
        plt.close(fig)
    return written
