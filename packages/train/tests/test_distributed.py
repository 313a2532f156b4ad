"""Training beyond one GPU: the shipped accelerate configs and the start-up refusal of
known-broken engine/QLoRA combinations (train-dpo dry runs in each config's environment).

What this machine allows (no GPU): a 2-process DDP run over gloo (test_dpo_distributed.py). No
FSDP run: accelerate 1.15 enables FSDP only over GPU-like devices. With ``--use_cpu true`` a
2-process torchrun under configs/accelerate/fsdp.yaml's environment trains as plain DDP
(``accelerator.distributed_type == MULTI_CPU``, no FSDP module: found with a probe, and now
refused at start-up); without it FSDP1 stops in the trainer with "There are currently no
available devices found, must be one of 'XPU', 'CUDA', 'MLU', 'NPU', 'MUSA', or 'HPU'".
DeepSpeed is an optional extra that is not installed here, so its configs are checked up to the
launcher environment and the one-line refusal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stemqa.train.distributed import (
    SHIPPED_CONFIGS,
    Launch,
    LaunchError,
    check_launch,
    detect_launch,
    launch_environment,
)

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "configs" / "accelerate"
DPO_RECIPE = ROOT / "configs" / "dpo_phi2_qdora.yaml"


def model_args(**overrides):
    """TRL's real ModelConfig with the project's QLoRA recipe (4-bit NF4, bf16)."""
    from trl import ModelConfig

    options = {"load_in_4bit": True, "dtype": "bfloat16", "use_peft": True, "use_dora": True}
    options.update(overrides)
    return ModelConfig(**options)


def test_every_shipped_config_is_listed_and_parses_in_accelerate() -> None:
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(SHIPPED_CONFIGS)
    expected = {
        "ddp": Launch("ddp", 2),
        "fsdp": Launch("fsdp", 2, fsdp_version=2),
        "fsdp_qlora": Launch("fsdp", 2, fsdp_version=1),
        "zero2": Launch("deepspeed", 2, zero_stage=2),
        "zero3": Launch("deepspeed", 2, zero_stage=3),
    }
    for name, launch in expected.items():
        env = launch_environment(CONFIGS / f"{name}.yaml", port=29517)
        assert detect_launch(None, env) == launch, name


@pytest.mark.parametrize(
    ("launch", "overrides", "message"),
    [
        (Launch("fsdp", 2, fsdp_version=1), {}, "bnb_4bit_quant_storage equal to the dtype"),
        (
            Launch("fsdp", 2, fsdp_version=1),
            {"bnb_4bit_quant_storage": "bfloat16"},  # bf16 storage, but fp32 norms: FSDP1 fails
            "set dtype: float32 and bnb_4bit_quant_storage: float32",
        ),
        (Launch("fsdp", 2, fsdp_version=2), {}, "not supported on FSDP2"),
        (Launch("fsdp", 2, fsdp_version=1), {"load_in_4bit": False, "load_in_8bit": True}, "8-bit"),
        (Launch("deepspeed", 2, zero_stage=3), {}, "ZeRO-3 is not supported"),
    ],
)
def test_known_broken_combinations_are_refused_in_one_line(launch, overrides, message) -> None:
    with pytest.raises(LaunchError, match=message) as info:
        check_launch(launch, model_args(**overrides))
    assert "\n" not in str(info.value)
    assert "configs/accelerate/" in str(info.value) or "set " in str(info.value)


@pytest.mark.parametrize(
    ("launch", "overrides"),
    [
        (Launch("single", 1), {}),
        (Launch("ddp", 4), {}),
        (Launch("fsdp", 2, fsdp_version=2), {"load_in_4bit": False}),
        (
            Launch("fsdp", 2, fsdp_version=1),
            {"dtype": "float32", "bnb_4bit_quant_storage": "float32"},
        ),
    ],
)
def test_supported_combinations_pass(launch, overrides) -> None:
    check_launch(launch, model_args(**overrides))


def test_deepspeed_needs_the_extra_and_both_checkpointings_conflict() -> None:
    import importlib.util

    from trl import DPOConfig

    if importlib.util.find_spec("deepspeed") is None:
        with pytest.raises(LaunchError, match="uv sync --extra deepspeed"):
            check_launch(Launch("deepspeed", 2, zero_stage=2), model_args())
    args = DPOConfig(output_dir="/tmp/unused", gradient_checkpointing=True, bf16=False)
    fsdp_ac = Launch("fsdp", 2, fsdp_version=2, fsdp_activation_checkpointing=True)
    with pytest.raises(LaunchError, match="both on"):
        check_launch(fsdp_ac, model_args(load_in_4bit=False), args)


def test_quant_storage_flag_reaches_the_4bit_layers(tiny_model_dir: Path) -> None:
    """--bnb_4bit_quant_storage is honoured on top of core's nf4 preset: the real bitsandbytes
    Params4bit of the loaded tiny model are stored in float32 (what FSDP1 shards)."""
    import torch

    from stemqa.train.training.model import load_base_model, quantization_config

    args = model_args(
        model_name_or_path=str(tiny_model_dir),
        dtype="float32",
        bnb_4bit_quant_storage="float32",
        use_bnb_nested_quant=True,
        bnb_4bit_quant_type="nf4",
    )
    assert quantization_config(args).bnb_4bit_quant_storage == torch.float32
    model = load_base_model(args)
    packed = [p for p in model.parameters() if p.__class__.__name__ == "Params4bit"]
    assert packed and {p.dtype for p in packed} == {torch.float32}


def _dry_run(env_extra: dict[str, str], *flags: str, tiny: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra, "RANK": "0", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "stemqa.train.dpo_cli", "--config", str(DPO_RECIPE)]
    cmd += ["--model_name_or_path", str(tiny), "--dry_run", "true", *flags]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, cwd=ROOT)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "flags", "code", "expect"),
    [
        ("ddp", (), 0, "launch DDP x 2 processes (QLoRA 4-bit): supported"),
        ("fsdp", ("--load_in_4bit", "false"), 0, "launch FSDP2 x 2 processes (no 4-bit)"),
        ("fsdp", (), 2, "not supported on FSDP2"),
        (
            "fsdp_qlora",
            ("--dtype", "float32", "--bnb_4bit_quant_storage", "float32"),
            0,
            "launch FSDP1 x 2 processes (QLoRA 4-bit): supported",
        ),
        ("fsdp_qlora", (), 2, "bnb_4bit_quant_storage equal to the dtype"),
        # the deepspeed extra is not installed here: refused before parsing, one line
        ("zero2", (), 2, "uv sync --extra deepspeed"),
        ("zero3", ("--load_in_4bit", "false"), 2, "uv sync --extra deepspeed"),
    ],
)
def test_train_dpo_dry_run_under_each_shipped_config(
    tiny_model_dir: Path, config: str, flags: tuple[str, ...], code: int, expect: str
) -> None:
    """train-dpo --dry_run in the environment accelerate gives a process of this config: the
    combination check runs before anything loads, exactly as under `accelerate launch`."""
    import importlib.util

    installed = importlib.util.find_spec("deepspeed") is not None
    if installed and "--extra deepspeed" in expect:  # a machine with the extra installed
        code, expect = 0, "supported"
    env = launch_environment(CONFIGS / f"{config}.yaml", port=29518)
    proc = _dry_run(env, *flags, tiny=tiny_model_dir)
    assert proc.returncode == code, proc.stderr[-3000:]
    assert expect in proc.stderr
    if code == 0:
        plan = json.loads(proc.stdout.strip().splitlines()[-1])
        assert plan["method"] == "dpo"
    else:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in proc.stderr


def test_fsdp_on_cpu_is_refused_because_accelerate_would_ignore_it() -> None:
    from trl import DPOConfig

    args = DPOConfig(output_dir="/tmp/unused", use_cpu=True)
    with pytest.raises(LaunchError, match="ignores the FSDP config"):
        check_launch(Launch("fsdp", 2, fsdp_version=2), model_args(load_in_4bit=False), args)
