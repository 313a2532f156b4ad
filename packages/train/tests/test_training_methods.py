"""Every training method (train-dpo, train-mcqa, train-orpo) through the one run template, for
real on CPU: a 4-bit NF4 base with a DoRA adapter, the TRL trainer, the fp32 adapter guard
(TRL issue 7268), the dropout policy, early stopping, and resume with metrics.jsonl cut back to
the checkpoint - including after a real SIGKILL of a training process."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
METHODS = ("dpo", "mcqa", "orpo")


def write_pairs(folder: Path, sizes=(("train", 24), ("eval", 8), ("test", 8))) -> Path:
    """Arithmetic preference pairs, one jsonl per split (merge-datasets' layout)."""
    rng = random.Random(1)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in sizes:
        with (folder / f"{split}.jsonl").open("w") as fh:
            for _ in range(n):
                a, b = rng.randint(1, 40), rng.randint(1, 40)
                prompt = f"Question: what is {a} plus {b}?\nAnswer:"
                row = {"prompt": prompt, "chosen": f" {a + b}.", "rejected": " I do not know."}
                fh.write(json.dumps(row) + "\n")
    return folder


def write_questions(path: Path, n: int = 32) -> Path:
    """MCQs as cais/mmlu-layout jsonl rows (question, choices, answer index): "which option
    says yes?" with the yes at a random position."""
    rng = random.Random(2)
    with path.open("w") as fh:
        for _ in range(n):
            choices = [*rng.sample(["red", "blue", "cat", "dog", "sun", "moon"], 3), "yes"]
            rng.shuffle(choices)
            row = {"question": "Which option says yes?", "choices": choices}
            fh.write(json.dumps({**row, "answer": choices.index("yes"), "subject": "s"}) + "\n")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    pairs = write_pairs(root / "pairs")
    return {"dpo": pairs, "orpo": pairs, "mcqa": write_questions(root / "mcqs.jsonl")}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # two shared cores: one intra-op thread is far faster
    yield
    torch.set_num_threads(before)


def method_module(name: str):
    import importlib

    return importlib.import_module(f"stemqa.train.{name}")


def argv_for(
    name: str, model_dir: Path, data: dict[str, Path], out: Path, **overrides: Any
) -> list[str]:
    options: dict[str, Any] = {
        "config": ROOT / "configs" / f"{name}_phi2_qdora.yaml",
        "model_name_or_path": model_dir,
        "dataset_name": data[name],
        "output_dir": out,
        "dtype": "float32",
        "max_length": 96,
        "max_steps": 3,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "per_device_eval_batch_size": 8,
        "eval_steps": 3,
        "save_steps": 3,
        "logging_steps": 1,
        "gradient_checkpointing": "false",
        "auto_batch": "false",
        "dataloader_pin_memory": "false",
        "disable_tqdm": "true",
        "use_cpu": "true",
    }
    if name == "mcqa":
        options.update(eval_fraction=0.25, mcqa_eval_batch_size=8)
    options.update(overrides)
    argv: list[str] = []
    for key, value in options.items():
        if value is not None:
            argv += [f"--{key}", str(value)]
    return argv


def run(name: str, argv: list[str]) -> dict[str, Any]:
    method = method_module(name).METHOD
    return method.run(*method.parse_args(argv))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train_steps(out: Path) -> list[int]:
    return [r["step"] for r in read_jsonl(out / "metrics.jsonl") if "loss" in r]


@pytest.mark.parametrize("name", METHODS)
def test_qdora_4bit_run_guard_and_dropout(name, tiny_model_dir, data, tmp_path, monkeypatch):
    """Real 4-bit steps; whatever the trainer left, every trainable tensor is fp32 after the
    guard and every kind of adapter weight moves (DoRA magnitude included); base-model dropout
    is off and the adapter's 0.05 lora_dropout kept, for every method alike."""
    import bitsandbytes as bnb

    from stemqa.train.training import lifecycle
    from stemqa.train.training.model import lora_dropout_values

    seen: dict[str, Any] = {}
    original = lifecycle.guard_adapter

    def spy(model):
        cast = original(model)
        seen["model"] = model
        seen["initial"] = {
            n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
        }
        return cast

    monkeypatch.setattr(lifecycle, "guard_adapter", spy)
    out = tmp_path / "run"
    summary = run(name, argv_for(name, tiny_model_dir, data, out, load_in_4bit="true"))
    model = seen["model"]
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    assert summary["quantization"] == "nf4" and summary["adapter_type"] == "dora"
    assert summary["global_step"] == 3 and summary["mixed_precision"] == "fp32"
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert all(p.dtype == torch.float32 for p in trainable.values())
    for kind in ("lora_A", "lora_B", "lora_magnitude_vector"):
        assert any(
            kind in n and not torch.equal(p.detach(), seen["initial"][n])
            for n, p in trainable.items()
        ), kind
    assert set(lora_dropout_values(model)) == {0.05}
    lora = {
        id(m)
        for n, mod in model.named_modules()
        if n.endswith("lora_dropout")
        for m in mod.values()
    }
    base = [m for m in model.modules() if isinstance(m, torch.nn.Dropout) and id(m) not in lora]
    if name in ("dpo", "orpo"):  # disable_dropout: true in their YAML
        assert base and all(m.p == 0 for m in base)
        assert summary["dropout"]["base_disabled"] > 0
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    saved = json.loads((out / "summary.json").read_text())
    assert saved["hyperparameters"]["mixed_precision"] == "fp32"
    assert "mixed_precision" in (out / "README.md").read_text()
    if name != "mcqa":
        assert 0.0 <= saved["test"]["test_rewards/accuracies"] <= 1.0


@pytest.mark.parametrize("name", METHODS)
def test_early_stopping_keeps_the_best(name, tiny_model_dir, data, tmp_path):
    """lr 0: the metric never improves after the first evaluation, so the run stops after
    `patience` more evaluations and keeps checkpoint-1."""
    summary = run(
        name,
        argv_for(
            name,
            tiny_model_dir,
            data,
            tmp_path / "early",
            load_in_4bit="false",
            learning_rate="0",
            max_steps=30,
            eval_steps=1,
            save_steps=1,
            early_stopping_patience=2,
            max_eval_samples=4,
        ),
    )
    assert summary["stopped_early"] is True
    assert summary["global_step"] == 3
    assert summary["best_checkpoint"].endswith("checkpoint-1")


@pytest.mark.parametrize("name", METHODS)
def test_resume_cuts_metrics_back_to_the_checkpoint(name, tiny_model_dir, data, tmp_path, capsys):
    """A run logged steps 1-4 but its last checkpoint is step 2 (as after a crash between saves),
    and the log ends in a torn line: resume reports the torn line in one line, drops what was
    logged after step 2, and the log ends with each step once, in order."""
    out = tmp_path / "resume"
    common = {
        "load_in_4bit": "false",
        "eval_strategy": "no",
        "early_stopping_patience": 0,
        "load_best_model_at_end": "false",
        "save_steps": 2,
        "dataset_test_split": "none" if name != "mcqa" else None,
    }
    run(name, argv_for(name, tiny_model_dir, data, out, max_steps=4, **common))
    shutil.rmtree(out / "checkpoint-4")
    with (out / "metrics.jsonl").open("a") as fh:
        fh.write('{"step": 5, "loss": 0.6')  # torn mid-write
    first = {r["step"]: r["loss"] for r in read_jsonl_ok(out / "metrics.jsonl") if "loss" in r}
    capsys.readouterr()
    summary = run(
        name, argv_for(name, tiny_model_dir, data, out, max_steps=5, resume="true", **common)
    )
    err = capsys.readouterr().err
    assert summary["resumed_from"].endswith("checkpoint-2") and summary["global_step"] == 5
    assert "skipped the last line" in err and "dropped" in err
    steps = train_steps(out)
    assert steps == [1, 2, 3, 4, 5]
    records = {r["step"]: r["loss"] for r in read_jsonl(out / "metrics.jsonl") if "loss" in r}
    assert records[1] == first[1] and records[2] == first[2]  # history before the checkpoint kept


def read_jsonl_ok(path: Path) -> list[dict[str, Any]]:
    from stemqa.train.training.callbacks import read_metrics

    return read_metrics(path, report=False)


@pytest.mark.parametrize("name", METHODS)
def test_sigkill_past_a_checkpoint_then_resume(name, tiny_model_dir, data, tmp_path):
    """kill -9 of a real training process after checkpoint-2 and at least one more logged step;
    `--resume` continues from the checkpoint and metrics.jsonl holds every step exactly once, in
    increasing order."""
    out = tmp_path / "killed"
    args = argv_for(
        name,
        tiny_model_dir,
        data,
        out,
        load_in_4bit="false",
        eval_strategy="no",
        early_stopping_patience=0,
        load_best_model_at_end="false",
        save_steps=2,
        max_steps=400,
        dataset_test_split=None if name == "mcqa" else "none",
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", f"stemqa.train.{name}_cli", *args]
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            saved = [
                int(p.name.split("-")[1])
                for p in out.glob("checkpoint-*")
                if (p / "trainer_state.json").is_file()
            ]
            steps = train_steps_tolerant(out) if saved else []
            if steps and max(steps) > max(saved):  # past a complete checkpoint
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    before = train_steps_tolerant(out)
    assert max(before) >= 3
    from stemqa.train.training.runs import checkpoint_step, last_checkpoint

    resume_at = checkpoint_step(last_checkpoint(out))
    final = resume_at + 2
    summary = run(
        name,
        [*args, "--max_steps", str(final), "--resume", "true"],  # later flags win
    )
    assert summary["global_step"] == final
    steps = train_steps(out)
    assert steps == list(range(1, final + 1)), steps


def train_steps_tolerant(out: Path) -> list[int]:
    return [r["step"] for r in read_jsonl_ok(out / "metrics.jsonl") if "loss" in r]
