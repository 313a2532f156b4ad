"""QDoRA DPO training: the report's recipe as one command on TRL's DPOTrainer.

``run_dpo(script_args, training_args, model_args)`` is what ``train-dpo`` calls; it takes the
same three kinds of objects as ``trl dpo`` (our script arguments, TRL's DPOConfig and
ModelConfig), so everything TRL documents works as a YAML key or a flag.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from typing import Any

from stemqa.train.training.config import RunArguments

#: The report's settings. configs/dpo_phi2_qdora.yaml repeats them for users to edit.
DPO_DEFAULTS: dict[str, Any] = {
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
    # training (DPOConfig)
    "output_dir": "runs/dpo-phi2-qdora",
    "learning_rate": 5e-5,
    "optim": "adamw_torch",
    "per_device_train_batch_size": 1,
    "per_device_eval_batch_size": 1,
    "gradient_accumulation_steps": 4,
    "num_train_epochs": 3,
    "beta": 0.1,
    "max_length": 2048,
    "gradient_checkpointing": True,
    "eval_strategy": "steps",
    "eval_steps": 200,
    "save_strategy": "steps",
    "save_steps": 200,
    "save_total_limit": 2,
    "logging_steps": 10,
    "load_best_model_at_end": True,
    "metric_for_best_model": "eval_rewards/accuracies",
    "greater_is_better": True,
    "report_to": "none",
    "seed": 42,
}

#: Keys of DPOConfig recorded in summary.json and the model card.
RECORDED_ARGS = (
    "learning_rate",
    "optim",
    "lr_scheduler_type",
    "warmup_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "beta",
    "loss_type",
    "max_length",
    "bf16",
    "gradient_checkpointing",
    "eval_strategy",
    "eval_steps",
    "metric_for_best_model",
    "seed",
)


@dataclass
class DPOScriptArguments(RunArguments):
    """train-dpo's own options (beyond TRL's DPOConfig and ModelConfig)."""

    reference: str = field(
        default="base",
        metadata={
            "help": "Reference policy: 'base' = the base model with the adapter disabled (no "
            "second copy in memory; also when continuing an adapter, so the objective stays the "
            "same across runs), or 'initial' = a frozen copy of the --adapter you continue "
            "(DPO after an SFT adapter).",
            "choices": ["base", "initial"],
        },
    )


def parse_args(argv=None):
    from trl import DPOConfig, ModelConfig

    from stemqa.train.training.config import parse_config

    return parse_config(
        (DPOScriptArguments, DPOConfig, ModelConfig), argv, defaults=DPO_DEFAULTS, prog="train-dpo"
    )


def dry_run_plan(script_args: DPOScriptArguments, training_args, model_args) -> dict[str, Any]:
    from stemqa.train.training.plan import build_plan

    effective_batch = (
        training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    )
    return build_plan(
        model_args,
        training_args,
        method="dpo",
        beta=training_args.beta,
        loss_type=list(training_args.loss_type),
        effective_batch_size=effective_batch,
        reference=f"{script_args.reference} ("
        + ("adapter disabled" if script_args.reference == "base" else "frozen adapter copy")
        + ")",
        dataset=script_args.dataset_name,
        adapter_init=script_args.adapter or "fresh",
        early_stopping_patience=script_args.early_stopping_patience,
        metric_for_best_model=training_args.metric_for_best_model,
    )


def _check_args(script_args: DPOScriptArguments, training_args) -> None:
    if script_args.reference == "initial" and not script_args.adapter:
        raise SystemExit(
            "error: reference: initial needs --adapter (a fresh adapter's initial copy is the "
            "base model; use reference: base)"
        )
    if training_args.precompute_ref_log_probs and script_args.reference == "initial":
        raise SystemExit("error: precompute_ref_log_probs is not supported with reference: initial")


def run_dpo(script_args: DPOScriptArguments, training_args, model_args) -> dict[str, Any]:
    """Train; returns the run summary (also written to OUTPUT_DIR/summary.json)."""
    from trl import DPOTrainer

    from stemqa.train.dpo_data import load_preference_data
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
    from stemqa.train.training.plots import DPO_PANELS
    from stemqa.train.training.runs import resolve_resume, training_args_summary

    if script_args.dry_run:
        from stemqa.train.training.plan import print_plan

        plan = dry_run_plan(script_args, training_args, model_args)
        print_plan(plan)
        return plan

    _check_args(script_args, training_args)
    evaluating = str(training_args.eval_strategy).split(".")[-1].lower() not in ("no", "none")
    check_early_stopping_args(training_args, script_args.early_stopping_patience)
    resume_from = resolve_resume(
        training_args.output_dir, script_args.resume, training_args.resume_from_checkpoint
    )

    data = load_preference_data(
        script_args.dataset_name,
        config=script_args.dataset_config,
        splits={
            "train": script_args.dataset_train_split,
            "eval": script_args.dataset_eval_split,
            "test": script_args.dataset_test_split,
        },
        max_train_samples=script_args.max_train_samples,
        max_eval_samples=script_args.max_eval_samples,
    )
    eval_dataset = data.splits.get("eval")
    if evaluating and eval_dataset is None:
        raise SystemExit(
            f"error: {script_args.dataset_name} has no {script_args.dataset_eval_split!r} split to "
            "evaluate on: set dataset_eval_split, or eval_strategy: no with "
            "early_stopping_patience: 0 and load_best_model_at_end: false"
        )

    model, tokenizer = build_qdora_model(
        model_args,
        adapter=script_args.adapter,
        gradient_checkpointing=training_args.gradient_checkpointing,
        gradient_checkpointing_kwargs=training_args.gradient_checkpointing_kwargs,
    )
    # Our dropout decision replaces TRL's blanket disable_dropout (see configure_dropout).
    disable_base_dropout = bool(training_args.disable_dropout)
    training_args.disable_dropout = False
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=training_args,
        train_dataset=data.splits["train"],
        eval_dataset=eval_dataset if evaluating else None,
        processing_class=tokenizer,
    )
    training_args.disable_dropout = disable_base_dropout
    unwrapped = trainer.model
    if "ref" in unwrapped.peft_config and script_args.reference == "base":
        # TRL copies a pre-trained adapter to a frozen "ref" adapter; reference: base wants the
        # adapter-disabled base model instead (no extra adapter in memory or compute).
        unwrapped.delete_adapter("ref")
        unwrapped.set_adapter("default")
    dropout = configure_dropout(unwrapped, disable_base_dropout=disable_base_dropout)
    guard_adapter(unwrapped)
    plots = attach_run_callbacks(
        trainer,
        training_args.output_dir,
        DPO_PANELS,
        plot_every=script_args.plot_every,
        patience=script_args.early_stopping_patience if evaluating else 0,
        threshold=script_args.early_stopping_threshold,
    )

    train_output = train(trainer, resume_from)

    hyper = training_args_summary(training_args, RECORDED_ARGS)
    hyper.update(
        {
            "quantization": quantization_name(model_args),
            "compute_dtype": model_args.dtype,
            "reference": script_args.reference,
            "disable_base_dropout": disable_base_dropout,
            "early_stopping_patience": script_args.early_stopping_patience,
        }
    )
    rows = {role: len(ds) for role, ds in data.splits.items()}
    summary = finish_run(
        trainer,
        plots,
        output_dir=training_args.output_dir,
        train_output=train_output,
        eval_dataset=eval_dataset,
        test_dataset=data.splits.get("test"),
        tokenizer=tokenizer,
        base_model=str(model_args.model_name_or_path),
        method="DPO (QDoRA)" if quantization_name(model_args) != "none" else "DPO (DoRA)",
        title=f"{str(model_args.model_name_or_path).split('/')[-1]} DPO adapter",
        hyperparameters=hyper,
        data={
            "source": data.source,
            "rows": rows,
            "stats": data.stats,
            "recipe": data.recipe,
        },
        extra={
            "quantization": quantization_name(model_args),
            "reference": script_args.reference,
            "adapter_init": script_args.adapter or "fresh",
            "resumed_from": resume_from,
            "dropout": dropout,
        },
        tags=("dpo", "dora", "qdora"),
        command="uv run train-dpo " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    return summary
