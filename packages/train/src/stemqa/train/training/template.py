"""One run template for every training method (train-dpo, train-mcqa, train-orpo).

Every method runs the same lifecycle; only a few steps differ. :class:`TrainingMethod` holds
the lifecycle in :meth:`TrainingMethod.run`:

1. dry run -> plan (meta device) and stop;
2. check the arguments (method checks, early stopping, precision), find the checkpoint to
   resume from and cut metrics.jsonl back to it;
3. **load the data** (method) before the model, so bad data fails in seconds;
4. build the QDoRA model (shared) and **turn the data into trainer datasets** (method: the
   tokenizer is needed for MCQA prompts);
5. **build the TRL trainer** (method: its Trainer and Config) with TRL's blanket
   ``disable_dropout`` held back, then apply the project's dropout policy and the fp32 adapter
   guard (TRL issue 7268) to whatever the trainer left;
6. callbacks (metrics.jsonl, live plots, early stopping), train or resume;
7. test-split evaluation, **method results** (e.g. eval-mcqa letter accuracy), summary.json and
   the model card.

A method subclass declares its names, defaults, panels and recorded args, and overrides the
bold steps. Why a class rather than copies of a run function: the steps in between (dropout,
guard, resume, summary) are where copies drifted apart before.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from stemqa.train.training.config import RunArguments
from stemqa.train.training.plots import Panel

#: TrainingArguments keys every method records in summary.json and the card.
COMMON_RECORDED_ARGS: tuple[str, ...] = (
    "learning_rate",
    "optim",
    "lr_scheduler_type",
    "warmup_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "max_length",
    "bf16",
    "fp16",
    "gradient_checkpointing",
    "eval_strategy",
    "eval_steps",
    "metric_for_best_model",
    "seed",
)

#: Run settings shared by every method (the model half is training.model.MODEL_DEFAULTS).
RUN_DEFAULTS: dict[str, Any] = {
    "optim": "adamw_torch",
    "gradient_checkpointing": True,
    "eval_strategy": "steps",
    "save_strategy": "steps",
    "save_total_limit": 2,
    "logging_steps": 10,
    "load_best_model_at_end": True,
    "report_to": "none",
    "seed": 42,
    # speed, not results: split the effective batch into the largest micro-batch that fits,
    # gradient checkpointing only when memory needs it (training.auto_batch)
    "auto_batch": True,
}


@dataclass
class PreparedData:
    """What the trainer trains and evaluates on, plus the record for summary.json/the card."""

    train: Any
    eval: Any | None = None
    test: Any | None = None
    record: dict[str, Any] = field(default_factory=dict)


def evaluating(training_args: Any) -> bool:
    return str(training_args.eval_strategy).split(".")[-1].lower() not in ("no", "none")


class TrainingMethod:
    """Base of the training methods; see the module docstring for the lifecycle."""

    #: ``method`` in the dry-run plan ("dpo", "sft-mcqa", "orpo"); the console script is
    #: ``train-<command>``.
    name: ClassVar[str]
    command: ClassVar[str]
    #: Card wording: method label ("DPO", "MCQA SFT", "ORPO") and title ("DPO adapter").
    label: ClassVar[str]
    title: ClassVar[str]
    #: The TRL Trainer and its Config as "module:Name" (imported only when a run starts, so
    #: importing a method stays cheap, and experimental TRL trainers stay one string).
    trainer_path: ClassVar[str]
    config_path: ClassVar[str]
    script_arguments: ClassVar[type[RunArguments]] = RunArguments
    defaults: ClassVar[Mapping[str, Any]]
    recorded_args: ClassVar[tuple[str, ...]] = COMMON_RECORDED_ARGS
    panels: ClassVar[tuple[Panel, ...]]
    tags: ClassVar[tuple[str, ...]] = ()
    #: Sequences per example in one forward (chosen + rejected = 2); used by --auto_batch.
    sequences_per_example: ClassVar[int] = 1

    @property
    def prog(self) -> str:
        return f"train-{self.command}"

    # ---- what a method supplies -------------------------------------------------------------
    def config_class(self) -> type:
        return _import(self.config_path)

    def trainer_class(self) -> type:
        return _import(self.trainer_path)

    def user_errors(self) -> tuple[type[BaseException], ...]:
        """Exceptions that are the user's data mistakes (one line, exit 2)."""
        return ()

    def check(self, script_args: Any, training_args: Any) -> None:
        """Method-specific argument checks (raise SystemExit with one line)."""

    def plan_details(self, script_args: Any, training_args: Any) -> dict[str, Any]:
        return {}

    def load_data(self, script_args: Any, training_args: Any) -> Any:
        raise NotImplementedError

    def missing_eval(self, loaded: Any, script_args: Any) -> str | None:
        """Why there is nothing to evaluate on (None: there is), checked before the model."""
        return None

    def prepare(self, loaded: Any, script_args: Any, training_args: Any, tokenizer: Any):
        """Turn ``loaded`` into trainer datasets (:class:`PreparedData`)."""
        raise NotImplementedError

    def build_trainer(self, model: Any, tokenizer: Any, data: PreparedData, training_args: Any):
        """TRL's trainer on the PeftModel we built (no peft_config: TRL would build its own)."""
        return self.trainer_class()(
            model=model,
            args=training_args,
            train_dataset=data.train,
            eval_dataset=data.eval,
            processing_class=tokenizer,
        )

    def test_dataset(self, trainer: Any, dataset: Any) -> Any:
        """The test split as ``trainer.evaluate`` takes it (trainers that tokenize their
        datasets up front need the same done to it)."""
        return dataset

    def after_trainer(self, trainer: Any, script_args: Any) -> None:
        """Adjust the model the trainer wraps (e.g. DPO's reference adapter)."""

    def results(self, trainer: Any, loaded: Any, script_args: Any, training_args: Any, tokenizer):
        """Extra results after training (summary keys)."""
        return {}

    def hyperparameters(self, script_args: Any, training_args: Any) -> dict[str, Any]:
        """Method keys recorded beside :attr:`recorded_args`."""
        return {}

    def summary_extra(self, script_args: Any) -> dict[str, Any]:
        return {}

    # ---- the shared lifecycle ---------------------------------------------------------------
    def parse_args(self, argv: Sequence[str] | None = None):
        from trl import ModelConfig

        from stemqa.train.training.config import parse_config

        return parse_config(
            (self.script_arguments, self.config_class(), ModelConfig),
            argv,
            defaults=self.defaults,
            prog=self.prog,
        )

    def dry_run_plan(self, script_args: Any, training_args: Any, model_args: Any) -> dict:
        from stemqa.train.training.plan import build_plan

        return build_plan(
            model_args,
            training_args,
            method=self.name,
            effective_batch_size=training_args.per_device_train_batch_size
            * training_args.gradient_accumulation_steps,
            **self.plan_details(script_args, training_args),
            dataset=script_args.dataset_name,
            adapter_init=script_args.adapter or "fresh",
            early_stopping_patience=script_args.early_stopping_patience,
            metric_for_best_model=training_args.metric_for_best_model,
        )

    def run(self, script_args: Any, training_args: Any, model_args: Any) -> dict[str, Any]:
        """Train; returns the run summary (also written to OUTPUT_DIR/summary.json)."""
        from stemqa.train.training.callbacks import check_early_stopping_args, truncate_metrics
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
        from stemqa.train.training.runs import (
            METRICS_FILE,
            checkpoint_step,
            resolve_resume,
            training_args_summary,
        )

        if script_args.dry_run:
            from stemqa.train.training.plan import check_dataset, print_plan

            dataset_note = check_dataset(script_args.dataset_name)  # missing local path: exit 2
            plan = self.dry_run_plan(script_args, training_args, model_args)
            if dataset_note:
                plan["dataset_warning"] = dataset_note
            print_plan(plan)
            return plan

        self.check(script_args, training_args)
        on_eval = evaluating(training_args)
        patience = script_args.early_stopping_patience
        check_early_stopping_args(training_args, patience)  # fails (one line) without eval
        resume_from = resolve_resume(
            training_args.output_dir, script_args.resume, training_args.resume_from_checkpoint
        )
        if resume_from:
            from pathlib import Path

            truncate_metrics(
                Path(training_args.output_dir) / METRICS_FILE, checkpoint_step(resume_from)
            )

        loaded = self.load_data(script_args, training_args)
        missing = self.missing_eval(loaded, script_args) if on_eval else None
        if missing:
            raise SystemExit(
                f"error: {missing}, or set eval_strategy: no with early_stopping_patience: 0 and "
                "load_best_model_at_end: false"
            )
        model, tokenizer = build_qdora_model(
            model_args,
            adapter=script_args.adapter,
            gradient_checkpointing=training_args.gradient_checkpointing,
            gradient_checkpointing_kwargs=training_args.gradient_checkpointing_kwargs,
        )
        data = self.prepare(loaded, script_args, training_args, tokenizer)
        if not on_eval:
            data.eval = None
        if script_args.auto_batch:
            from stemqa.train.training.auto_batch import apply_auto_batch

            apply_auto_batch(model, training_args, self.sequences_per_example)

        # The project's dropout decision replaces TRL's blanket disable_dropout (see
        # training.model.configure_dropout): hold it back while the trainer is built.
        disable_base_dropout = bool(getattr(training_args, "disable_dropout", False))
        if disable_base_dropout:
            training_args.disable_dropout = False
        trainer = self.build_trainer(model, tokenizer, data, training_args)
        if disable_base_dropout:
            training_args.disable_dropout = True
        self.after_trainer(trainer, script_args)
        unwrapped = trainer.model
        dropout = configure_dropout(unwrapped, disable_base_dropout=disable_base_dropout)
        guard_adapter(unwrapped)
        plots = attach_run_callbacks(
            trainer,
            training_args.output_dir,
            self.panels,
            plot_every=script_args.plot_every,
            patience=patience,
            threshold=script_args.early_stopping_threshold,
        )

        train_output = train(trainer, resume_from)
        extra_results = self.results(trainer, loaded, script_args, training_args, tokenizer)

        quantization = quantization_name(model_args)
        hyper = training_args_summary(training_args, self.recorded_args)
        hyper.update(self.hyperparameters(script_args, training_args))
        hyper.update(
            {
                "quantization": quantization,
                "compute_dtype": str(model_args.dtype),
                "mixed_precision": mixed_precision_name(training_args),
                "disable_base_dropout": disable_base_dropout,
                "early_stopping_patience": patience,
            }
        )
        model_name = str(model_args.model_name_or_path)
        return finish_run(
            trainer,
            plots,
            output_dir=training_args.output_dir,
            train_output=train_output,
            eval_dataset=trainer.eval_dataset if data.eval is not None else None,
            test_dataset=self.test_dataset(trainer, data.test) if data.test is not None else None,
            tokenizer=tokenizer,
            base_model=model_name,
            method=f"{self.label} ({'QDoRA' if quantization != 'none' else 'DoRA'})",
            title=f"{model_name.split('/')[-1]} {self.title}",
            hyperparameters=hyper,
            data=data.record,
            extra={
                "quantization": quantization,
                "compute_dtype": str(model_args.dtype),
                "mixed_precision": hyper["mixed_precision"],
                **self.summary_extra(script_args),
                "adapter_init": script_args.adapter or "fresh",
                "resumed_from": resume_from,
                "dropout": dropout,
                **extra_results,
            },
            tags=self.tags,
            command=f"uv run {self.prog} " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        )

    def main(self, argv: Sequence[str] | None = None) -> int:
        """The console script: parse, run; a user's mistake is one line and exit 2."""
        from stemqa.train.training.script import run_script

        return run_script(self.parse_args, self.run, self.user_errors(), argv)


def mixed_precision_name(training_args: Any) -> str:
    if getattr(training_args, "bf16", False):
        return "bf16"
    if getattr(training_args, "fp16", False):
        return "fp16"
    return "fp32"


def _import(path: str) -> type:
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)
