"""Trainer callbacks shared by train-dpo and train-mcqa.

* :class:`MetricsLog` appends every log event to ``metrics.jsonl`` (one JSON object per line,
  with step/epoch/time): the machine-readable record the plots and the model card are drawn
  from, and that survives a crash mid-run.
* :class:`LivePlots` redraws the PNGs on each evaluation and checkpoint save (optionally also
  every ``every`` train logs), and a last time at the end, so a long run can be watched.
* :func:`early_stopping` is transformers' EarlyStoppingCallback, after checking the settings it
  silently depends on.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import EarlyStoppingCallback, TrainerCallback

from stemqa.train.training.plots import Panel, write_plots


def read_metrics(path: str | Path, *, report: bool = True) -> list[dict[str, Any]]:
    """Records of a metrics.jsonl (missing file: empty list).

    A line that is not a JSON object - typically the last one, torn by a crash mid-write - is
    skipped and reported in one line on stderr (``report``), never raised: the records before
    it are the run's history and a resume must not die on them.
    """
    path = Path(path)
    if not path.is_file():
        return []
    records, torn = [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            torn.append(number)
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            torn.append(number)
    if torn and report:
        which = "the last line" if torn == [number] else f"line(s) {', '.join(map(str, torn))}"
        print(
            f"note: {path}: skipped {which} (not a complete JSON record, e.g. torn by a crash "
            "mid-write)",
            file=sys.stderr,
        )
    return records


def _before_checkpoint(record: dict[str, Any], step: int) -> bool:
    """Whether ``record`` was logged before checkpoint ``step`` was saved: train logs and
    evaluations up to that step; not the end-of-run records (train_runtime, test phase) of an
    earlier run that finished there."""
    at = record.get("step")
    if not isinstance(at, int | float):
        return False
    if at < step:
        return True
    return at == step and record.get("phase", "train") == "train" and "train_runtime" not in record


def truncate_metrics(path: str | Path, step: int) -> tuple[int, int]:
    """Cut a metrics.jsonl back to what was logged up to checkpoint ``step`` (resume), so the
    resumed run's steps are not logged twice. Rewritten atomically (temp file, then rename);
    torn lines are dropped (and reported). Returns (kept, dropped) record counts."""
    path = Path(path)
    if not path.is_file():
        return 0, 0
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    records = read_metrics(path)
    kept = [r for r in records if _before_checkpoint(r, step)]
    dropped = len(lines) - len(kept)
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        tmp.replace(path)
        print(
            f"note: {path}: resuming from step {step}: dropped {dropped} line(s) logged after "
            "that checkpoint",
            file=sys.stderr,
        )
    return len(kept), dropped


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
    """Redraw the run's PNGs from a :class:`MetricsLog` during training and at the end.

    When: on every evaluation, on every checkpoint save (if new records arrived since the last
    draw), at the end, and - only when ``every`` > 0 - every ``every`` train logs. Why not every
    few train logs by default: one redraw of three PNGs costs about 1 s of the training thread
    (plus 1.5 s to import matplotlib the first time), which made train-dpo 1.6x slower per step
    than ``trl dpo`` in benchmarks/dpo_step.py; eval/save events are where the curves gain
    their eval points anyway, and they are already slow steps.
    """

    def __init__(
        self, log: MetricsLog, out_dir: str | Path, panels: Sequence[Panel], every: int = 0
    ):
        self.log = log
        self.out_dir = Path(out_dir)
        self.panels = tuple(panels)
        self.every = max(0, every)
        self._train_logs = 0
        self._drawn_records = -1  # len(log.records) at the last redraw

    def redraw(self) -> list[Path]:
        self._drawn_records = len(self.log.records)
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
        elif self.every:
            self._train_logs += 1
            if self._train_logs % self.every == 0:
                self.redraw()

    def on_save(self, args, state, control, **kwargs):
        # An eval at the same step already redrew: skip when nothing was logged since.
        if state.is_world_process_zero and len(self.log.records) != self._drawn_records:
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
        raise SystemExit(
            "error: early_stopping_patience needs evaluation: set eval_strategy to 'steps' or 'epoch' "
            "(or set early_stopping_patience: 0 to turn early stopping off)"
        )
    if not args.load_best_model_at_end:
        raise SystemExit(
            "error: early_stopping_patience needs load_best_model_at_end: true (the best adapter is kept)"
        )
    if not args.metric_for_best_model:
        raise SystemExit(
            "error: early_stopping_patience needs metric_for_best_model (e.g. eval_loss)"
        )


def early_stopping(args: Any, patience: int | None, threshold: float = 0.0):
    """transformers' EarlyStoppingCallback after :func:`check_early_stopping_args`; None when
    patience is 0/None."""
    if patience is None or patience <= 0:
        return None
    check_early_stopping_args(args, patience)
    return EarlyStoppingCallback(
        early_stopping_patience=patience, early_stopping_threshold=threshold
    )
