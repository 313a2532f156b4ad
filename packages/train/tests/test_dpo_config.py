"""train-dpo configuration: the shipped YAML, the dry-run plan, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stemqa.train.dpo import DPO_DEFAULTS, parse_args
from stemqa.train.dpo_cli import main

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "configs" / "dpo_phi2_qdora.yaml"


def test_dry_run_prints_the_report_plan_as_last_json_line(capsys):
    assert main(["--config", str(CONFIG), "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    plan = json.loads(lines[-1])
    assert plan["trainable_params"] == 10_813_440  # the report's count
    assert plan["total_params"] == 2_790_497_280  # phi-2 (2,779,683,840) + adapter
    assert sorted(plan["target_modules"]) == ["dense", "k_proj", "q_proj", "v_proj"]
    assert plan["quantization"] == "nf4"
    assert plan["adapter"] == "dora" and plan["lora_r"] == 16 and plan["lora_alpha"] == 16
    assert len(lines) > 5  # human-readable plan first


def test_dry_run_follows_flag_overrides(capsys):
    main(["--config", str(CONFIG), "--dry-run", "--lora_r", "8", "--use_dora", "false"])
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # LoRA r=8 on 4 projections x 32 layers, 2560 in/out each, no magnitude vectors
    assert plan["trainable_params"] == 8 * (2560 + 2560) * 4 * 32
    assert plan["adapter"] == "lora"


def test_yaml_repeats_the_code_defaults():
    """Users edit the YAML; running without it must train the same recipe."""
    from_yaml = parse_args(["--config", str(CONFIG)])
    from_code = parse_args([])
    keys = [k for k in DPO_DEFAULTS if k not in ("bf16",)]
    for key in keys:
        a = [getattr(o, key) for o in from_yaml if hasattr(o, key)]
        b = [getattr(o, key) for o in from_code if hasattr(o, key)]
        if key == "lora_target_modules":
            a, b = [sorted(a[0])], [sorted(b[0])]
        assert a == b, key
    script, training, model = from_yaml
    assert training.learning_rate == 5e-5 and training.beta == 0.1
    assert training.gradient_accumulation_steps == 4 and training.num_train_epochs == 3
    assert training.max_length == 2048
    assert model.load_in_4bit and model.use_bnb_nested_quant and model.bnb_4bit_quant_type == "nf4"
    assert script.early_stopping_patience == 3 and script.reference == "base"


def test_flags_override_yaml():
    _, training, model = parse_args(
        ["--config", str(CONFIG), "--learning_rate", "1e-5", "--lora_dropout", "0"]
    )
    assert training.learning_rate == 1e-5
    assert model.lora_dropout == 0.0


@pytest.mark.parametrize("where", ["flag", "yaml"])
def test_removed_trl_options_are_explained(tmp_path, where, capsys):
    if where == "flag":
        argv = ["--max_prompt_length", "512"]
    else:
        cfg = tmp_path / "old.yaml"
        cfg.write_text(CONFIG.read_text() + "\nmax_prompt_length: 1024\n")
        argv = ["--config", str(cfg)]
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert "max_prompt_length" in str(exc.value) and "max_length" in str(exc.value)


def test_bad_value_names_its_key(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--learning_rate", "fast"])
    assert "learning_rate" in capsys.readouterr().err


def test_unknown_yaml_key_names_itself(tmp_path):
    cfg = tmp_path / "typo.yaml"
    cfg.write_text("learnin_rate: 1.0e-4\n")
    with pytest.raises(SystemExit, match="learnin_rate"):
        parse_args(["--config", str(cfg)])


def test_cpu_falls_back_from_bf16():
    import torch

    if torch.cuda.is_available():
        pytest.skip("only meaningful without a GPU")
    _, training, _ = parse_args(["--config", str(CONFIG)])
    assert training.bf16 is False


def test_reference_initial_needs_an_adapter(tmp_path):
    from stemqa.train.dpo import run_dpo

    args = parse_args(["--reference", "initial", "--dataset_name", str(tmp_path)])
    with pytest.raises(SystemExit, match="--adapter"):
        run_dpo(*args)
