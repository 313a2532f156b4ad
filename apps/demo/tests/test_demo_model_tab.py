"""Model tab helpers: reading a run's metrics, refusing bad run folders, pushing safely."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest

from stemqa.demo.tabs.model import push, read_metrics, show_run


def test_read_metrics_keeps_loss_and_accuracy_and_skips_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"step": 1, "loss": 0.7, "rewards/accuracies": 0.5, "lr": 1e-4}),
        "{not json",
        "",
        json.dumps({"step": 2, "loss": 0.6}),
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines))
    frame = read_metrics(tmp_path)
    assert list(frame["step"]) == [1, 1, 2]
    assert list(frame["metric"]) == ["loss", "rewards accuracies", "loss"]
    assert list(frame["value"]) == [0.7, 0.5, 0.6]


def test_show_run_refuses_folders_that_are_not_runs(tmp_path: Path) -> None:
    with pytest.raises(gr.Error, match="does not exist"):
        show_run(str(tmp_path / "missing"))
    with pytest.raises(gr.Error, match="neither plots"):
        show_run(str(tmp_path))


def test_push_needs_a_token_unless_dry_run_and_never_echoes_it(tmp_path: Path) -> None:
    with pytest.raises(gr.Error, match="token"):
        push(None, str(tmp_path), "user/name", "", private=True, dry_run=False)  # type: ignore[arg-type]
    secret = "hf_" + "x" * 20
    with pytest.raises(gr.Error) as err:  # a token pasted as repo id: push_adapter quotes it back
        push(None, str(tmp_path), secret, secret, private=True, dry_run=False)  # type: ignore[arg-type]
    assert secret not in str(err.value) and "***" in str(err.value)
    with pytest.raises(gr.Error, match="no trained adapter"):  # names the folder's problem
        push(None, str(tmp_path), "user/name", "", private=True, dry_run=True)  # type: ignore[arg-type]
