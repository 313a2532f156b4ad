"""The run folder: where checkpoints, the final adapter and the run's records go.

Layout (the contract in docs/ARCHITECTURE.md)::

    OUTPUT_DIR/
      checkpoint-*/        Trainer checkpoints (resume; best one kept with load_best_model_at_end)
      adapter/             final (best) adapter + tokenizer  -> what push-adapter uploads
      metrics.jsonl        every log event
      plots/*.png          loss / accuracy / margins, train vs eval
      summary.json         hyperparameters, data, final eval and test metrics, best checkpoint
      README.md            model card
"""

from __future__ import annotations

import contextlib
import json
import platform
import sys
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

ADAPTER_DIR = "adapter"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
PLOTS_DIR = "plots"
CARD_FILE = "README.md"


def last_checkpoint(output_dir: str | Path) -> str | None:
    """Newest complete ``checkpoint-N`` in output_dir, or None.

    Complete means it has trainer_state.json, which transformers writes after the weights,
    optimizer and RNG state: a process killed while saving leaves a folder without it, and
    resuming from that would fail. Such folders are skipped with a one-line note.
    """
    import re

    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    found = []
    for folder in output_dir.iterdir():
        match = re.fullmatch(r"checkpoint-(\d+)", folder.name)
        if match and folder.is_dir():
            found.append((int(match.group(1)), folder))
    incomplete = []
    for _step, folder in sorted(found, reverse=True):
        if (folder / "trainer_state.json").is_file():
            if incomplete:
                print(
                    f"note: skipped incomplete checkpoint(s) {', '.join(incomplete)} (no "
                    "trainer_state.json: the run stopped while saving)",
                    file=sys.stderr,
                )
            return str(folder)
        incomplete.append(folder.name)
    return None


def checkpoint_step(checkpoint: str | Path) -> int:
    """Global step of a Trainer checkpoint folder: its trainer_state.json, else the
    ``checkpoint-N`` name."""
    folder = Path(checkpoint)
    state = folder / "trainer_state.json"
    if state.is_file():
        try:
            return int(json.loads(state.read_text())["global_step"])
        except (ValueError, KeyError, TypeError):
            pass
    try:
        return int(folder.name.rsplit("-", 1)[-1])
    except ValueError:
        raise SystemExit(
            f"error: resume_from_checkpoint {str(folder)!r} has no trainer_state.json and is not "
            "named checkpoint-N"
        ) from None


def resolve_resume(output_dir: str | Path, resume: bool, resume_from_checkpoint: str | None):
    """What to pass to ``trainer.train(resume_from_checkpoint=…)``, with a clear error when
    --resume finds nothing to resume."""
    if resume_from_checkpoint:
        if not Path(resume_from_checkpoint).is_dir():
            raise SystemExit(
                f"error: resume_from_checkpoint {resume_from_checkpoint!r} does not exist"
            )
        return resume_from_checkpoint
    if not resume:
        return None
    found = last_checkpoint(output_dir)
    if found is None:
        raise SystemExit(
            f"error: --resume: no checkpoint-* folder in {output_dir}; start without --resume "
            "(or point output_dir at the interrupted run)"
        )
    return found


def jsonable(value: Any) -> Any:
    """Config objects -> plain JSON (dataclasses, enums, paths, dtypes)."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return str(value)


def training_args_summary(args: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: jsonable(getattr(args, k, None)) for k in keys}


def environment() -> dict[str, Any]:
    import importlib.metadata as md

    import torch

    versions = {}
    for name in ("torch", "transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[name] = md.version(name)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {"python": platform.python_version(), "device": device, **versions}


def write_summary(folder: str | Path, summary: dict[str, Any]) -> Path:
    path = Path(folder) / SUMMARY_FILE
    summary = {"written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **summary}
    path.write_text(json.dumps(jsonable(summary), indent=2) + "\n")
    return path


def rename_eval_keys(metrics: dict[str, Any], prefix: str) -> dict[str, Any]:
    """TRL logs its extra eval metrics as eval_* whatever metric_key_prefix says; give a test
    evaluation consistent test_* keys."""
    out = {}
    for key, value in metrics.items():
        if key.startswith("eval_"):
            key = f"{prefix}_" + key[len("eval_") :]
        out[key] = value
    return out
