"""MCQA fine-tuning: teach the (DPO-aligned) model to answer with one option letter.

``run_mcqa(script_args, training_args, model_args)`` is what ``train-mcqa`` calls. It takes the
same three kinds of objects as ``trl sft`` (our script arguments, TRL's SFTConfig and
ModelConfig), so every TRL option works as a YAML key or a flag.

Each MCQ becomes a prompt/completion pair: the prompt is core's MMLU-layout prompt (the one
eval-mcqa scores), the completion is ``' X'`` — the same ``' A'``-style token the logits method
reads. TRL then masks the prompt, so the loss is on the letter (and EOS) only. The model, the
QDoRA adapter, plots, early stopping, resume, model card and push are train-dpo's shared code in
``stemqa.train.training``; ``--adapter`` continues a DPO adapter.
"""

from __future__ import annotations

import random
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stemqa.train.training.config import RunArguments
from stemqa.train.training.plots import Panel

#: The report's QDoRA recipe (as train-dpo) with SFT settings. configs/mcqa_phi2_qdora.yaml
#: repeats them for users to edit.
MCQA_DEFAULTS: dict[str, Any] = {
    # model (ModelConfig)
    "model_name_or_path": "microsoft/phi-2",
    "dtype": "bfloat16",
    "load_in_4bit": True,
    "bnb_4bit_quant_type": "nf4",
    "use_bnb_nested_quant": True,
    "use_peft": True,
    "use_dora": True,
    "lora_r": 16,
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "lora_target_modules": ["q_proj", "k_proj", "v_proj", "dense"],
    # training (SFTConfig)
    "output_dir": "runs/mcqa-phi2-qdora",
    "completion_only_loss": True,
    "learning_rate": 1e-4,
    "optim": "adamw_torch",
    "per_device_train_batch_size": 4,
    "per_device_eval_batch_size": 8,
    "gradient_accumulation_steps": 4,
    "num_train_epochs": 2,
    "max_length": 2048,
    "gradient_checkpointing": True,
    "eval_strategy": "steps",
    "eval_steps": 100,
    "save_strategy": "steps",
    "save_steps": 100,
    "save_total_limit": 2,
    "logging_steps": 10,
    "load_best_model_at_end": True,
    "metric_for_best_model": "eval_loss",
    "greater_is_better": False,
    "report_to": "none",
    "seed": 42,
}

RECORDED_ARGS = (
    "learning_rate",
    "optim",
    "lr_scheduler_type",
    "warmup_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "max_length",
    "completion_only_loss",
    "bf16",
    "gradient_checkpointing",
    "eval_strategy",
    "eval_steps",
    "metric_for_best_model",
    "seed",
)

#: train-mcqa's plots: completion loss and letter(+EOS) token accuracy, train vs eval.
MCQA_PANELS: tuple[Panel, ...] = (
    Panel("loss.png", "MCQA loss (completion tokens)", ("loss", "eval_loss"), "loss"),
    Panel(
        "token_accuracy.png",
        "Completion token accuracy",
        ("mean_token_accuracy", "eval_mean_token_accuracy"),
        "accuracy",
    ),
)


@dataclass
class MCQAScriptArguments(RunArguments):
    """train-mcqa's own options (beyond TRL's SFTConfig and ModelConfig).

    ``dataset_name`` is anything eval-mcqa reads: an MMLU CSV file/folder, a cais/mmlu-schema
    parquet/jsonl, a GPQA csv, the course's jsonl, a prompt/answer jsonl, or a Hub id.
    """

    dataset_format: str = field(
        default="auto",
        metadata={
            "help": "Layout of dataset_name / eval_dataset_name.",
            "choices": ["auto", "mmlu-hub", "mmlu-csv", "gpqa", "course", "jsonl"],
        },
    )
    eval_dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Separate held-out questions (same layouts). Without it, a Hub dataset's "
            "dataset_eval_split is used, or eval_fraction of a local file is held out."
        },
    )
    test_dataset_name: str | None = field(
        default=None,
        metadata={"help": "Questions scored once at the end with eval-mcqa (summary.json)."},
    )
    eval_fraction: float = field(
        default=0.1,
        metadata={"help": "Share of a local dataset held out for evaluation (seeded shuffle)."},
    )
    subjects: list[str] | None = field(
        default=None,
        metadata={"help": "Keep only these subjects (groups: course, stem)."},
    )
    subject_header: bool = field(
        default=True,
        metadata={"help": "Start prompts with MMLU's 'The following are multiple choice …' line."},
    )
    mcqa_eval_batch_size: int = field(
        default=16, metadata={"help": "Batch size of the final eval-mcqa letter scoring."}
    )


def parse_args(argv: Sequence[str] | None = None):
    from trl import ModelConfig, SFTConfig

    from stemqa.train.training.config import parse_config

    return parse_config(
        (MCQAScriptArguments, SFTConfig, ModelConfig),
        argv,
        defaults=MCQA_DEFAULTS,
        prog="train-mcqa",
    )


def _is_local(source: str) -> bool:
    from pathlib import Path

    return Path(source).exists()


def load_splits(script_args: MCQAScriptArguments, seed: int) -> dict[str, list]:
    """train / eval (/ test) MCQ lists from the script arguments."""
    from stemqa.train.mcqa_data import load_mcqs

    if not script_args.dataset_name:
        raise SystemExit("error: dataset_name is required (a file, folder or Hub id of MCQs)")

    def load(source: str, split: str | None):
        return load_mcqs(
            source,
            format=script_args.dataset_format,
            subjects=script_args.subjects,
            split=split,
            config=script_args.dataset_config,
            seed=seed,
        )

    local = _is_local(script_args.dataset_name)
    train = load(script_args.dataset_name, None if local else script_args.dataset_train_split)
    if script_args.eval_dataset_name:
        evaluation = load(script_args.eval_dataset_name, None)
    elif not local:
        evaluation = load(script_args.dataset_name, script_args.dataset_eval_split)
    elif script_args.eval_fraction > 0:
        order = list(range(len(train)))
        random.Random(seed).shuffle(order)
        n_eval = max(1, round(len(train) * script_args.eval_fraction))
        held = set(order[:n_eval])
        evaluation = [m for i, m in enumerate(train) if i in held]
        train = [m for i, m in enumerate(train) if i not in held]
    else:
        evaluation = []
    splits = {"train": train, "eval": evaluation}
    if script_args.test_dataset_name:
        splits["test"] = load(script_args.test_dataset_name, None)
    if script_args.max_train_samples is not None:
        splits["train"] = splits["train"][: script_args.max_train_samples]
    if script_args.max_eval_samples is not None:
        for role in ("eval", "test"):
            if role in splits:
                splits[role] = splits[role][: script_args.max_eval_samples]
    unanswered = [m.source for m in splits["train"] if m.answer is None]
    if unanswered:
        raise SystemExit(
            f"error: {len(unanswered)} training question(s) have no answer (first: "
            f"{unanswered[0]}); train-mcqa needs the answer letter of every question"
        )
    return splits


def to_sft_rows(
    mcqs: Sequence[Any], tokenizer: Any, *, max_length: int | None, subject_header: bool = True
) -> tuple[list[dict[str, str]], int]:
    """Prompt/completion rows; questions too long for ``max_length`` are skipped (counted).

    The prompt is fitted here rather than letting TRL truncate, because TRL cuts the end of the
    sequence — the answer letter, the only supervised token.
    """
    from stemqa.core import PromptTooLongError, build_mcq_prompt

    rows, skipped = [], 0
    for mcq in mcqs:
        try:
            prompt = build_mcq_prompt(
                mcq,
                tokenizer=tokenizer if max_length else None,
                max_tokens=max_length or 2048,
                reserve_tokens=4,
                subject_header=subject_header,
            )
        except PromptTooLongError:
            skipped += 1
            continue
        rows.append({"prompt": prompt, "completion": f" {mcq.answer_letter}"})
    return rows, skipped


def dry_run_plan(script_args: MCQAScriptArguments, training_args, model_args) -> dict[str, Any]:
    from stemqa.train.training.plan import build_plan

    return build_plan(
        model_args,
        training_args,
        method="sft-mcqa",
        effective_batch_size=training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps,
        completion_only_loss=training_args.completion_only_loss,
        dataset=script_args.dataset_name,
        adapter_init=script_args.adapter or "fresh",
        early_stopping_patience=script_args.early_stopping_patience,
        metric_for_best_model=training_args.metric_for_best_model,
    )


def run_mcqa(script_args: MCQAScriptArguments, training_args, model_args) -> dict[str, Any]:
    """Train; returns the run summary (also written to OUTPUT_DIR/summary.json)."""
    from datasets import Dataset
    from trl import SFTTrainer

    from stemqa.train.eval_mcqa import evaluate_mcqa
    from stemqa.train.training.callbacks import check_early_stopping_args
    from stemqa.train.training.lifecycle import (
        attach_run_callbacks,
        finish_run,
        guard_adapter,
        train,
    )
    from stemqa.train.training.model import (
        build_qdora_model,
        configure_dropout,
        quantization_name,
    )
    from stemqa.train.training.runs import resolve_resume, training_args_summary

    if script_args.dry_run:
        from stemqa.train.training.plan import print_plan

        plan = dry_run_plan(script_args, training_args, model_args)
        print_plan(plan)
        return plan

    if training_args.completion_only_loss is False:
        print(
            "note: completion_only_loss is false: the loss also covers the prompt tokens",
            file=sys.stderr,
        )
    evaluating = str(training_args.eval_strategy).split(".")[-1].lower() not in ("no", "none")
    patience = script_args.early_stopping_patience if evaluating else 0
    check_early_stopping_args(training_args, patience)
    resume_from = resolve_resume(
        training_args.output_dir, script_args.resume, training_args.resume_from_checkpoint
    )

    splits = load_splits(script_args, training_args.seed)
    if evaluating and not splits["eval"]:
        raise SystemExit(
            "error: no held-out questions to evaluate on: give eval_dataset_name or "
            "eval_fraction > 0, or set eval_strategy: no with early_stopping_patience: 0 and "
            "load_best_model_at_end: false"
        )

    model, tokenizer = build_qdora_model(
        model_args,
        adapter=script_args.adapter,
        gradient_checkpointing=training_args.gradient_checkpointing,
        gradient_checkpointing_kwargs=training_args.gradient_checkpointing_kwargs,
    )
    datasets: dict[str, Any] = {}
    skipped: dict[str, int] = {}
    for role in ("train", "eval", "test"):
        if splits.get(role):
            rows, skipped[role] = to_sft_rows(
                splits[role],
                tokenizer,
                max_length=training_args.max_length,
                subject_header=script_args.subject_header,
            )
            datasets[role] = Dataset.from_list(rows)
    if skipped.get("train"):
        print(
            f"note: skipped {skipped['train']} training question(s) longer than max_length="
            f"{training_args.max_length} tokens",
            file=sys.stderr,
        )

    disable_base_dropout = bool(getattr(training_args, "disable_dropout", False))
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets["train"],
        eval_dataset=datasets.get("eval") if evaluating else None,
        processing_class=tokenizer,
    )
    unwrapped = trainer.model
    dropout = configure_dropout(unwrapped, disable_base_dropout=disable_base_dropout)
    guard_adapter(unwrapped)
    plots = attach_run_callbacks(
        trainer,
        training_args.output_dir,
        MCQA_PANELS,
        plot_every=script_args.plot_every,
        patience=patience,
        threshold=script_args.early_stopping_threshold,
    )

    train_output = train(trainer, resume_from)

    # Letter accuracy the way eval-mcqa measures it (one forward pass, ' A'-token scoring),
    # so the run's numbers and a later `eval-mcqa` run agree.
    accuracy: dict[str, Any] = {}
    unwrapped.eval()
    for role in ("eval", "test"):
        if splits.get(role):
            result = evaluate_mcqa(
                unwrapped,
                tokenizer,
                splits[role],
                method="logits",
                batch_size=script_args.mcqa_eval_batch_size,
                max_tokens=training_args.max_length,
                subject_header=script_args.subject_header,
                progress=False,
            )
            accuracy[role] = result.to_dict(predictions=False)["conditions"]["closed_book"]

    hyper = training_args_summary(training_args, RECORDED_ARGS)
    hyper.update(
        {
            "quantization": quantization_name(model_args),
            "compute_dtype": model_args.dtype,
            "disable_base_dropout": disable_base_dropout,
            "early_stopping_patience": patience,
        }
    )
    summary = finish_run(
        trainer,
        plots,
        output_dir=training_args.output_dir,
        train_output=train_output,
        eval_dataset=datasets.get("eval") if evaluating else None,
        test_dataset=datasets.get("test"),
        tokenizer=tokenizer,
        base_model=str(model_args.model_name_or_path),
        method="MCQA SFT (QDoRA)" if quantization_name(model_args) != "none" else "MCQA SFT (DoRA)",
        title=f"{str(model_args.model_name_or_path).split('/')[-1]} MCQA adapter",
        hyperparameters=hyper,
        data={
            "source": script_args.dataset_name,
            "eval_source": script_args.eval_dataset_name
            or (
                f"{script_args.eval_fraction:.0%} held out"
                if _is_local(script_args.dataset_name)
                else script_args.dataset_eval_split
            ),
            "rows": {role: len(ds) for role, ds in datasets.items()},
            "skipped_too_long": skipped,
            "subjects": script_args.subjects,
        },
        extra={
            "quantization": quantization_name(model_args),
            "adapter_init": script_args.adapter or "fresh",
            "resumed_from": resume_from,
            "dropout": dropout,
            "mcqa_accuracy": accuracy,
        },
        tags=("mcqa", "sft", "dora", "qdora"),
        command="uv run train-mcqa " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    return summary
