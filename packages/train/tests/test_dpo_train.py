"""train-dpo on the tiny phi model, on CPU, for real: 4-bit NF4 base, DoRA adapter, TRL's
DPOTrainer, checkpoints, early stopping, resume, and the run folder it leaves behind."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

pytestmark = pytest.mark.slow


def write_preference_data(
    folder: Path, *, train: int = 48, eval: int = 16, test: int = 16, seed: int = 0
) -> Path:
    """A learnable synthetic preference task, one jsonl per split: arithmetic prompts where the
    chosen answer states the correct sum and the rejected one refuses. Eval/test prompts use
    number pairs that never occur in train, so reward accuracy there is held-out."""
    rng = random.Random(seed)
    pairs = [(a, b) for a in range(1, 30) for b in range(1, 30)]
    rng.shuffle(pairs)
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, n in (("train", train), ("eval", eval), ("test", test)):
        with (folder / f"{split}.jsonl").open("w") as fh:
            for a, b in pairs[start : start + n]:
                row = {
                    "prompt": f"Question: what is {a} plus {b}?\nAnswer:",
                    "chosen": f" The answer is {a + b}.",
                    "rejected": " I do not know.",
                }
                fh.write(json.dumps(row) + "\n")
        start += n
    return folder


def dpo_argv(model_dir: Path, data_dir: Path, out_dir: Path, **overrides: Any) -> list[str]:
    """Flags for a quick CPU run of train-dpo on the tiny model (4-bit by default)."""
    options: dict[str, Any] = {
        "model_name_or_path": model_dir,
        "dataset_name": data_dir,
        "output_dir": out_dir,
        "dtype": "float32",
        "max_length": 64,
        "max_steps": 3,
        "gradient_accumulation_steps": 1,
        "per_device_eval_batch_size": 8,
        "eval_steps": 3,
        "save_steps": 3,
        "logging_steps": 1,
        "gradient_checkpointing": "false",
        "dataloader_pin_memory": "false",
        "disable_tqdm": "true",
    }
    options.update(overrides)
    argv = []
    for key, value in options.items():
        if value is True:
            argv.append(f"--{key}")
        elif value is None:
            continue
        else:
            argv += [f"--{key}", str(value)]
    return argv


def run(argv: list[str]) -> dict[str, Any]:
    from stemqa.train.dpo import parse_args, run_dpo

    return run_dpo(*parse_args(argv))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # The CI box is shared: several intra-op threads on 2 busy cores make the tiny model
    # 100x slower (measured: 550 ms vs 3 ms per forward), so train single-threaded.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_preference_data(tmp_path_factory.mktemp("prefs"))


@pytest.fixture(scope="module")
def qdora_run(tiny_model_dir, data_dir, tmp_path_factory):
    """One 4-bit QDoRA DPO run (3 optimizer steps at the default lr 5e-5), with the weights
    before and after, for the tests below to inspect."""
    from stemqa.train import dpo as dpo_module
    from stemqa.train.training import lifecycle

    out = tmp_path_factory.mktemp("run") / "qdora"
    captured: dict = {}
    original_guard = lifecycle.guard_adapter

    def spy_guard(model):
        # What TRL left before our guard, and the adapter at step 0.
        captured["dtypes_before_guard"] = {
            n: p.dtype for n, p in model.named_parameters() if p.requires_grad
        }
        cast = original_guard(model)
        captured["initial"] = {
            n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
        }
        captured["model"] = model
        return cast

    lifecycle.guard_adapter = spy_guard
    dpo_module_guard = getattr(dpo_module, "guard_adapter", None)
    try:
        summary = run(
            dpo_argv(
                tiny_model_dir,
                data_dir,
                out,
                load_in_4bit="true",
                gradient_checkpointing="true",
                learning_rate="5e-5",
                max_steps=3,
                eval_steps=3,
                save_steps=3,
            )
        )
    finally:
        lifecycle.guard_adapter = original_guard
        if dpo_module_guard is not None:
            dpo_module.guard_adapter = dpo_module_guard
    return out, summary, captured


def test_base_is_really_4bit_and_adapter_is_dora(qdora_run):
    import bitsandbytes as bnb

    _, summary, captured = qdora_run
    model = captured["model"]
    linear4 = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert linear4, "the base model was not quantized"
    assert linear4[0].weight.quant_type == "nf4"
    assert summary["adapter_type"] == "dora" and summary["quantization"] == "nf4"
    assert any("lora_magnitude_vector" in n for n in captured["initial"])


def test_trl_bf16_cast_is_undone_and_magnitude_trains(qdora_run):
    """TRL issue 7268: TRL 1.16 casts trainable adapter weights of quantized models to bf16
    (sparing the DoRA magnitude). bf16 swallows lr-5e-5 updates, so we keep fp32 - and every
    kind of adapter weight, the magnitude vector included, must move after training."""
    _, _, captured = qdora_run
    before = captured["dtypes_before_guard"]
    assert any(d == torch.bfloat16 for n, d in before.items() if "lora_A" in n), (
        "TRL no longer casts lora_A to bf16: revisit keep_trainable_fp32"
    )
    model = captured["model"]
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.dtype == torch.float32, name
    moved = {"lora_A": 0, "lora_B": 0, "lora_magnitude_vector": 0}
    for name, param in model.named_parameters():
        if name in captured["initial"]:
            changed = not torch.equal(param.detach(), captured["initial"][name])
            for kind in moved:
                if kind in name and changed:
                    moved[kind] += 1
    assert all(moved.values()), moved
    # The trap the guard avoids: one AdamW step (~lr) is below bf16's resolution here.
    magnitude = next(p for n, p in model.named_parameters() if "lora_magnitude_vector" in n)
    as_bf16 = magnitude.detach().to(torch.bfloat16)
    assert torch.equal(as_bf16 + 5e-5, as_bf16)


def test_reference_is_base_with_adapter_disabled(qdora_run):
    _, summary, captured = qdora_run
    assert list(captured["model"].peft_config) == ["default"]
    assert summary["reference"] == "base"


def test_run_folder_contents(qdora_run):
    out, _summary, _ = qdora_run
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert (out / "adapter" / "tokenizer_config.json").is_file()
    for png in ("loss.png", "reward_accuracy.png", "reward_margin.png"):
        data = (out / "plots" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    records = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in records if "loss" in r and "eval_loss" not in r][:3] == [1, 2, 3]
    assert any("eval_rewards/accuracies" in r for r in records)
    assert any("test_rewards/accuracies" in r for r in records)
    saved = json.loads((out / "summary.json").read_text())
    assert saved["global_step"] == 3
    assert 0.0 <= saved["test"]["test_rewards/accuracies"] <= 1.0
    assert "test_rewards/margins" in saved["test"]
    assert saved["data"]["rows"] == {"train": 48, "eval": 16, "test": 16}
    card = (out / "README.md").read_text()
    assert "base_model:" in card and "plots/reward_accuracy.png" in card
    assert "learning_rate" in card and "test_rewards/accuracies" in card


def test_saved_adapter_reloads_with_identical_outputs(qdora_run, tiny_model_dir):
    """The saved adapter holds exactly the trained weights, and the two ways to load it - the
    app/eval path (core.load_model) and the continue-training path (build_qdora_model) - give
    identical outputs, different from the base model's.

    (The in-memory trained model itself is not compared logit by logit: after training, TRL's
    patched forward and bitsandbytes' CPU kernel choice differ from a fresh load, by ~0.03 in
    logits, although every weight is identical.)"""
    from safetensors.torch import load_file
    from trl import ModelConfig

    from stemqa.core.loading import load_model
    from stemqa.train.training.model import build_qdora_model, keep_4bit_training_layout

    out, _, captured = qdora_run
    saved = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    trained = {n: p for n, p in captured["model"].named_parameters() if p.requires_grad}
    assert len(saved) == len(trained)
    for name, param in trained.items():
        key = name.replace(".default", "").replace(
            "lora_magnitude_vector.weight", "lora_magnitude_vector"
        )
        assert torch.equal(saved[key], param.detach().cpu()), name

    served, tokenizer = load_model(
        tiny_model_dir, adapter=out / "adapter", quantization="nf4", device="cpu", dtype="float32"
    )
    args = ModelConfig(
        model_name_or_path=str(tiny_model_dir),
        use_peft=True,
        use_dora=True,
        load_in_4bit=True,
        use_bnb_nested_quant=True,
        dtype="float32",
    )
    continued, _ = build_qdora_model(args, adapter=out / "adapter", gradient_checkpointing=False)
    continued.eval()
    # The training builder keeps bitsandbytes' training layout (no CPU inference repack, whose
    # AVX512-BF16 kernel computes in bf16): compare the served model on the same kernel.
    keep_4bit_training_layout(served)
    ids = tokenizer(["Question: what is 3 plus 4?\nAnswer:"], return_tensors="pt").input_ids
    with torch.no_grad():
        a = served(input_ids=ids).logits
        b = continued(input_ids=ids).logits
        with served.disable_adapter():
            base = served(input_ids=ids).logits
    assert torch.equal(a, b)
    assert not torch.allclose(a, base, atol=1e-4)  # the adapter does something


def test_learns_a_preference(tiny_model_dir, data_dir, tmp_path):
    """Held-out reward accuracy from chance to >= 0.9. Non-quantized tiny model (fp32) for
    speed; the 4-bit path is covered above."""
    summary = run(
        dpo_argv(
            tiny_model_dir,
            data_dir,
            tmp_path / "learn",
            load_in_4bit="false",
            learning_rate="2e-3",
            max_steps=24,
            per_device_train_batch_size=4,
            eval_steps=24,
            save_steps=24,
            early_stopping_patience=0,
            lr_scheduler_type="constant",
        )
    )
    records = read_jsonl(tmp_path / "learn" / "metrics.jsonl")
    first_train = next(r for r in records if "rewards/accuracies" in r)
    assert first_train["rewards/margins"] == pytest.approx(0.0, abs=1e-3)  # starts at the reference
    assert summary["test"]["test_rewards/accuracies"] >= 0.9
    assert summary["eval"]["eval_rewards/accuracies"] >= 0.9
    assert summary["test"]["test_rewards/margins"] > 0


def test_resume_without_checkpoint_is_a_clear_error(tiny_model_dir, data_dir, tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint"):
        run(dpo_argv(tiny_model_dir, data_dir, tmp_path / "empty", resume=True))


def test_continuing_an_adapter_keeps_the_base_as_reference(
    tiny_model_dir, data_dir, tmp_path, qdora_run
):
    """--adapter continues the fixture's adapter; TRL's frozen "ref" copy is dropped so the
    reference stays the adapter-disabled base, and the reference log-probs are then computed
    during training (TRL's precompute would use the copy). Early stopping for every method is
    in test_training_methods.py."""
    out = tmp_path / "continued"
    argv = dpo_argv(tiny_model_dir, data_dir, out, load_in_4bit="false", eval_strategy="no")
    argv += ["--adapter", str(qdora_run[0] / "adapter"), "--early_stopping_patience", "0"]
    summary = run([*argv, "--load_best_model_at_end", "false", "--max_steps", "2"])
    assert summary["adapter_init"].endswith("adapter") and summary["reference"] == "base"
    assert summary["hyperparameters"]["precompute_ref_log_probs"] is False
    assert summary["global_step"] == 2


def test_bad_data_names_source_and_row(tiny_model_dir, data_dir, tmp_path):
    from stemqa.train.dpo_data import PreferenceDataError

    bad = tmp_path / "bad"
    shutil.copytree(data_dir, bad)
    lines = (bad / "train.jsonl").read_text().splitlines()
    row = json.loads(lines[5])
    row["chosen"] = "   "
    lines[5] = json.dumps(row)
    (bad / "train.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(PreferenceDataError, match=r"train\.jsonl, line 6: 'chosen' is empty"):
        run(dpo_argv(tiny_model_dir, bad, tmp_path / "out"))
