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

from stemqa.train.training.config import RunArguments
from stemqa.train.training.model import MODEL_DEFAULTS
from stemqa.train.training.plots import DPO_PANELS, Panel
from stemqa.train.training.preference import PreferenceMethod
from stemqa.train.training.template import COMMON_RECORDED_ARGS, RUN_DEFAULTS, PreparedData

#: The DPO recipe's optimisation, with ORPO's lambda (``beta``) at the paper's 0.1.
#: configs/orpo_phi2_qdora.yaml repeats them for users to edit.
ORPO_DEFAULTS: dict[str, Any] = {
    **MODEL_DEFAULTS,
    **RUN_DEFAULTS,
    "output_dir": "runs/orpo-phi2-qdora",
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
}

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

    name = "orpo"
    prog = "train-orpo"
    label = "ORPO"
    title = "ORPO adapter"
    script_arguments = RunArguments
    defaults = ORPO_DEFAULTS
    recorded_args = RECORDED_ARGS
    panels = ORPO_PANELS
    tags = ("orpo", "dora", "qdora")

    def config_class(self) -> type:
        from trl.experimental.orpo import ORPOConfig

        return ORPOConfig

    def plan_details(self, script_args: Any, training_args: Any) -> dict:
        return {"beta": training_args.beta, "reference": "none (ORPO is reference-free)"}

    def build_trainer(self, model: Any, tokenizer: Any, data: PreparedData, training_args: Any):
        from trl.experimental.orpo import ORPOTrainer

        return ORPOTrainer(
            model=model,
            args=training_args,
            train_dataset=data.train,
            eval_dataset=data.eval,
            processing_class=tokenizer,
        )

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
