"""train-dpo as a 2-process data-parallel run on CPU (gloo), the way multi-GPU users launch it.

`accelerate launch --cpu` on one machine starts a single process, so the CPU check uses torchrun
(which accelerate also wraps for GPUs) with `--use_cpu true --ddp_backend gloo`. The base model is
the fp32 tiny model: the point is the distributed plumbing, which the 4-bit tests cover apart.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[3]


def test_two_process_ddp_run_shards_the_data(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with (data / "train.jsonl").open("w") as fh:
        for a in range(1, 33):
            row = {
                "prompt": f"Question: what is {a} plus 2?\nAnswer:",
                "chosen": f" The answer is {a + 2}.",
                "rejected": " I do not know.",
            }
            fh.write(json.dumps(row) + "\n")
    out = tmp_path / "run"
    with socket.socket() as sock:  # a free rendezvous port (torchrun's port 0 can hang)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "stemqa.train.dpo_cli",
        "--config", str(ROOT / "configs" / "dpo_phi2_qdora.yaml"),
        "--model_name_or_path", str(tiny_model_dir), "--dataset_name", str(data),
        "--output_dir", str(out), "--max_steps", "3", "--load_in_4bit", "false",
        "--bf16", "false", "--eval_strategy", "no", "--early_stopping_patience", "0",
        "--load_best_model_at_end", "false", "--dataset_test_split", "none",
        "--save_strategy", "no", "--report_to", "none",
        "--use_cpu", "true", "--ddp_backend", "gloo",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    final = records[-1]
    # 3 optimizer steps x batch 1 x grad-acc 4 x 2 processes = 24 of the 32 rows: epoch 0.75.
    # One process alone would have seen 12 rows (epoch 0.375).
    assert final["step"] == 3
    assert final["epoch"] == pytest.approx(0.75)
    assert (out / "adapter" / "adapter_config.json").is_file() or (
        out / "adapter_config.json"
    ).is_file()
    assert json.loads((out / "summary.json").read_text())
