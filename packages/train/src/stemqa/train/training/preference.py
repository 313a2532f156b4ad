"""The preference-pair half shared by train-dpo and train-orpo: both read merge-datasets'
output (prompt/chosen/rejected, train/eval/test splits) the same way, and log the same
reward panels."""

from __future__ import annotations

from typing import Any

from stemqa.train.training.model import MODEL_DEFAULTS
from stemqa.train.training.template import RUN_DEFAULTS, PreparedData, TrainingMethod

#: The report's preference-training recipe (DPO's, which ORPO reuses with its own beta meaning):
#: lr 5e-5, batch 1 x grad acc 4, 3 epochs, beta 0.1, max_length 2048, reward accuracy as metric.
PREFERENCE_DEFAULTS: dict[str, Any] = {
    **MODEL_DEFAULTS,
    **RUN_DEFAULTS,
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


class PreferenceMethod(TrainingMethod):
    """A :class:`TrainingMethod` trained on prompt/chosen/rejected pairs."""

    sequences_per_example = 2  # chosen and rejected go through the model together

    def user_errors(self) -> tuple[type[BaseException], ...]:
        from stemqa.train.dpo_data import PreferenceDataError

        return (PreferenceDataError,)

    def load_data(self, script_args: Any, training_args: Any):
        from stemqa.train.dpo_data import load_preference_data

        return load_preference_data(
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

    def missing_eval(self, loaded: Any, script_args: Any) -> str | None:
        if loaded.splits.get("eval") is not None:
            return None
        return (
            f"{script_args.dataset_name} has no {script_args.dataset_eval_split!r} split to "
            "evaluate on: set dataset_eval_split"
        )

    def prepare(self, loaded: Any, script_args: Any, training_args: Any, tokenizer: Any):
        splits = loaded.splits
        return PreparedData(
            train=splits["train"],
            eval=splits.get("eval"),
            test=splits.get("test"),
            record={
                "source": loaded.source,
                "rows": {role: len(ds) for role, ds in splits.items()},
                "stats": loaded.stats,
                "recipe": loaded.recipe,
            },
        )
