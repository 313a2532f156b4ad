"""Trainer callbacks shared by train-dpo and train-mcqa.

* :class:`MetricsLog` appends every log event to ``metrics.jsonl`` (one JSON object per line,
  with step/epoch/time): the machine-readable record the plots and the model card are drawn
  from, and that survives a crash mid-run.
* :class:`LivePlots` redraws the PNGs on each evaluation (and every ``every`` train logs), and
  a last time at the end, so a long run can be watched.
* :func:`early_stopping` is transformers' EarlyStoppingCallback, after checking the settings it
  silently depends on.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import EarlyStoppingCallback, TrainerCallback

from stemqa.train.training.plots import Panel, write_plots


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Records of a metrics.jsonl (missing file: empty list)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog(TrainerCallback):
    """Append each ``on_log`` event to ``path`` as JSON. ``phase`` tags records ("train" by
    default; set it to "test" before a final test-split evaluation so that its keys are renamed
    from eval_* to test_*)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.phase = "train"
        self.records: list[dict[str, Any]] = read_metrics(self.path)  # resume keeps history

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record: dict[str, Any] = {
            "step": state.global_step,
            "epoch": state.epoch,
            "time": time.time(),
        }
        for key, value in logs.items():
            if self.phase == "test" and key.startswith("eval_"):
                key = "test_" + key[len("eval_") :]
            record[key] = _clean(value)
        if self.phase != "train":
            record["phase"] = self.phase
        self.records.append(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


class LivePlots(TrainerCallback):
    """Redraw the run's PNGs from a :class:`MetricsLog` during training and at the end."""

    def __init__(
        self, log: MetricsLog, out_dir: str | Path, panels: Sequence[Panel], every: int = 5
    ):
        self.log = log
        self.out_dir = Path(out_dir)
        self.panels = tuple(panels)
        self.every = max(1, every)
        self._train_logs = 0

    def redraw(self) -> list[Path]:
        return write_plots(
            [r for r in self.log.records if r.get("phase", "train") == "train"],
            self.out_dir,
            self.panels,
        )

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if any(k.startswith("eval_") for k in logs):
            self.redraw()
        else:
            self._train_logs += 1
            if self._train_logs % self.every == 0:
                self.redraw()

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.redraw()


def check_early_stopping_args(args: Any, patience: int | None) -> None:
    """Early stopping and "keep the best adapter" need evaluation, matching save steps and a
    metric; transformers fails late or not at all when these are off, so fail first, naming
    the key to change."""
    if patience is None or patience <= 0:
        return
    if str(args.eval_strategy).split(".")[-1].lower() in ("no", "none"):
        raise ValueError(
            "early_stopping_patience needs evaluation: set eval_strategy to 'steps' or 'epoch' "
            "(or set early_stopping_patience: 0 to turn early stopping off)"
        )
    if not args.load_best_model_at_end:
        raise ValueError(
            "early_stopping_patience needs load_best_model_at_end: true (the best adapter is kept)"
        )
    if not args.metric_for_best_model:
        raise ValueError("early_stopping_patience needs metric_for_best_model (e.g. eval_loss)")


def early_stopping(args: Any, patience: int | None, threshold: float = 0.0):
    """transformers' EarlyStoppingCallback after :func:`check_early_stopping_args`; None when
    patience is 0/None."""
    if patience is None or patience <= 0:
        return None
    check_early_stopping_args(args, patience)
    return EarlyStoppingCallback(
        early_stopping_patience=patience, early_stopping_threshold=threshold
    )
