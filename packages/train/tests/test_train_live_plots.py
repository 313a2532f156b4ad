"""When LivePlots redraws: at evaluations, checkpoint saves and the end, not every few train
logs (unless asked), so plotting stays off the training steps (benchmarks/dpo_step.py)."""

from __future__ import annotations

from transformers import TrainerControl, TrainerState, TrainingArguments

from stemqa.train.training.callbacks import LivePlots, MetricsLog
from stemqa.train.training.plots import DPO_PANELS


def _events(tmp_path, every: int):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    plots = LivePlots(log, tmp_path / "plots", DPO_PANELS[:1], every=every)
    drawn: list[int] = []
    real = plots.redraw

    def counting_redraw():
        drawn.append(len(log.records))
        return real()

    plots.redraw = counting_redraw
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none")
    state, control = TrainerState(), TrainerControl()

    def train_log(step: int) -> None:
        state.global_step = step
        logs = {"loss": 1.0 / step}
        log.on_log(args, state, control, logs=logs)
        plots.on_log(args, state, control, logs=logs)

    def eval_log(step: int) -> None:
        state.global_step = step
        logs = {"eval_loss": 0.5}
        log.on_log(args, state, control, logs=logs)
        plots.on_log(args, state, control, logs=logs)

    return plots, drawn, train_log, eval_log, (args, state, control)


def test_default_redraws_at_eval_save_and_end_only(tmp_path):
    plots, drawn, train_log, eval_log, (args, state, control) = _events(tmp_path, every=0)
    for step in range(1, 11):
        train_log(step)
    assert drawn == []  # ten train logs: no redraw on the training steps
    eval_log(10)
    assert drawn == [11]
    plots.on_save(args, state, control)  # same step as the eval: nothing new, no second draw
    assert drawn == [11]
    train_log(11)
    plots.on_save(args, state, control)  # new record since the eval: redraw
    assert drawn == [11, 12]
    plots.on_train_end(args, state, control)
    assert drawn == [11, 12, 12]
    assert (tmp_path / "plots" / "loss.png").stat().st_size > 1000


def test_plot_every_still_redraws_every_n_train_logs(tmp_path):
    _, drawn, train_log, _, _ = _events(tmp_path, every=2)
    for step in range(1, 6):
        train_log(step)
    assert drawn == [2, 4]
