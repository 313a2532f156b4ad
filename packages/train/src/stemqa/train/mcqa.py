"""MCQA fine-tuning: teach the (DPO-aligned) model to answer with one option letter.

``run_mcqa(script_args, training_args, model_args)`` is what ``train-mcqa`` calls. It takes the
same three kinds of objects as ``trl sft`` (our script arguments, TRL's SFTConfig and
ModelConfig), so every TRL option works as a YAML key or a flag. The lifecycle is the shared run
template (``stemqa.train.training.template``); :class:`MCQAMethod` supplies the MCQ data, the
SFT rows, SFTTrainer and the final eval-mcqa scoring.

Each MCQ becomes a prompt/completion pair: the prompt is core's MMLU-layout prompt (the one
eval-mcqa scores), the completion is ``' X'`` — the same ``' A'``-style token the logits method
reads. TRL then masks the prompt, so the loss is on the letter (and EOS) only. The model, the
QDoRA adapter, plots, early stopping, resume, model card and push are train-dpo's shared code in
``stemqa.train.training``; ``--adapter`` continues a DPO adapter.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stemqa.train.training.config import RunArguments
from stemqa.train.training.model import MODEL_DEFAULTS
from stemqa.train.training.plots import Panel
from stemqa.train.training.template import (
    COMMON_RECORDED_ARGS,
    RUN_DEFAULTS,
    PreparedData,
    TrainingMethod,
)

#: The report's QDoRA recipe (as train-dpo) with SFT settings. configs/mcqa_phi2_qdora.yaml
#: repeats them for users to edit.
MCQA_DEFAULTS: dict[str, Any] = {
    **MODEL_DEFAULTS,
    **RUN_DEFAULTS,
    "output_dir": "runs/mcqa-phi2-qdora",
    "completion_only_loss": True,
    "learning_rate": 1e-4,
    "per_device_train_batch_size": 4,
    "per_device_eval_batch_size": 8,
    "gradient_accumulation_steps": 4,
    "num_train_epochs": 2,
    "max_length": 2048,
    "eval_steps": 100,
    "save_steps": 100,
    "metric_for_best_model": "eval_loss",
    "greater_is_better": False,
}

RECORDED_ARGS = (*COMMON_RECORDED_ARGS, "completion_only_loss")

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
    decontaminate: list[str] | None = field(
        default=None,
        metadata={
            "help": "Eval sets (MCQ files/folders/Hub ids): training questions sharing a 13-gram "
            "with one are dropped before training (stemqa.train.contamination)."
        },
    )
    mcqa_eval_batch_size: int = field(
        default=16, metadata={"help": "Batch size of the final eval-mcqa letter scoring."}
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
    if script_args.decontaminate:
        from stemqa.train.contamination import ContaminationError, drop_contaminated_mcqs

        try:
            train, dropped = drop_contaminated_mcqs(train, script_args.decontaminate)
        except ContaminationError as exc:
            raise SystemExit(f"error: decontaminate: {exc}") from None
        print(f"decontaminate: dropped {dropped} training question(s) overlapping the eval sets")
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
    from stemqa.core import PromptTooLongError
    from stemqa.core.answering import training_example

    rows, skipped = [], 0
    for mcq in mcqs:
        try:  # the answer engine's own prompt: trained on exactly what it is asked with
            row = training_example(
                mcq,
                tokenizer=tokenizer if max_length else None,
                max_tokens=max_length or 2048,
                subject_header=subject_header,
            )
        except PromptTooLongError:
            skipped += 1
            continue
        rows.append(row)
    return rows, skipped


class MCQAMethod(TrainingMethod):
    """train-mcqa: TRL's SFTTrainer on prompt/completion rows, then eval-mcqa letter scoring."""

    name, command = "sft-mcqa", "mcqa"
    label, title = "MCQA SFT", "MCQA adapter"
    trainer_path, config_path = "trl:SFTTrainer", "trl:SFTConfig"
    script_arguments, defaults, panels = MCQAScriptArguments, MCQA_DEFAULTS, MCQA_PANELS
    recorded_args, tags = RECORDED_ARGS, ("mcqa", "sft", "dora", "qdora")

    def user_errors(self) -> tuple[type[BaseException], ...]:
        from stemqa.train.mcqa_data import MCQDataError

        return (MCQDataError,)

    def check(self, script_args: MCQAScriptArguments, training_args: Any) -> None:
        if training_args.completion_only_loss is False:
            print(
                "note: completion_only_loss is false: the loss also covers the prompt tokens",
                file=sys.stderr,
            )

    def plan_details(self, script_args: MCQAScriptArguments, training_args: Any) -> dict:
        return {"completion_only_loss": training_args.completion_only_loss}

    def load_data(self, script_args: MCQAScriptArguments, training_args: Any):
        return load_splits(script_args, training_args.seed)

    def missing_eval(self, loaded: dict[str, list], script_args: MCQAScriptArguments):
        if loaded["eval"]:
            return None
        return "no held-out questions to evaluate on: give eval_dataset_name or eval_fraction > 0"

    def prepare(self, loaded: dict[str, list], script_args: Any, training_args: Any, tokenizer):
        from datasets import Dataset

        datasets: dict[str, Any] = {}
        skipped: dict[str, int] = {}
        for role in ("train", "eval", "test"):
            if loaded.get(role):
                rows, skipped[role] = to_sft_rows(
                    loaded[role],
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
        eval_source = script_args.eval_dataset_name or (
            f"{script_args.eval_fraction:.0%} held out"
            if _is_local(script_args.dataset_name)
            else script_args.dataset_eval_split
        )
        record = {"source": script_args.dataset_name, "eval_source": eval_source}
        record["rows"] = {role: len(ds) for role, ds in datasets.items()}
        record.update(skipped_too_long=skipped, subjects=script_args.subjects)
        return PreparedData(datasets["train"], datasets.get("eval"), datasets.get("test"), record)

    def results(self, trainer, loaded, script_args, training_args, tokenizer) -> dict[str, Any]:
        """Letter accuracy the way eval-mcqa measures it (one forward pass, ' A'-token
        scoring), so the run's numbers and a later `eval-mcqa` run agree."""
        from stemqa.train.eval_mcqa import evaluate_mcqa

        accuracy: dict[str, Any] = {}
        model = trainer.model
        model.eval()
        for role in ("eval", "test"):
            if loaded.get(role):
                result = evaluate_mcqa(
                    model,
                    tokenizer,
                    loaded[role],
                    method="logits",
                    batch_size=script_args.mcqa_eval_batch_size,
                    max_tokens=training_args.max_length,
                    subject_header=script_args.subject_header,
                    progress=False,
                )
                accuracy[role] = result.to_dict(predictions=False)["conditions"]["closed_book"]
        return {"mcqa_accuracy": accuracy}


METHOD = MCQAMethod()
parse_args = METHOD.parse_args
run_mcqa = METHOD.run
dry_run_plan = METHOD.dry_run_plan
