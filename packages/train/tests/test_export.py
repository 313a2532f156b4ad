"""export-model on the tiny phi model: the merged folder computes what base + adapter computes.

Adapters here are randomly initialised DoRA adapters with a perturbed lora_B and magnitude (so
that they change the logits; a fresh adapter is the identity), saved in the layout a training
run leaves (``adapter/`` + ``summary.json``). The DPO -> MCQA chain uses a real ``train-mcqa
--adapter`` continuation. Only HfApi's network methods are replaced, in the --repo_id (push) test:
the Hub is unreachable here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from stemqa.core import mmlu_prompt
from stemqa.train.export import EXPORT_FILE, adapter_chain, export_model
from stemqa.train.export_cli import main
from stemqa.train.mcqa_data import load_mcqs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
MMLU = ROOT / "tests" / "data" / "mmlu" / "college_physics_test.csv"
TARGETS = ["q_proj", "k_proj", "v_proj", "dense"]


@pytest.fixture(autouse=True)
def one_thread():
    """Two shared cores: one intra-op thread is much faster than two under contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def prompts() -> list[str]:
    """Real MMLU college-physics questions in the lm-eval-harness layout eval-mcqa uses."""
    return [mmlu_prompt(m) for m in load_mcqs(MMLU, format="mmlu-csv", limit=6)]


def make_adapter_run(
    folder: Path,
    base: Path | str,
    *,
    seed: int,
    quantized: bool = False,
    method: str = "DPO (DoRA)",
    adapter_init: str = "fresh",
    summary_base: str | None = None,
) -> Path:
    """A run folder (adapter/ + summary.json) with a random DoRA adapter that changes the model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from stemqa.core import load_tokenizer
    from stemqa.core.loading import bnb_config

    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if quantized:
        kwargs.update(quantization_config=bnb_config("nf4"), device_map={"": "cpu"})
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, use_dora=True)
    peft_model = get_peft_model(model, config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
            elif "lora_magnitude_vector" in name:
                param.mul_(1 + 0.1 * torch.randn(param.shape, generator=gen))
    peft_model.save_pretrained(folder / "adapter")
    load_tokenizer(base).save_pretrained(folder / "adapter")
    summary = {
        "method": method,
        "base_model": summary_base or str(base),
        "adapter_type": "dora",
        "adapter_init": adapter_init,
        "quantization": "nf4" if quantized else "none",
        "eval": {"eval_loss": 0.5, "eval_rewards/accuracies": 0.75},
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def logits(model, tokenizer, prompts: list[str]) -> torch.Tensor:
    """Last-position logits of every prompt (fp32), one forward pass."""
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**enc).logits[:, -1, :].float()


def reference_logits(base: Path, adapters: list[Path], prompts: list[str], **kwargs):
    """base + adapter(s) through peft, unmerged (later adapters on top of merged earlier ones)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from stemqa.core import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, **kwargs)
    for i, adapter in enumerate(adapters):
        model = PeftModel.from_pretrained(model, str(adapter))
        if i < len(adapters) - 1:
            model = model.merge_and_unload()
    model.eval()
    return logits(model, load_tokenizer(base), prompts)


def exported_logits(folder: Path, prompts: list[str]) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    from stemqa.core import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return logits(model, load_tokenizer(folder), prompts)


def test_merged_logits_equal_base_plus_adapter(tiny_model_dir: Path, tmp_path: Path, prompts):
    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=1)
    out = tmp_path / "export"
    assert main([str(run), "--output_dir", str(out), "--dtype", "float32", "--no_progress"]) == 0

    expected = reference_logits(tiny_model_dir, [run / "adapter"], prompts)
    base_only = reference_logits(tiny_model_dir, [], prompts)
    got = exported_logits(out, prompts)
    assert (expected - base_only).abs().max() > 0.05  # the adapter really changes the model
    assert torch.allclose(got, expected, atol=1e-4, rtol=0), (got - expected).abs().max()

    names = {p.name for p in out.iterdir()}
    assert {"config.json", "generation_config.json", "README.md", EXPORT_FILE} <= names
    assert any(n.endswith(".safetensors") for n in names)
    assert "tokenizer_config.json" in names and "tokenizer.json" in names
    assert not any(n.startswith("adapter_") for n in names)
    config = json.loads((out / "config.json").read_text())
    assert config["dtype"] == "float32" and "quantization_config" not in config
    card = (out / "README.md").read_text()
    assert card.startswith("---\nbase_model: ") and "library_name: transformers" in card
    assert "eval.eval_rewards/accuracies | 0.75" in card  # metrics come from summary.json
    record = json.loads((out / EXPORT_FILE).read_text())
    assert record["merge_dtype"] == "float32" and record["dtype"] == "float32"
    assert [step["merged"] for step in record["chain"]] == [True]


def test_bfloat16_export_is_written_in_bfloat16(tiny_model_dir: Path, tmp_path: Path, prompts):
    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=2)
    result = export_model(run / "adapter", tmp_path / "bf16", dtype="bfloat16")
    from safetensors import safe_open

    shard = next(p for p in result.out.iterdir() if p.suffix == ".safetensors")
    with safe_open(str(shard), "pt") as fh:
        dtypes = {fh.get_tensor(k).dtype for k in fh.keys()}  # noqa: SIM118 (safe_open API)
    assert dtypes == {torch.bfloat16}
    expected = reference_logits(tiny_model_dir, [run / "adapter"], prompts)
    got = exported_logits(result.out, prompts)
    # bf16 weights: ~3 significant digits; a wrong merge would be off by the adapter's effect
    assert (got - expected).abs().max() < 0.05


NO_PEFT_SCRIPT = """
import json, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, prompts_file = sys.argv[1], sys.argv[2]
prompts = json.load(open(prompts_file))
model = AutoModelForCausalLM.from_pretrained(folder).eval()
tok = AutoTokenizer.from_pretrained(folder)
tok.padding_side = "left"
enc = tok(prompts, return_tensors="pt", padding=True)
with torch.no_grad():
    out = model(**enc).logits[:, -1, :].float()
assert "peft" not in sys.modules, "peft was imported"
print(json.dumps({"logits": out.tolist(), "peft_imported": "peft" in sys.modules}))
"""


def test_exported_folder_loads_without_peft(tiny_model_dir: Path, tmp_path: Path, prompts):
    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=3)
    out = export_model(run, tmp_path / "export", dtype="float32").out
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", NO_PEFT_SCRIPT, str(out), str(tmp_path / "prompts.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["peft_imported"] is False
    expected = reference_logits(tiny_model_dir, [run / "adapter"], prompts)
    assert torch.allclose(torch.tensor(result["logits"]), expected, atol=1e-4, rtol=0)


def _eval(argv: list[str], out: Path) -> dict:
    from stemqa.train.eval_cli import main as eval_main

    common = ["--dataset_name", str(MMLU), "--limit", "12", "--device", "cpu"]
    common += ["--dtype", "float32", "--no_progress", "--output_path", str(out)]
    assert eval_main([*argv, *common]) == 0
    return json.loads(out.read_text())["conditions"]["closed_book"]


def test_eval_mcqa_on_export_matches_base_plus_adapter(tiny_model_dir: Path, tmp_path: Path):
    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=4)
    out = export_model(run, tmp_path / "export", dtype="float32").out
    merged = _eval(["--model_name_or_path", str(out)], tmp_path / "merged.json")
    unmerged = _eval(
        ["--model_name_or_path", str(tiny_model_dir), "--adapter", str(run / "adapter")],
        tmp_path / "unmerged.json",
    )
    base = _eval(["--model_name_or_path", str(tiny_model_dir)], tmp_path / "base.json")
    predicted = [p["predicted"] for p in merged["predictions"]]
    assert predicted == [p["predicted"] for p in unmerged["predictions"]]
    for a, b in zip(merged["predictions"], unmerged["predictions"], strict=True):
        for letter in "ABCD":
            assert a["probs"][letter] == pytest.approx(b["probs"][letter], abs=1e-4)
    # the adapter matters: some probability differs from the bare base model's
    assert any(
        abs(a["probs"]["A"] - b["probs"]["A"]) > 1e-3
        for a, b in zip(merged["predictions"], base["predictions"], strict=True)
    )


def test_dpo_then_mcqa_chain_merges_the_final_adapter_once(
    tiny_model_dir: Path, tmp_path: Path, prompts
):
    """train-mcqa --adapter DPO continues the same weights, so the MCQA adapter already holds
    the DPO update: the export merges it once (merging DPO and then MCQA would apply DPO twice)."""
    from stemqa.train.mcqa_cli import main as train_mcqa
    from stemqa.train.mcqa_data import write_mcqs_jsonl

    dpo = make_adapter_run(tmp_path / "dpo", tiny_model_dir, seed=5)
    mcqs = load_mcqs(MMLU, format="mmlu-csv", limit=8)
    data = write_mcqs_jsonl(mcqs, tmp_path / "mcqa.jsonl")
    mcqa = tmp_path / "mcqa"
    argv = ["--config", str(ROOT / "configs" / "mcqa_phi2_qdora.yaml")]
    argv += ["--model_name_or_path", str(tiny_model_dir), "--dataset_name", str(data)]
    argv += ["--adapter", str(dpo / "adapter"), "--output_dir", str(mcqa)]
    argv += ["--load_in_4bit", "false", "--dtype", "float32", "--use_cpu", "true"]
    argv += ["--max_steps", "2", "--learning_rate", "5e-2", "--per_device_train_batch_size", "4"]
    argv += ["--gradient_accumulation_steps", "1", "--gradient_checkpointing", "false"]
    argv += ["--eval_strategy", "no", "--save_strategy", "no", "--early_stopping_patience", "0"]
    argv += ["--load_best_model_at_end", "false", "--max_length", "512", "--report_to", "none"]
    argv += ["--lora_dropout", "0.0"]
    assert train_mcqa(argv) == 0
    assert json.loads((mcqa / "summary.json").read_text())["adapter_init"] == str(dpo / "adapter")

    chain = adapter_chain(mcqa)
    assert [s.adapter for s in chain] == [dpo / "adapter", mcqa / "adapter"]
    assert [s.merged for s in chain] == [False, True]

    out = tmp_path / "export"
    assert main([str(mcqa), "--output_dir", str(out), "--dtype", "float32", "--no_progress"]) == 0
    got = exported_logits(out, prompts)
    final = reference_logits(tiny_model_dir, [mcqa / "adapter"], prompts)
    dpo_only = reference_logits(tiny_model_dir, [dpo / "adapter"], prompts)
    twice = reference_logits(tiny_model_dir, [dpo / "adapter", mcqa / "adapter"], prompts)
    assert torch.allclose(got, final, atol=1e-4, rtol=0)
    assert (got - dpo_only).abs().max() > 1e-3  # MCQA training changed the weights
    assert (got - twice).abs().max() > 1e-3  # and DPO's update was not applied a second time
    record = json.loads((out / EXPORT_FILE).read_text())
    assert [s["adapter"] for s in record["chain"]] == [str(dpo / "adapter"), str(mcqa / "adapter")]
    assert record["chain"][0]["method"] == "DPO (DoRA)"
    assert record["chain"][1]["method"].endswith("(DoRA)")  # train-mcqa's own method label
    card = (out / "README.md").read_text()
    assert str(dpo / "adapter") in card and "continued by the next run" in card


def test_adapter_trained_on_top_of_an_adapter_merges_in_order(
    tiny_model_dir: Path, tmp_path: Path, prompts
):
    """A run whose base_model is another run folder (a second adapter stacked on the first):
    the first is merged into the base, then the second on top."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from stemqa.core import load_tokenizer

    first = make_adapter_run(tmp_path / "first", tiny_model_dir, seed=6)
    merged_first = tmp_path / "first-merged"
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    PeftModel.from_pretrained(base, str(first / "adapter")).merge_and_unload().save_pretrained(
        merged_first
    )
    load_tokenizer(tiny_model_dir).save_pretrained(merged_first)
    second = make_adapter_run(
        tmp_path / "second",
        merged_first,
        seed=7,
        method="SFT-MCQA (DoRA)",
        summary_base=str(first),  # recorded base: the first run (what a stacked run names)
    )
    chain = adapter_chain(second)
    assert [s.adapter for s in chain] == [first / "adapter", second / "adapter"]
    assert all(s.merged for s in chain)
    out = export_model(second, tmp_path / "export", dtype="float32").out
    got = exported_logits(out, prompts)
    expected = reference_logits(tiny_model_dir, [first / "adapter", second / "adapter"], prompts)
    assert torch.allclose(got, expected, atol=1e-4, rtol=0)


def test_4bit_trained_adapter_merges_into_the_fp32_base(
    tiny_model_dir: Path, tmp_path: Path, prompts
):
    """A QDoRA adapter (trained on the NF4 base) is merged into the *unquantized* fp32 base.

    Stated tolerance: exact (1e-4) against fp32 base + adapter; against the 4-bit model it was
    trained with, the merged model may differ only by NF4's own rounding of the base: mean
    |delta logit| <= 1.5x the gap between the fp32 and NF4 bases on the same prompts. (The tiny
    random model quantizes badly - that gap is ~0.2 logits here; phi-2's is far smaller.)"""
    from stemqa.core.loading import bnb_config

    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=8, quantized=True)
    out = export_model(run, tmp_path / "export", dtype="float32").out
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    got = exported_logits(out, prompts)

    fp32_plus_adapter = reference_logits(tiny_model_dir, [run / "adapter"], prompts)
    assert torch.allclose(got, fp32_plus_adapter, atol=1e-4, rtol=0)

    q4 = {"quantization_config": bnb_config("nf4"), "device_map": {"": "cpu"}}
    trained_with = reference_logits(tiny_model_dir, [run / "adapter"], prompts, **q4)
    q4_base = reference_logits(tiny_model_dir, [], prompts, **q4)
    fp32_base = reference_logits(tiny_model_dir, [], prompts)
    nf4_gap = (fp32_base - q4_base).abs().mean()
    merge_gap = (got - trained_with).abs().mean()
    assert merge_gap <= 1.5 * nf4_gap, (merge_gap, nf4_gap)
    # and the adapter's update is in there: closer to the 4-bit-trained model than the bare base
    assert merge_gap < (fp32_base - trained_with).abs().mean()


def test_quantized_merge_target_is_refused(tiny_model_dir: Path, tmp_path: Path, capsys):
    """A base stored in 4-bit (a real bitsandbytes checkpoint) is refused, saying why."""
    from transformers import AutoModelForCausalLM

    from stemqa.core.loading import bnb_config

    quantized = tmp_path / "tiny-nf4"
    AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, quantization_config=bnb_config("nf4"), device_map={"": "cpu"}
    ).save_pretrained(quantized)
    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=9)
    out = tmp_path / "export"
    capsys.readouterr()  # drop the set-up's loading bars
    code = main([str(run), "--output_dir", str(out), "--base", str(quantized), "--no_progress"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stored quantized" in err[0] and "peft#2321" in err[0]
    assert "--base" in err[0]
    assert not out.exists()


def test_user_errors_are_one_line_exit_2(tiny_model_dir: Path, tmp_path: Path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--output_dir", str(tmp_path / "o"), "--no_progress"]) == 2
    assert "holds no adapter" in capsys.readouterr().err

    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=10)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    assert main([str(run), "--output_dir", str(taken), "--no_progress"]) == 2
    assert "not an empty folder" in capsys.readouterr().err

    code = main(
        [str(run), "--output_dir", str(tmp_path / "o2"), "--repo_id", "nope", "--no_progress"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--repo_id 'nope' is not of the form USER/NAME" in err
    assert not (tmp_path / "o2").exists()  # refused before any merge


def test_push_to_uploads_the_folder_in_one_commit(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch, capsys
):
    """HfApi.create_repo/create_commit are replaced (no Hub here); the rest is real."""
    calls: dict[str, Any] = {"commits": 0}

    def create_repo(self, repo_id, **kwargs):
        from huggingface_hub import RepoUrl

        calls["repo"] = (repo_id, kwargs)
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, repo_id, operations, **kwargs):
        calls["commits"] += 1
        calls["operations"] = [op.path_in_repo for op in operations]

        class Info:
            oid = "0123abc"

        return Info()

    secret = "hf_export_secret_token"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", create_repo)
    monkeypatch.setattr("huggingface_hub.HfApi.create_commit", create_commit)
    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=11)
    out = tmp_path / "export"
    argv = [str(run), "--output_dir", str(out), "--repo_id", "me/tiny-merged", "--private"]
    assert main([*argv, "--no_progress"]) == 0
    assert calls["commits"] == 1 and calls["repo"][1]["private"] is True
    assert sorted(calls["operations"]) == sorted(
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
    )
    assert "config.json" in calls["operations"] and "README.md" in calls["operations"]
    printed = capsys.readouterr()
    assert secret not in printed.out + printed.err
    assert "https://huggingface.co/me/tiny-merged" in printed.out


@pytest.mark.parametrize(("old", "new"), [("--out", "--output_dir"), ("--push-to", "--repo_id")])
def test_export_flags_follow_the_shared_vocabulary(old: str, new: str, capsys) -> None:
    from stemqa.train.export_cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", old, "x"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == f"export-model: {old} was renamed to {new}; use {new}"
