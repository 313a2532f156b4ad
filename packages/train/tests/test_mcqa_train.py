"""train-mcqa really teaches: a tiny random model goes from chance to >= 85% held-out accuracy
on a synthetic task, measured by eval-mcqa on questions it never saw.

The task — "which option says yes?" among random distractor words, at a random position — needs
the option text (the right letter moves with it), so a constant answer cannot pass. CPU, no
4-bit: the learning test uses a non-quantized DoRA adapter (same code path as QDoRA minus
bitsandbytes, which would make ~250 steps several times slower on CPU); QDoRA on the same
commands is covered by the dry-run/4-bit smoke test below.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from stemqa.core import MCQ
from stemqa.train.mcqa_data import write_mcqs_jsonl

WORDS = (
    "red",
    "blue",
    "green",
    "cat",
    "dog",
    "sun",
    "moon",
    "tree",
    "fish",
    "bird",
    "rock",
    "star",
)


def synthetic(n: int, seed: int) -> list[MCQ]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        options = [*rng.sample(WORDS, 3), "yes"]
        rng.shuffle(options)
        out.append(
            MCQ(
                question="Which option says yes?",
                choices=tuple(options),
                answer=options.index("yes"),
                subject="synthetic",
                source=f"synthetic:{seed}:{i}",
            )
        )
    return out


@pytest.fixture
def one_thread():
    """Two shared cores: one intra-op thread is ~10x faster than two under contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _eval_accuracy(tiny_model_dir: Path, data: Path, out: Path, adapter: Path | None) -> dict:
    from stemqa.train.eval_cli import main as eval_main

    argv = ["--model_name_or_path", str(tiny_model_dir), "--dataset_name", str(data)]
    argv += ["--output_path", str(out)]
    argv += ["--device", "cpu", "--batch_size", "50", "--no_progress"]
    if adapter is not None:
        argv += ["--adapter", str(adapter)]
    assert eval_main(argv) == 0
    return json.loads(out.read_text())["conditions"]["closed_book"]["overall"]


@pytest.mark.slow
def test_train_mcqa_learns_synthetic_task(tiny_model_dir: Path, tmp_path: Path, one_thread) -> None:
    from stemqa.train.mcqa_cli import main as train_main

    train = write_mcqs_jsonl(synthetic(2000, seed=0), tmp_path / "train.jsonl")
    heldout = write_mcqs_jsonl(synthetic(200, seed=1), tmp_path / "heldout.jsonl")
    run = tmp_path / "run"

    before = _eval_accuracy(tiny_model_dir, heldout, tmp_path / "before.json", None)
    assert before["accuracy"] <= 0.45, before  # chance is 0.25

    argv = [
        "--config",
        str(Path(__file__).resolve().parents[3] / "configs" / "mcqa_phi2_qdora.yaml"),
        "--model_name_or_path",
        str(tiny_model_dir),
        "--dataset_name",
        str(train),
        "--eval_dataset_name",
        str(heldout),
        "--max_eval_samples",
        "64",
        "--load_in_4bit",
        "false",
        "--dtype",
        "float32",
        "--lora_dropout",
        "0.0",
        "--gradient_checkpointing",
        "false",
        "--learning_rate",
        "5e-3",
        "--lr_scheduler_type",
        "cosine",
        "--warmup_steps",
        "10",
        "--per_device_train_batch_size",
        "16",
        "--gradient_accumulation_steps",
        "1",
        "--max_steps",
        "400",
        "--eval_steps",
        "200",
        "--save_steps",
        "200",
        "--logging_steps",
        "50",
        "--early_stopping_patience",
        "0",
        "--load_best_model_at_end",
        "false",
        "--max_length",
        "256",
        "--output_dir",
        str(run),
        "--use_cpu",
        "true",
        "--dataloader_num_workers",
        "0",
    ]
    assert train_main(argv) == 0

    after = _eval_accuracy(tiny_model_dir, heldout, tmp_path / "after.json", run / "adapter")
    # 0.895 on a fresh clone since the run template picks the micro-batch itself (--auto_batch:
    # same effective batch, other rounding); the learning claim is the disjoint intervals below.
    assert after["accuracy"] >= 0.85, after
    assert after["ci_low"] > before["ci_high"]
    # format compliance rises with accuracy: the letters now hold most of the probability mass
    assert after["mean_mass"] > 0.5 > before["mean_mass"]

    summary = json.loads((run / "summary.json").read_text())
    assert summary["adapter_type"] == "dora"
    assert summary["hyperparameters"]["completion_only_loss"] is True
    assert summary["mcqa_accuracy"]["eval"]["overall"]["accuracy"] >= 0.85
    assert (run / "plots" / "loss.png").is_file()
    assert (run / "README.md").read_text().startswith("---")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("eval_loss" in m for m in metrics)


def test_sft_rows_put_loss_on_the_letter_only(tiny_model_dir: Path) -> None:
    """TRL masks the prompt: only the ' X' letter (and EOS) carry labels."""
    from datasets import Dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from stemqa.core import load_tokenizer
    from stemqa.train.mcqa import to_sft_rows

    tokenizer = load_tokenizer(tiny_model_dir)
    rows, skipped = to_sft_rows(synthetic(3, seed=5), tokenizer, max_length=256)
    assert skipped == 0
    assert all(r["prompt"].endswith("Answer:") for r in rows)
    assert [r["completion"] for r in rows] == [f" {m.answer_letter}" for m in synthetic(3, seed=5)]

    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    args = SFTConfig(
        output_dir="/tmp/unused-mcqa", report_to="none", use_cpu=True, bf16=False, max_length=256
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    assert isinstance(trainer.data_collator, DataCollatorForLanguageModeling)
    labels = batch["labels"][0].tolist()
    supervised = [t for t in labels if t != -100]
    letter = tokenizer.encode(rows[0]["completion"], add_special_tokens=False)
    assert supervised == [*letter, tokenizer.eos_token_id]


def test_too_long_questions_are_skipped_not_truncated(tiny_model_dir: Path) -> None:
    from stemqa.core import load_tokenizer
    from stemqa.train.mcqa import to_sft_rows

    tokenizer = load_tokenizer(tiny_model_dir)
    long = MCQ(question="word " * 400, choices=("a", "b"), answer=0)
    rows, skipped = to_sft_rows([long, *synthetic(2, seed=3)], tokenizer, max_length=128)
    assert skipped == 1 and len(rows) == 2


@pytest.mark.slow
def test_train_mcqa_qdora_4bit_smoke_and_dry_run(
    tiny_model_dir: Path, tmp_path: Path, one_thread, capsys
) -> None:
    """The real recipe (4-bit NF4 + DoRA, from the YAML) runs end to end on CPU for a few
    steps and continues from an existing adapter, as when starting from the DPO adapter."""
    from stemqa.train.mcqa_cli import main as train_main

    config = str(Path(__file__).resolve().parents[3] / "configs" / "mcqa_phi2_qdora.yaml")
    data = write_mcqs_jsonl(synthetic(40, seed=7), tmp_path / "train.jsonl")
    common = ["--config", config, "--model_name_or_path", str(tiny_model_dir)]
    common += ["--dataset_name", str(data), "--use_cpu", "true", "--max_length", "256"]

    assert train_main([*common, "--dry_run", "true"]) == 0
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert plan["quantization"].startswith("nf4") and plan["adapter"] == "dora"
    assert plan["method"] == "sft-mcqa" and plan["completion_only_loss"] is True

    steps = ["--max_steps", "2", "--per_device_train_batch_size", "4"]
    steps += ["--gradient_accumulation_steps", "1", "--eval_steps", "2", "--save_steps", "2"]
    steps += ["--gradient_checkpointing", "false"]
    first = tmp_path / "first"
    assert train_main([*common, *steps, "--output_dir", str(first)]) == 0
    summary = json.loads((first / "summary.json").read_text())
    assert summary["quantization"].startswith("nf4") and summary["global_step"] == 2
    assert summary["data"]["rows"] == {"train": 36, "eval": 4}

    second = tmp_path / "second"
    argv = [*common, *steps, "--output_dir", str(second), "--adapter", str(first / "adapter")]
    assert train_main(argv) == 0
    assert json.loads((second / "summary.json").read_text())["adapter_init"] == str(
        first / "adapter"
    )
