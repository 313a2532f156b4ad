"""Run lifecycle shared by the training commands: attach the run's callbacks, guard the
adapter's precision, train (or resume), then write adapter, plots, summary and model card.

A command (train-dpo, train-mcqa) builds its TRL trainer and calls, in order::

    log = attach_run_callbacks(trainer, output_dir, panels, ...)
    guard_adapter(trainer.model)
    result = train(trainer, resume_from)
    summary = finish_run(trainer, log, ...)
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stemqa.train.training.callbacks import LivePlots, MetricsLog, early_stopping
from stemqa.train.training.model import (
    check_trainable,
    count_parameters,
    keep_trainable_fp32,
    target_modules_of,
)
from stemqa.train.training.model_card import write_model_card
from stemqa.train.training.plots import Panel
from stemqa.train.training.runs import (
    ADAPTER_DIR,
    METRICS_FILE,
    PLOTS_DIR,
    environment,
    rename_eval_keys,
    write_summary,
)

logger = logging.getLogger(__name__)


def attach_run_callbacks(
    trainer: Any,
    output_dir: str | Path,
    panels: Sequence[Panel],
    *,
    plot_every: int = 0,
    patience: int | None = None,
    threshold: float = 0.0,
) -> LivePlots:
    """Add metrics.jsonl logging, live plots and (optional) early stopping to ``trainer``;
    returns the LivePlots (its ``.log`` is the MetricsLog)."""
    output_dir = Path(output_dir)
    log = MetricsLog(output_dir / METRICS_FILE)
    plots = LivePlots(log, output_dir / PLOTS_DIR, panels, every=plot_every)
    trainer.add_callback(log)
    trainer.add_callback(plots)
    stopper = early_stopping(trainer.args, patience, threshold)
    if stopper is not None:
        trainer.add_callback(stopper)
    return plots


def guard_adapter(model: Any) -> int:
    """fp32 trainable weights (TRL issue 7268 and bf16 rounding; see model.py), then fail if
    a DoRA magnitude vector still could not train. Returns how many tensors were upcast."""
    cast = keep_trainable_fp32(model)
    check_trainable(model)
    if cast:
        logger.info("kept %d trainable tensors in fp32 (TRL had cast them to bf16)", cast)
    return cast


def train(trainer: Any, resume_from: str | None):
    if resume_from:
        print(f"Resuming from {resume_from}", file=sys.stderr)
    return trainer.train(resume_from_checkpoint=resume_from)


def evaluate_split(
    trainer: Any, dataset: Any, label: str, log: MetricsLog | None
) -> dict[str, Any]:
    """Evaluate ``dataset`` with keys ``{label}_*`` (also logged to metrics.jsonl as phase
    ``label``)."""
    if log is not None:
        log.phase = label
    try:
        # The trainer's own eval split goes in as None: trainers prepare it once (tokenized,
        # reference log-probs precomputed) and would prepare an already prepared copy again.
        own = dataset is getattr(trainer, "eval_dataset", None)
        metrics = trainer.evaluate(eval_dataset=None if own else dataset, metric_key_prefix=label)
    finally:
        if log is not None:
            log.phase = "train"
    return rename_eval_keys(dict(metrics), label)


def finish_run(
    trainer: Any,
    plots: LivePlots,
    *,
    output_dir: str | Path,
    train_output: Any,
    eval_dataset: Any | None,
    test_dataset: Any | None,
    tokenizer: Any,
    base_model: str,
    method: str,
    title: str,
    hyperparameters: Mapping[str, Any],
    data: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    tags: Sequence[str] = (),
    command: str | None = None,
) -> dict[str, Any]:
    """Final eval/test evaluation, adapter + tokenizer to ``adapter/``, final plots, summary.json
    and README.md. Runs on every process (evaluation is distributed); writes on the main one."""
    output_dir = Path(output_dir)
    state = trainer.state
    results: dict[str, dict[str, Any]] = {}
    if eval_dataset is not None:
        results["eval"] = evaluate_split(trainer, eval_dataset, "eval", None)
    if test_dataset is not None:
        results["test"] = evaluate_split(trainer, test_dataset, "test", plots.log)

    adapter_dir = output_dir / ADAPTER_DIR
    trainer.save_model(str(adapter_dir))
    if not trainer.is_world_process_zero():
        return {}
    tokenizer.save_pretrained(str(adapter_dir))
    written = plots.redraw()

    model = trainer.model
    unwrapped = trainer.accelerator.unwrap_model(model)
    trainable, total = count_parameters(unwrapped)
    peft_config = unwrapped.peft_config["default"]
    max_steps = state.max_steps or 0
    stopped_early = bool(
        state.global_step < max_steps and trainer.control.should_training_stop and max_steps
    )
    summary: dict[str, Any] = {
        "method": method,
        "base_model": base_model,
        "adapter_dir": str(adapter_dir),
        "adapter_type": "dora" if peft_config.use_dora else "lora",
        "trainable_params": trainable,
        "total_params": total,
        "target_modules": list(target_modules_of(unwrapped)),
        "lora_r": peft_config.r,
        "lora_alpha": peft_config.lora_alpha,
        "lora_dropout": peft_config.lora_dropout,
        "global_step": state.global_step,
        "max_steps": max_steps,
        "epochs_completed": state.epoch,
        "stopped_early": stopped_early,
        "best_checkpoint": state.best_model_checkpoint,
        "best_metric": state.best_metric,
        "metric_for_best_model": trainer.args.metric_for_best_model,
        "train": dict(getattr(train_output, "metrics", {}) or {}),
        "eval": results.get("eval"),
        "test": results.get("test"),
        "hyperparameters": dict(hyperparameters),
        "data": dict(data),
        "plots": [str(p.relative_to(output_dir)) for p in written],
        "environment": environment(),
        **dict(extra or {}),
    }
    write_summary(output_dir, summary)
    write_model_card(
        output_dir,
        title=title,
        base_model=base_model,
        method=method,
        summary=summary,
        hyperparameters=hyperparameters,
        metrics={k: v for k, v in results.items() if v},
        data=data,
        plots=summary["plots"],
        tags=tags,
        command=command,
    )
    return summary
