"""QDoRA ORPO training: odds-ratio preference optimisation on TRL's experimental ORPOTrainer.

ORPO (Hong et al. 2024) adds a log-odds-ratio term to the chosen answer's NLL, so it needs no
reference model: one forward of chosen + rejected per step instead of DPO's two (policy and
reference), which matters on small GPUs. It reads the same merge-datasets output as train-dpo,
runs through the same run template (``stemqa.train.training.template``) and keeps the same
QDoRA adapter, dropout policy and fp32 adapter guard.

TRL 1.x ships ORPOTrainer under ``trl.experimental`` (its API may change between releases; the
lock pins TRL and tests/test_orpo_train.py fail on drift).
"""

from __future__ import annotations

from typing import Any

from stemqa.train.training.plots import DPO_PANELS, Panel
from stemqa.train.training.preference import PREFERENCE_DEFAULTS, PreferenceMethod
from stemqa.train.training.template import COMMON_RECORDED_ARGS

#: The DPO recipe (training.preference), with ORPO's lambda (``beta``) at the paper's 0.1.
#: configs/orpo_phi2_qdora.yaml repeats them for users to edit.
ORPO_DEFAULTS: dict[str, Any] = {**PREFERENCE_DEFAULTS, "output_dir": "runs/orpo-phi2-qdora"}

RECORDED_ARGS = (*COMMON_RECORDED_ARGS, "beta")

#: ORPO's loss is NLL(chosen) - lambda * log sigmoid(log odds ratio): plot both parts, and the
#: reward accuracy/margin panels train-dpo draws (ORPO's rewards are beta x log-probs).
ORPO_PANELS: tuple[Panel, ...] = (
    Panel("loss.png", "ORPO loss", ("loss", "eval_loss"), "loss"),
    *DPO_PANELS[1:],
    Panel("nll_loss.png", "NLL of the chosen answer", ("nll_loss", "eval_nll_loss"), "nll"),
    Panel(
        "log_odds_ratio.png",
        "Log odds ratio (chosen vs rejected)",
        ("log_odds_ratio", "eval_log_odds_ratio"),
        "log odds ratio",
    ),
)


class ORPOMethod(PreferenceMethod):
    """train-orpo: reference-free preference training."""

    name = command = "orpo"
    label, title = "ORPO", "ORPO adapter"
    trainer_path = "trl.experimental.orpo:ORPOTrainer"
    config_path = "trl.experimental.orpo:ORPOConfig"
    defaults, recorded_args, panels = ORPO_DEFAULTS, RECORDED_ARGS, ORPO_PANELS
    tags = ("orpo", "dora", "qdora")

    def plan_details(self, script_args: Any, training_args: Any) -> dict:
        return {"beta": training_args.beta, "reference": "none (ORPO is reference-free)"}

    def test_dataset(self, trainer: Any, dataset: Any) -> Any:
        """ORPOTrainer tokenizes train/eval in its constructor and evaluates only tokenized
        rows: give the test split the same three maps."""
        from trl.data_utils import maybe_apply_chat_template, maybe_extract_prompt

        dataset = dataset.map(maybe_extract_prompt)
        dataset = dataset.map(
            maybe_apply_chat_template, fn_kwargs={"processing_class": trainer.processing_class}
        )
        return dataset.map(trainer.tokenize_row)

    def summary_extra(self, script_args: Any) -> dict:
        return {"reference": "none"}


METHOD = ORPOMethod()
parse_args = METHOD.parse_args
run_orpo = METHOD.run
dry_run_plan = METHOD.dry_run_plan
