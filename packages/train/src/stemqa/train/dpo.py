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
from stemqa.train.training.plots import DPO_PANELS
from stemqa.train.training.preference import PREFERENCE_DEFAULTS, PreferenceMethod
from stemqa.train.training.template import COMMON_RECORDED_ARGS

#: The report's settings. configs/dpo_phi2_qdora.yaml repeats them for users to edit.
DPO_DEFAULTS: dict[str, Any] = {
    **PREFERENCE_DEFAULTS,
    "output_dir": "runs/dpo-phi2-qdora",
    # TRL's precompute_ref_log_probs (the frozen base's log-probs once, before training) stays
    # an option: measured on one epoch it costs what it saves (docs/BENCHMARKS.md).
    "precompute_ref_log_probs": False,
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

    name = command = "dpo"
    label, title = "DPO", "DPO adapter"
    trainer_path, config_path = "trl:DPOTrainer", "trl:DPOConfig"
    script_arguments, defaults, panels = DPOScriptArguments, DPO_DEFAULTS, DPO_PANELS
    recorded_args, tags = RECORDED_ARGS, ("dpo", "dora", "qdora")

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

    def after_trainer(self, trainer: Any, script_args: DPOScriptArguments) -> None:
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


METHOD = DPOMethod()
parse_args = METHOD.parse_args
run_dpo = METHOD.run
dry_run_plan = METHOD.dry_run_plan
