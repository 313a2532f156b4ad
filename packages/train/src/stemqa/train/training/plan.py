"""The dry-run plan: what a run would train, computed on the meta device.

No weights, no network: the architecture comes from the model folder's config.json, or - for
microsoft/phi-2, the default - from the copy shipped in stemqa.core. Building the real peft
model on the meta device means the parameter counts are peft's own, not a formula that could
drift from what training does.
"""

from __future__ import annotations

import json
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
