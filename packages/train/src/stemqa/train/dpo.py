"""QDoRA DPO training: the report's recipe as one command on TRL's DPOTrainer.

``run_dpo(script_args, training_args, model_args)`` is what ``train-dpo`` calls; it takes the
same three kinds of objects as ``trl dpo`` (our script arguments, TRL's DPOConfig and
ModelConfig), so everything TRL documents works as a YAML key or a flag. The lifecycle is the
shared run template (``stemqa.train.training.template``); this module supplies what is DPO's:
the trainer, the reference policy and the recorded DPO settings.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from stemqa.train.training.config import RunArguments
from stemqa.train.training.model import MODEL_DEFAULTS
from stemqa.train.training.plots import DPO_PANELS
from stemqa.train.training.preference import PreferenceMethod
from stemqa.train.training.template import COMMON_RECORDED_ARGS, RUN_DEFAULTS, PreparedData

#: The report's settings. configs/dpo_phi2_qdora.yaml repeats them for users to edit.
DPO_DEFAULTS: dict[str, Any] = {
    **MODEL_DEFAULTS,
    **RUN_DEFAULTS,
    "output_dir": "runs/dpo-phi2-qdora",
    "learning_rate": 5e-5,
    "per_device_train_batch_size": 1,
    "per_device_eval_batch_size": 1,
    "gradient_accumulation_steps": 4,
    "num_train_epochs": 3,
    "beta": 0.1,
    "max_length": 2048,
    "eval_steps": 200,
    "save_steps": 200,
    "metric_for_best_model": "eval_rewards/accuracies",
    "greater_is_better": True,
    # The reference is the frozen base: its log-probs are computed once, batched, before
    # training instead of one extra forward per example and epoch (same values).
    "precompute_ref_log_probs": True,
}

#: Keys of DPOConfig recorded in summary.json and the model card.
RECORDED_ARGS = (*COMMON_RECORDED_ARGS, "beta", "loss_type", "precompute_ref_log_probs")


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


class DPOMethod(PreferenceMethod):
    """train-dpo: TRL's DPOTrainer, reference = adapter-disabled base (or a frozen copy)."""

    name = "dpo"
    prog = "train-dpo"
    label = "DPO"
    title = "DPO adapter"
    script_arguments = DPOScriptArguments
    defaults = DPO_DEFAULTS
    recorded_args = RECORDED_ARGS
    panels = DPO_PANELS
    tags = ("dpo", "dora", "qdora")

    def config_class(self) -> type:
        from trl import DPOConfig

        return DPOConfig

    def check(self, script_args: DPOScriptArguments, training_args: Any) -> None:
        if script_args.reference == "initial" and not script_args.adapter:
            raise SystemExit(
                "error: reference: initial needs --adapter (a fresh adapter's initial copy is "
                "the base model; use reference: base)"
            )
        if training_args.precompute_ref_log_probs and script_args.adapter:
            # TRL would precompute with its frozen copy of the continued adapter ("ref"), not
            # the base model that reference: base means; compute it on the fly instead.
            print(
                "note: continuing an adapter: reference log-probs are computed during training "
                "(precompute_ref_log_probs off)",
                file=sys.stderr,
            )
            training_args.precompute_ref_log_probs = False

    def plan_details(self, script_args: DPOScriptArguments, training_args: Any) -> dict:
        kind = "adapter disabled" if script_args.reference == "base" else "frozen adapter copy"
        return {
            "beta": training_args.beta,
            "loss_type": list(training_args.loss_type),
            "reference": f"{script_args.reference} ({kind})",
        }

    def build_trainer(self, model: Any, tokenizer: Any, data: PreparedData, training_args: Any):
        from trl import DPOTrainer

        return DPOTrainer(
            model=model,
            ref_model=None,
            args=training_args,
            train_dataset=data.train,
            eval_dataset=data.eval,
            processing_class=tokenizer,
        )

    def after_trainer(self, trainer: Any, script_args: DPOScriptArguments) -> None:
        add_length_column(trainer)
        unwrapped = trainer.model
        if "ref" in unwrapped.peft_config and script_args.reference == "base":
            # TRL copies a pre-trained adapter to a frozen "ref" adapter; reference: base wants
            # the adapter-disabled base model instead (no extra adapter in memory or compute).
            unwrapped.delete_adapter("ref")
            unwrapped.set_adapter("default")

    def hyperparameters(self, script_args: DPOScriptArguments, training_args: Any) -> dict:
        return {"reference": script_args.reference}

    def summary_extra(self, script_args: DPOScriptArguments) -> dict:
        return {"reference": script_args.reference}


def add_length_column(trainer: Any) -> None:
    """``train_sampling_strategy: group_by_length`` needs each row's length; transformers can
    only infer it from ``input_ids``, which DPO rows do not have (prompt/chosen/rejected ids).
    Add the padded pair's length (prompt + the longer answer) as the ``length`` column."""
    args = trainer.args
    if str(getattr(args, "train_sampling_strategy", "")) != "group_by_length":
        return
    column = getattr(args, "length_column_name", None) or "length"
    data = trainer.train_dataset
    if column in data.column_names:
        return
    lengths = [
        len(p) + max(len(c), len(r))
        for p, c, r in zip(
            data["prompt_ids"], data["chosen_ids"], data["rejected_ids"], strict=True
        )
    ]
    trainer.train_dataset = data.add_column(column, lengths)
    args.length_column_name = column
    trainer._set_signature_columns_if_needed()  # else remove_unused_columns drops it again
    if column not in trainer._signature_columns:
        trainer._signature_columns.append(column)


METHOD = DPOMethod()
parse_args = METHOD.parse_args
run_dpo = METHOD.run
dry_run_plan = METHOD.dry_run_plan
