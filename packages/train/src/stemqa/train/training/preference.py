"""The preference-pair half shared by train-dpo and train-orpo: both read merge-datasets'
output (prompt/chosen/rejected, train/eval/test splits) the same way, and log the same
reward panels."""

from __future__ import annotations

from typing import Any

from stemqa.train.training.template import PreparedData, TrainingMethod


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
