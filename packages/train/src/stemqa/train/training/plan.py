"""The dry-run plan: what a run would train, computed on the meta device.

No weights, no network: the architecture comes from the model folder's config.json, or - for
microsoft/phi-2, the default - from the copy shipped in stemqa.core. Building the real peft
model on the meta device means the parameter counts are peft's own, not a formula that could
drift from what training does.

The plan also checks that the data can be found (:func:`check_dataset`): a real run would
otherwise fail only after loading, or retry the Hub for ~20 s when it is unreachable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch

from stemqa.train.training.model import AdapterSettings, quantization_name

PHI2_IDS = {"microsoft/phi-2", "microsoft/phi_2"}


def resolve_config(model_name_or_path: str, revision: str | None = None):
    """transformers config for a model id/folder without downloading weights."""
    from transformers import AutoConfig

    from stemqa.core.loading import ModelLoadError, phi2_config_path

    if str(model_name_or_path) in PHI2_IDS:
        return AutoConfig.from_pretrained(str(phi2_config_path()))
    try:
        return AutoConfig.from_pretrained(str(model_name_or_path), revision=revision)
    except Exception as exc:
        raise ModelLoadError(
            f"--dry-run needs the config.json of {model_name_or_path!r} and could not read it: "
            f"{exc}. Pass a local model folder (or microsoft/phi-2, whose config is shipped)."
        ) from exc


def _hub_reachable(timeout: float = 2.5) -> bool:
    """One TCP connect to the Hub endpoint (no request): seconds, not the loaders' retries."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _in_local_cache(repo_id: str) -> bool:
    """Whether a Hub dataset id has a copy in huggingface_hub's or datasets' local cache."""
    import datasets.config
    from huggingface_hub import constants

    hub = Path(constants.HF_HUB_CACHE) / f"datasets--{repo_id.replace('/', '--')}"
    built = Path(datasets.config.HF_DATASETS_CACHE) / repo_id.replace("/", "___")
    return hub.is_dir() or built.is_dir()


def check_dataset(dataset_name: str | None) -> str | None:
    """Check before the plan that the run's data can be found.

    A local path (``looks_like_path``) that does not exist: one line naming it, exit 2. A Hub
    id while offline (HF_HUB_OFFLINE or huggingface.co unreachable) and not in the local cache:
    one warning line (returned too), since the run machine may be online."""
    from huggingface_hub import is_offline_mode

    from stemqa.train.dataset_files import looks_like_path

    if not dataset_name or Path(dataset_name).expanduser().exists():
        return None
    if looks_like_path(dataset_name):
        print(
            f"error: dataset_name {dataset_name!r}: no such file or folder; check the path "
            "(relative paths start at the current directory) or run merge-datasets first",
            file=sys.stderr,
        )
        raise SystemExit(2)
    if _in_local_cache(dataset_name):
        return None
    why = "HF_HUB_OFFLINE is set" if is_offline_mode() else None
    if why is None and not _hub_reachable():
        why = "the Hugging Face Hub is unreachable"
    if why is None:
        return None
    note = (
        f"dataset_name {dataset_name!r} is neither a local path nor in the local datasets "
        f"cache, and {why}: a run here would fail to load it"
    )
    print(f"warning: {note}", file=sys.stderr)
    return note


def meta_peft_model(model_args: Any):
    """The peft model built on the meta device (no memory, no weights)."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    config = resolve_config(model_args.model_name_or_path, model_args.model_revision)
    with torch.device("meta"):
        base = AutoModelForCausalLM.from_config(config)
        model = get_peft_model(base, AdapterSettings.from_model_config(model_args).lora_config())
    return model, config


def _weight_bytes(model, quantization: str) -> int:
    """Rough memory of the base weights once loaded (4-bit linears at 0.5 byte/param plus
    double-quant constants; the rest in fp32 after prepare_model_for_kbit_training)."""
    from torch import nn

    base = model.get_base_model()
    lm_head = base.get_output_embeddings()
    quantized = 0
    for module in base.modules():
        if isinstance(module, nn.Linear) and module is not lm_head:
            quantized += module.weight.numel()
    total = sum(p.numel() for n, p in base.named_parameters() if "lora_" not in n)
    if quantization in ("nf4", "fp4", "fp4+double-quant", "nf4+double-quant"):
        return int(quantized * 0.5 * 1.0078 + (total - quantized) * 4)
    if quantization == "int8":
        return int(quantized + (total - quantized) * 4)
    return int(total * 4)


def build_plan(model_args: Any, training_args: Any | None = None, **extra: Any) -> dict[str, Any]:
    """The plan as a JSON-serialisable dict (trainable_params, total_params, target_modules,
    quantization, adapter settings, and whatever ``extra`` a command adds)."""
    from stemqa.train.training.model import count_parameters, target_modules_of

    model, config = meta_peft_model(model_args)
    trainable, total = count_parameters(model)
    settings = AdapterSettings.from_model_config(model_args)
    quant = quantization_name(model_args)
    plan: dict[str, Any] = {
        "model": str(model_args.model_name_or_path),
        "architecture": (config.architectures or [type(model.get_base_model()).__name__])[0],
        "trainable_params": trainable,
        "total_params": total,
        "trainable_percent": round(100 * trainable / total, 4),
        "target_modules": list(target_modules_of(model)),
        "adapter": "dora" if settings.use_dora else "lora",
        "lora_r": settings.r,
        "lora_alpha": settings.alpha,
        "lora_dropout": settings.dropout,
        "quantization": quant,
        "compute_dtype": str(model_args.dtype),
        "estimated_weight_memory_gb": round(_weight_bytes(model, quant) / 2**30, 2),
    }
    if training_args is not None:
        plan.update(
            {
                "learning_rate": training_args.learning_rate,
                "per_device_train_batch_size": training_args.per_device_train_batch_size,
                "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
                "num_train_epochs": training_args.num_train_epochs,
                "max_length": getattr(training_args, "max_length", None),
                "output_dir": str(training_args.output_dir),
            }
        )
    plan.update(extra)
    return plan


def print_plan(plan: dict[str, Any]) -> None:
    """Human-readable lines, then the plan as one JSON object on the LAST stdout line (so that
    scripts can ``tail -n1 | jq``)."""
    width = max(len(k) for k in plan)
    for key, value in plan.items():
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        print(f"{key:<{width}}  {value}")
    print(json.dumps(plan, sort_keys=False, default=str), flush=True)
