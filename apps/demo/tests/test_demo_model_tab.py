"""Model tab helpers: reading a run's metrics, refusing bad run folders, pushing safely."""

from __future__ import annotations

import json
from pathlib import Path

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
    plots, curves, message = show_run(str(tmp_path / "missing"))
    assert (
        plots == []
        and curves.empty
        and message.startswith("✗ Run folder")
        and "not found" in message
    )
    assert "neither plots" in show_run(str(tmp_path))[2]


def test_push_errors_are_inline_clear_the_token_and_never_echo_it(tmp_path: Path) -> None:
    message, token = push(None, str(tmp_path), "user/name", "", private=True, dry_run=False)  # type: ignore[arg-type]
    assert "token" in message and token == ""
    secret = "hf_" + "x" * 20
    # a token pasted as repo id: the error quotes the repo id back, masked, in the tab's words
    message, token = push(None, str(tmp_path), secret, secret, private=True, dry_run=False)  # type: ignore[arg-type]
    assert secret not in message and "***" in message and token == ""
    assert message.startswith("✗ Push failed: Repo id") and "--repo-id" not in message
    message, _ = push(None, str(tmp_path), "user/name", "", private=True, dry_run=True)  # type: ignore[arg-type]
    assert "no trained adapter" in message and "output_dir" not in message  # no CLI advice
    assert push(None, str(tmp_path / "nope"), "u/n", "t", private=True, dry_run=False)[0] == (  # type: ignore[arg-type]
        f"✗ Folder {tmp_path / 'nope'} not found."
    )


def test_model_source_check_speaks_the_tabs_words(tmp_path: Path, monkeypatch) -> None:
    import time

    from stemqa.demo.model_source import ModelSourceError, check_model_source

    with pytest.raises(ModelSourceError, match=r"folder .*no-such-model was not found"):
        check_model_source(str(tmp_path / "no-such-model"))
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelSourceError, match="is a file"):
        check_model_source(str(tmp_path / "weights.bin"))
    check_model_source(str(tmp_path))  # a folder passes (loading says what is missing in it)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelSourceError, match="make-tiny-model") as err:
        check_model_source("microsoft/phi-2")
    assert time.perf_counter() - start < 5 and "offline" in str(err.value)
    assert "Repo id must be" not in str(err.value)
