"""`report_to tensorboard` works out of the box (tensorboard is a stemqa-train dependency):
a real train-dpo run writes TensorBoard event files with the training scalars, and the
project's own metrics.jsonl and plots are still written beside them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_report_to_tensorboard_writes_event_files(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from stemqa.train.dpo_cli import main

    data = tmp_path / "data"
    data.mkdir()
    with (data / "train.jsonl").open("w") as fh:
        for a in range(1, 9):
            row = {"prompt": f"What is {a} plus 2?", "chosen": f" {a + 2}.", "rejected": " No."}
            fh.write(json.dumps(row) + "\n")
    out = tmp_path / "run"
    argv = ["--config", str(ROOT / "configs" / "dpo_phi2_qdora.yaml")]
    argv += ["--model_name_or_path", str(tiny_model_dir), "--dataset_name", str(data)]
    argv += ["--output_dir", str(out), "--report_to", "tensorboard", "--max_steps", "2"]
    argv += ["--logging_steps", "1", "--load_in_4bit", "false", "--dtype", "float32"]
    argv += ["--bf16", "false", "--use_cpu", "true", "--gradient_checkpointing", "false"]
    argv += ["--gradient_accumulation_steps", "1", "--max_length", "64"]
    argv += ["--eval_strategy", "no", "--early_stopping_patience", "0", "--save_strategy", "no"]
    argv += ["--load_best_model_at_end", "false", "--dataset_test_split", "none"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(argv) == 0
    finally:
        torch.set_num_threads(threads)

    events = sorted(out.glob("runs/*/events.out.tfevents.*"))
    assert events, sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "train/loss" in tags and len(acc.Scalars("train/loss")) == 2
    assert any(t.startswith("train/rewards") for t in tags)
    assert (out / "metrics.jsonl").read_text().strip()  # the project's own log stays
    assert (out / "plots").is_dir() and any((out / "plots").glob("*.png"))
