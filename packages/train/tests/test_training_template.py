"""The run template's shared decisions, without training: every method's dry run and defaults,
the bf16 -> fp16 fallback (capability probe faked), --auto_batch's search (memory budget faked),
and metrics.jsonl repair on resume."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]
METHODS = ("dpo", "mcqa", "orpo")


def method(name: str):
    return importlib.import_module(f"stemqa.train.{name}").METHOD


@pytest.mark.parametrize("name", METHODS)
def test_dry_run_from_the_shipped_config_counts_the_report_adapter(name, capsys):
    """Meta device, no weights: DoRA r16/a16 on phi-2's q/k/v/dense = 10,813,440 trainable."""
    assert (
        method(name).main(
            [
                "--config",
                str(ROOT / "configs" / f"{name}_phi2_qdora.yaml"),
                "--dry-run",
                # the shipped config's data/... is written by merge-datasets; the dry run
                # stops (exit 2) on a missing local path, so point at data that exists
                "--dataset_name",
                str(Path(__file__).parent / "data" / "course_mcqa_sample.jsonl"),
            ]
        )
        == 0
    )
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert plan["trainable_params"] == 10_813_440
    assert plan["quantization"] == "nf4" and plan["adapter"] == "dora"
    assert plan["method"] == {"dpo": "dpo", "mcqa": "sft-mcqa", "orpo": "orpo"}[name]


@pytest.mark.parametrize("name", METHODS)
def test_yaml_repeats_the_code_defaults(name):
    """Users edit the YAML; running without it must train the same recipe."""
    m = method(name)
    from_yaml = m.parse_args(["--config", str(ROOT / "configs" / f"{name}_phi2_qdora.yaml")])
    from_code = m.parse_args([])
    for key in m.defaults:
        a = [getattr(o, key) for o in from_yaml if hasattr(o, key)]
        b = [getattr(o, key) for o in from_code if hasattr(o, key)]
        if key == "lora_target_modules":
            a, b = [sorted(a[0])], [sorted(b[0])]
        assert a == b, key


def test_model_half_of_the_defaults_lives_once():
    from stemqa.train.training.model import MODEL_DEFAULTS

    for name in METHODS:
        defaults = method(name).defaults
        assert {k: defaults[k] for k in MODEL_DEFAULTS} == MODEL_DEFAULTS


def test_orpo_uses_trls_experimental_trainer():
    """API drift guard: train-orpo builds on trl.experimental.orpo as pinned in uv.lock."""
    import inspect

    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    params = inspect.signature(ORPOTrainer.__init__).parameters
    assert {"model", "args", "train_dataset", "eval_dataset", "processing_class"} <= set(params)
    fields = ORPOConfig.__dataclass_fields__
    assert {"beta", "max_length", "disable_dropout"} <= set(fields)
    assert hasattr(ORPOTrainer, "tokenize_row")  # train-orpo tokenizes the test split with it
    assert method("orpo").config_class() is ORPOConfig


# ---- bf16 -> fp16 on GPUs without bf16 (T4, P100) ------------------------------------------


@pytest.mark.parametrize(
    ("has_gpu", "bf16_ok", "expect"),
    [
        (False, True, {"bf16": False}),  # CPU: fp32
        (True, True, {"bf16": True}),  # A100/H100: as configured
        (True, False, {"bf16": False, "fp16": True, "dtype": "float16"}),  # T4/P100
    ],
)
def test_precision_decision(has_gpu, bf16_ok, expect):
    from stemqa.train.training.config import choose_precision

    merged = {"bf16": True, "dtype": "bfloat16"}
    note = choose_precision(merged, has_gpu=has_gpu, bf16_ok=bf16_ok)
    assert {k: merged.get(k) for k in expect} == expect
    assert (note is None) == (has_gpu and bf16_ok)
    if note:
        assert "\n" not in note


def test_t4_like_gpu_gets_fp16_through_the_parser(monkeypatch, capsys):
    """The probe faked as a GPU without bf16: the shipped config runs fp16 mixed precision with
    an fp16 model/4-bit compute dtype, and says so in one line."""
    from stemqa.train.training import config

    monkeypatch.setattr(config, "_has_gpu", lambda: True)
    monkeypatch.setattr(config, "_bf16_supported", lambda: False)
    _, training, model = method("dpo").parse_args(
        ["--config", str(ROOT / "configs" / "dpo_phi2_qdora.yaml")]
    )
    assert training.bf16 is False and training.fp16 is True
    assert model.dtype == "float16"
    notes = [line for line in capsys.readouterr().err.splitlines() if "bf16" in line]
    assert len(notes) == 1 and "fp16" in notes[0]

    from stemqa.train.training.model import quantization_config

    assert quantization_config(model).bnb_4bit_compute_dtype == torch.float16


def test_core_nf4_preset_falls_back_to_fp16_compute(monkeypatch):
    """load_model's nf4 preset (eval-mcqa, the app): fp16 compute where bf16 is not native."""
    from stemqa.core import loading

    assert loading.bnb_config("nf4").bnb_4bit_compute_dtype == torch.bfloat16
    monkeypatch.setattr(loading, "bf16_supported", lambda: False)
    assert loading.bnb_config("nf4").bnb_4bit_compute_dtype == torch.float16
    assert loading.default_compute_dtype() == torch.float16


# ---- --auto_batch ----------------------------------------------------------------------------


def fake_peak(per_row: int, ckpt_per_row: int, fixed: int = 0):
    calls = []

    def peak(micro: int, checkpointing: bool) -> int:
        calls.append((micro, checkpointing))
        return fixed + micro * (ckpt_per_row if checkpointing else per_row)

    return peak, calls


def test_auto_batch_takes_the_largest_micro_batch_without_checkpointing():
    from stemqa.train.training.auto_batch import pick_micro_batch

    peak, calls = fake_peak(per_row=10, ckpt_per_row=3, fixed=5)
    choice = pick_micro_batch(8, peak, budget_bytes=50)  # 8 needs 85, 4 needs 45
    assert (choice.micro_batch, choice.gradient_accumulation_steps) == (4, 2)
    assert choice.gradient_checkpointing is False
    assert calls[0] == (8, False)  # largest first, checkpointing off first


def test_auto_batch_turns_checkpointing_on_only_when_nothing_fits_without():
    from stemqa.train.training.auto_batch import pick_micro_batch

    peak, _ = fake_peak(per_row=100, ckpt_per_row=10)
    choice = pick_micro_batch(4, peak, budget_bytes=45)
    assert choice.gradient_checkpointing is True
    assert (choice.micro_batch, choice.gradient_accumulation_steps) == (4, 1)
    with pytest.raises(ValueError, match="max_length"):
        pick_micro_batch(4, peak, budget_bytes=5)


def test_auto_batch_oom_probe_counts_as_not_fitting():
    from stemqa.train.training.auto_batch import pick_micro_batch

    choice = pick_micro_batch(4, lambda m, c: None if m > 1 else 1, budget_bytes=10)
    assert choice.micro_batch == 1 and choice.gradient_accumulation_steps == 4


def test_cpu_estimate_grows_with_batch_and_checkpointing_saves(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from stemqa.train.training.auto_batch import estimated_peak_bytes

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peak = estimated_peak_bytes(model, 2048, 2)
    assert peak(1, False) < peak(2, False) < peak(4, False)
    assert peak(4, True) < peak(4, False)


# ---- metrics.jsonl on resume -------------------------------------------------------------------


def test_truncate_metrics_keeps_what_the_checkpoint_saw(tmp_path, capsys):
    from stemqa.train.training.callbacks import read_metrics, truncate_metrics

    path = tmp_path / "metrics.jsonl"
    records = [{"step": s, "loss": 1 / s} for s in range(1, 7)]
    records.insert(4, {"step": 4, "eval_loss": 0.5})  # eval at the checkpoint step: kept
    records.append({"step": 6, "train_runtime": 3.0})
    records.append({"step": 6, "test_loss": 0.4, "phase": "test"})
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"step": 7, "lo')
    kept, dropped = truncate_metrics(path, 4)
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 3, 4, 4]
    assert (kept, dropped) == (5, 5)
    err = capsys.readouterr().err
    assert "skipped the last line" in err and "dropped 5" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 2


def test_torn_line_is_reported_not_raised(tmp_path, capsys):
    from stemqa.train.training.callbacks import MetricsLog

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 0.7}\n{"step": 2, "loss"')
    log = MetricsLog(path)
    assert log.records == [{"step": 1, "loss": 0.7}]
    assert "skipped the last line" in capsys.readouterr().err


def test_resume_skips_a_checkpoint_killed_while_saving(tmp_path, capsys):
    from stemqa.train.training.runs import checkpoint_step, resolve_resume

    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2}')
    (tmp_path / "checkpoint-4").mkdir()  # weights half written, no trainer_state.json
    found = resolve_resume(tmp_path, True, None)
    assert found.endswith("checkpoint-2") and checkpoint_step(found) == 2
    assert "checkpoint-4" in capsys.readouterr().err
