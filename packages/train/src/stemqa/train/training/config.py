"""Command-line/YAML configuration glue on TRL's conventions.

A command declares its dataclasses (its own script arguments, a TRL ``*Config``, TRL's
``ModelConfig``) and a dict of defaults (the report's values). :func:`parse_config` then layers
code defaults < YAML ``--config`` file < command-line flags, exactly like ``trl dpo``, and adds
what TRL leaves to the user:

* options removed in TRL 1.x (``max_prompt_length`` …) fail with an explanation instead of
  argparse's bare "unrecognized arguments";
* on a machine without a GPU, ``bf16: true`` from a shared YAML falls back to fp32 with a note
  (transformers would refuse to start), and on a GPU without native bf16 (T4, P100) to fp16
  mixed precision with fp16 compute (:func:`choose_precision`), unless ``--bf16`` is given
  explicitly on the command line;
* ``--help`` lists this command's own options and the common TRL/transformers ones (TRL's full
  help is ~930 lines); ``--help-all`` prints it all (:func:`short_help`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Options that TRL 1.x removed from DPOConfig/SFTConfig, with what to do instead.
REMOVED_OPTIONS: dict[str, str] = {
    "max_prompt_length": "TRL 1.x keeps only max_length (prompt + completion, cut from the end "
    "with truncation_mode keep_start). merge-datasets already shortens long prompts from the "
    "left so that prompt + response fit; set max_length instead",
    "max_completion_length": "only max_length (prompt + completion) remains in TRL 1.x",
    "max_target_length": "only max_length remains in TRL 1.x",
    "padding_value": "the pad token comes from the tokenizer (phi-2: pad = eos)",
    "label_pad_token_id": "completion masks replaced label padding in TRL 1.x; remove it",
    "generate_during_eval": "removed in TRL 1.x; evaluate generations with eval-mcqa instead",
    "is_encoder_decoder": "TRL 1.x trainers are decoder-only; remove it",
    "model_adapter_name": "removed in TRL 1.x; the reference is the base model with the adapter "
    "disabled (train-dpo's --reference base) or a frozen copy (--reference initial)",
    "ref_adapter_name": "removed in TRL 1.x; use train-dpo's --reference base|initial",
    "reference_free": "removed in TRL 1.x; use loss_type or keep the adapter-disabled reference",
    "force_use_ref_model": "removed in TRL 1.x; the reference is the adapter-disabled base model",
    "rpo_alpha": "removed in TRL 1.x; use loss_type [sigmoid, sft] with loss_weights",
    "use_logits_to_keep": "removed in TRL 1.x (log-probs are computed chunked by default)",
    "ref_model_init_kwargs": "removed in TRL 1.x; the reference shares the policy's base model",
}


@dataclass
class RunArguments:
    """Script arguments shared by the stemqa training commands (extend it per command)."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Data: a folder written by the data command (save_to_disk), a local "
            "jsonl/json/parquet/csv file or folder, or a Hub dataset id."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset config name."})
    dataset_train_split: str = field(default="train", metadata={"help": "Training split."})
    dataset_eval_split: str = field(
        default="eval", metadata={"help": "Split evaluated during training (early stopping)."}
    )
    dataset_test_split: str = field(
        default="test", metadata={"help": "Split evaluated once at the end (summary.json)."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N training rows (quick runs)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N rows of eval and test splits."}
    )
    adapter: str | None = field(
        default=None,
        metadata={"help": "Continue training this existing adapter folder instead of a fresh one."},
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Resume from the last checkpoint in output_dir (optimizer, scheduler, "
            "step, RNG state)."
        },
    )
    early_stopping_patience: int = field(
        default=3,
        metadata={
            "help": "Stop after this many evaluations without improvement of "
            "metric_for_best_model (0: off). The best adapter is kept."
        },
    )
    early_stopping_threshold: float = field(
        default=0.0, metadata={"help": "Minimum improvement that counts as one."}
    )
    plot_every: int = field(
        default=0,
        metadata={
            "help": "Also redraw the plots every N training logs (0: only on each evaluation, "
            "checkpoint save and at the end; a redraw costs about 1 s of training time)."
        },
    )
    auto_batch: bool = field(
        default=False,
        metadata={
            "help": "On a GPU, split the effective batch (per_device_train_batch_size x "
            "gradient_accumulation_steps, unchanged) into the largest micro-batch that fits at "
            "max_length, with gradient checkpointing off when that fits (measured by a trial step)."
        },
    )
    dry_run: bool = field(
        default=False,
        metadata={
            "help": "Print the plan (meta device, no weights) and exit; the last stdout line "
            "is one JSON object. A missing local dataset_name stops it (exit 2); a Hub id "
            "that is not cached while offline gets a warning."
        },
    )


#: TRL/transformers options listed by the short ``--help`` (those the command's parser knows).
COMMON_OPTIONS: tuple[str, ...] = (
    "model_name_or_path",
    "output_dir",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "beta",
    "max_length",
    "lora_r",
    "lora_alpha",
    "use_dora",
    "load_in_4bit",
    "bf16",
    "eval_steps",
    "report_to",
)
HELP_ALL_FLAGS = ("--help-all", "--help_all")


def _first_sentence(text: str | None) -> str:
    text = " ".join((text or "").split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def short_help(parser: Any, own_fields: set[str]) -> str:
    """The short ``--help``: usage, ``--config``, this command's own options (full help), the
    common TRL/transformers options (first sentence) and a pointer to ``--help-all``. Defaults
    are the parser's, i.e. this command's defaults after ``--config``."""
    import textwrap

    def entry(action: Any, summary: bool) -> list[str]:
        flag = action.option_strings[0]
        help_text = (
            _first_sentence(action.help) if summary else " ".join((action.help or "").split())
        )
        default = parser.get_default(action.dest)
        if default is not None and "(default:" not in help_text:
            help_text += f" (default: {default})"
        wrapped = textwrap.wrap(help_text, 88, initial_indent=" " * 6, subsequent_indent=" " * 6)
        return [f"  {flag}", *wrapped]

    by_dest: dict[str, Any] = {}
    for action in parser._actions:  # first spelling only, not the --no_x complement
        flag = action.option_strings[0] if action.option_strings else ""
        if flag.startswith("--") and not flag.startswith("--no_") and action.dest not in by_dest:
            by_dest[action.dest] = action
    lines = [
        f"usage: {parser.prog} [--config FILE.yaml] [--option value ...]",
        "",
        "  --config FILE.yaml",
        "      YAML file of option: value (flags given after it override it).",
        "  --help-all",
        "      All options: TRL's and transformers' full help (~930 lines).",
        "",
        f"{parser.prog}'s own options:",
    ]
    for dest in (d for d in by_dest if d in own_fields):
        lines += entry(by_dest[dest], summary=False)
    lines += ["", "Common TRL/transformers options (all of them: --help-all):"]
    for dest in (d for d in COMMON_OPTIONS if d in by_dest and d not in own_fields):
        lines += entry(by_dest[dest], summary=True)
    return "\n".join(lines) + "\n"


def _has_gpu() -> bool:
    import torch

    if torch.cuda.is_available():
        return True
    xpu = getattr(torch, "xpu", None)
    return bool(xpu is not None and xpu.is_available())


def _bf16_supported() -> bool:
    from stemqa.core.loading import bf16_supported

    return bf16_supported()


def choose_precision(merged: dict[str, Any], *, has_gpu: bool, bf16_ok: bool) -> str | None:
    """Decide mixed precision in ``merged`` (defaults + YAML, edited in place) for this machine;
    returns the note to print, or None when the configured precision runs as is.

    * no GPU: bf16 mixed precision off (fp32 on CPU; transformers would refuse to start);
    * a GPU without native bf16 (T4, P100: see core's ``bf16_supported``): fp16 mixed precision
      and an fp16 model/4-bit compute dtype instead of bf16, the LLaMA-Factory/unsloth fallback;
    * otherwise nothing changes. An explicit ``--bf16`` flag skips this (the caller checks).
    """
    wants_bf16 = bool(merged.get("bf16")) or ("bf16" not in merged and not merged.get("fp16"))
    if not has_gpu:
        had = bool(merged.get("bf16"))
        merged["bf16"] = False  # TRL's default (bf16 unless fp16) cannot start on a CPU either
        return (
            "no GPU found: bf16 mixed precision is off for this run (fp32 on CPU)" if had else None
        )
    if not wants_bf16 or bf16_ok:
        return None
    merged["bf16"] = False
    merged["fp16"] = True
    if str(merged.get("dtype", "")) in ("bfloat16", "bf16"):
        merged["dtype"] = "float16"
    return (
        "this GPU has no native bf16 (e.g. T4/P100): using fp16 mixed precision and fp16 "
        "4-bit compute instead"
    )


def _flags(argv: Sequence[str]) -> set[str]:
    names = set()
    for token in argv:
        if token.startswith("--"):
            names.add(token[2:].split("=", 1)[0].replace("-", "_"))
    return names


def check_removed(keys: set[str], source: str, known: set[str] | None = None) -> None:
    """Explain options TRL 1.x removed (those this command's parser does not know: ORPO's
    experimental config still has max_completion_length)."""
    removed = sorted((keys & REMOVED_OPTIONS.keys()) - (known or set()))
    if removed:
        lines = "\n".join(f"  - {name}: {REMOVED_OPTIONS[name]}" for name in removed)
        raise SystemExit(f"error: {source} uses option(s) that TRL 1.x removed:\n{lines}")


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"error: --config {str(path)!r} does not exist")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SystemExit(f"error: --config {path} is not valid YAML: {exc}") from None
    if not isinstance(config, dict):
        raise SystemExit(f"error: --config {path} must contain a YAML mapping of option: value")
    return config


def parse_config(
    dataclass_types: Sequence[type],
    argv: Sequence[str] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    prog: str | None = None,
) -> tuple[Any, ...]:
    """Parse ``[--config FILE] [--option value …]`` into instances of ``dataclass_types``.

    Precedence: ``defaults`` < YAML < flags. Errors name the offending key.
    """
    from dataclasses import fields

    from trl import TrlParser

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = TrlParser(tuple(dataclass_types), prog=prog)
    known = {action.dest for action in parser._actions}
    merged: dict[str, Any] = dict(defaults or {})

    if "--config" in argv:
        i = argv.index("--config")
        if i + 1 >= len(argv):
            raise SystemExit("error: --config needs a YAML file path")
        config_path = argv[i + 1]
        del argv[i : i + 2]
        config = load_yaml(config_path)
        for key, value in (config.pop("env", None) or {}).items():
            os.environ[key] = str(value)
        check_removed(set(config), f"--config {config_path}", known)
        unknown = sorted(set(config) - known)
        if unknown:
            raise SystemExit(
                f"error: --config {config_path}: unknown option(s) {', '.join(unknown)}; see "
                "--help for the valid names"
            )
        merged.update(config)

    flags = _flags(argv)
    check_removed(flags, "the command line", known)
    if "bf16" not in flags:
        note = choose_precision(merged, has_gpu=_has_gpu(), bf16_ok=_bf16_supported())
        if note:
            print(f"note: {note}", file=sys.stderr)
    parser.set_defaults_with_config(**merged)
    if any(flag in argv for flag in HELP_ALL_FLAGS):
        parser.print_help()
        raise SystemExit(0)
    if "-h" in argv or "--help" in argv:
        own = {f.name for f in fields(dataclass_types[0])}
        sys.stdout.write(short_help(parser, own))
        raise SystemExit(0)
    return tuple(parser.parse_args_into_dataclasses(args=argv))
