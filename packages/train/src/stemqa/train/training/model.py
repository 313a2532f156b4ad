"""Build the QDoRA policy that every training method (train-dpo, train-mcqa, train-orpo) trains.

Why we build the PeftModel ourselves instead of handing TRL a ``peft_config``:

* the same function serves DPOTrainer and SFTTrainer, the dry-run plan and "continue from an
  existing adapter" (TRL refuses a ``peft_config`` together with a PeftModel);
* ``prepare_model_for_kbit_training`` (layer norms/embeddings in fp32, input grads for
  gradient checkpointing) is the QLoRA recipe the report followed; TRL's DPOTrainer skips it;
* TRL (1.16) casts trainable adapter weights of quantized models to bf16. Since TRL issue 7268
  it spares DoRA's ``lora_magnitude_vector``, but bf16 still swallows most AdamW updates of
  ``lora_A`` at lr 5e-5 (spacing of bf16 near 0.02 is 1.2e-4). :func:`keep_trainable_fp32`
  undoes that cast after the trainer is built: fp32 master weights cost 2 bytes x 10.8M params
  (about 22 MB) for phi-2, and compute still runs in bf16 under autocast.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

#: The report's adapter: DoRA r=16, alpha=16, dropout 0.05 on phi-2's attention projections.
DEFAULT_TARGET_MODULES: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "dense")


@dataclass(frozen=True)
class AdapterSettings:
    """The peft side of a run, independent of TRL's ModelConfig so that tests and the dry-run
    can build one without a parser."""

    r: int = 16
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    use_dora: bool = True
    use_rslora: bool = False
    modules_to_save: tuple[str, ...] | None = None

    @classmethod
    def from_model_config(cls, model_args: Any) -> AdapterSettings:
        """Read TRL's ``ModelConfig`` (lora_r, lora_alpha, lora_dropout, lora_target_modules,
        use_dora, use_rslora, lora_modules_to_save)."""
        targets = model_args.lora_target_modules or DEFAULT_TARGET_MODULES
        if isinstance(targets, str):  # ModelConfig collapses a one-element list to a str
            targets = (targets,) if targets != "all-linear" else targets
        if not model_args.use_peft:
            raise ValueError(
                "use_peft is false, but stemqa trains adapters only (QDoRA): set use_peft: true"
            )
        return cls(
            r=int(model_args.lora_r),
            alpha=int(model_args.lora_alpha),
            dropout=float(model_args.lora_dropout),
            target_modules=tuple(targets) if not isinstance(targets, str) else targets,
            use_dora=bool(model_args.use_dora),
            use_rslora=bool(model_args.use_rslora),
            modules_to_save=tuple(model_args.lora_modules_to_save)
            if model_args.lora_modules_to_save
            else None,
        )

    def lora_config(self):
        from peft import LoraConfig

        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.dropout}")
        if self.r <= 0:
            raise ValueError(f"lora_r must be positive, got {self.r}")
        return LoraConfig(
            task_type="CAUSAL_LM",
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules)
            if not isinstance(self.target_modules, str)
            else self.target_modules,
            bias="none",
            use_dora=self.use_dora,
            use_rslora=self.use_rslora,
            modules_to_save=list(self.modules_to_save) if self.modules_to_save else None,
        )


_REPORT_ADAPTER = AdapterSettings()

#: The model half of every method's defaults (TRL ModelConfig keys): the report's phi-2, 4-bit
#: NF4 with double quantization and bf16 compute, and its DoRA adapter. Each configs/*.yaml
#: repeats these for users to edit; tests check that they agree.
MODEL_DEFAULTS: dict[str, Any] = {
    "model_name_or_path": "microsoft/phi-2",
    "dtype": "bfloat16",
    "load_in_4bit": True,
    "bnb_4bit_quant_type": "nf4",
    "use_bnb_nested_quant": True,
    "use_peft": True,
    "use_dora": _REPORT_ADAPTER.use_dora,
    "lora_r": _REPORT_ADAPTER.r,
    "lora_alpha": _REPORT_ADAPTER.alpha,
    "lora_dropout": _REPORT_ADAPTER.dropout,
    "lora_target_modules": list(_REPORT_ADAPTER.target_modules),
}


def quantization_name(model_args: Any) -> str:
    """'nf4' (the project preset), 'none', or a description of a custom bitsandbytes setup."""
    if getattr(model_args, "load_in_8bit", False):
        return "int8"
    if not getattr(model_args, "load_in_4bit", False):
        return "none"
    if model_args.bnb_4bit_quant_type == "nf4" and model_args.use_bnb_nested_quant:
        return "nf4"
    nested = "+double-quant" if model_args.use_bnb_nested_quant else ""
    return f"{model_args.bnb_4bit_quant_type}{nested}"


def quantization_config(model_args: Any):
    """BitsAndBytesConfig: core's nf4 preset (NF4, double quant, bf16 compute) when the flags
    ask for it, else TRL's own translation of the flags so any custom choice is honoured."""
    from stemqa.core.loading import bnb_config
    from stemqa.train.distributed import with_quant_storage

    name = quantization_name(model_args)
    if name in ("none", "nf4"):
        # compute in the dtype asked for (as TRL's get_quantization_config and core's
        # load_model do); "auto"/None: the preset's bf16 (fp16 where bf16 is not native)
        dtype = _dtype(model_args.dtype)
        config = bnb_config(name, compute_dtype=dtype if isinstance(dtype, torch.dtype) else None)
        return with_quant_storage(config, model_args)  # FSDP QLoRA: stemqa.train.distributed
    from trl import get_quantization_config

    return get_quantization_config(model_args)


def device_map_for_process() -> dict[str, Any] | None:
    """Quantized models need an explicit device; under ``accelerate launch`` each process
    takes its own GPU (TRL's convention). CPU runs stay on the CPU."""
    if torch.cuda.is_available():
        from accelerate import PartialState

        return {"": PartialState().local_process_index}
    return {"": "cpu"}


def _dtype(value: str | torch.dtype | None) -> torch.dtype | str | None:
    if value is None or isinstance(value, torch.dtype) or value == "auto":
        return value
    return getattr(torch, value)


def load_base_model(model_args: Any):
    """Load the (quantized) base model the way ``trl dpo`` would, with clear errors."""
    from transformers import AutoModelForCausalLM

    from stemqa.core.loading import ModelLoadError

    name = str(model_args.model_name_or_path)
    quant = quantization_config(model_args)
    kwargs: dict[str, Any] = {
        "revision": model_args.model_revision,
        "dtype": _dtype(model_args.dtype),
        "trust_remote_code": getattr(model_args, "trust_remote_code", False),
    }
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = device_map_for_process()
    try:
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except Exception as exc:
        where = (
            "it exists locally: check it holds config.json and the weights"
            if Path(name).exists()
            else "it is not a local folder, so it was looked up on the Hugging Face Hub: check the "
            "id and your network, or download it first (`hf download ID`) and pass the folder"
        )
        raise ModelLoadError(f"Could not load the base model {name!r}: {exc}. ({where})") from exc
    return model


def build_qdora_model(
    model_args: Any,
    *,
    adapter: str | Path | None = None,
    gradient_checkpointing: bool = True,
    gradient_checkpointing_kwargs: dict[str, Any] | None = None,
):
    """(peft model, tokenizer) ready for a TRL trainer.

    ``adapter``: continue training an existing adapter folder (its own LoraConfig wins over the
    ``lora_*`` flags, which are then ignored with a warning if they differ). Otherwise a fresh
    adapter from the ``lora_*`` flags. The tokenizer comes from core's ``load_tokenizer`` (phi-2
    has no pad token: pad = eos), preferring one saved next to the adapter.
    """
    from peft import PeftModel, get_peft_model, prepare_model_for_kbit_training

    from stemqa.core.loading import ModelLoadError, load_tokenizer

    settings = AdapterSettings.from_model_config(model_args)
    model = load_base_model(model_args)
    keep_4bit_training_layout(model)
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs=gradient_checkpointing_kwargs or {"use_reentrant": False},
        )
    if adapter is not None:
        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise ModelLoadError(
                f"--adapter {str(adapter)!r} is not a peft adapter folder (no adapter_config.json). "
                "Pass the adapter/ folder of a previous run."
            )
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
        saved = model.peft_config["default"]
        if saved.r != settings.r or bool(saved.use_dora) != settings.use_dora:
            logger.warning(
                "Continuing adapter %s keeps its own settings (r=%s, use_dora=%s); the lora_* "
                "flags of this run are ignored.",
                adapter,
                saved.r,
                saved.use_dora,
            )
    else:
        model = get_peft_model(model, settings.lora_config())
    tokenizer_source = (
        adapter
        if adapter is not None and (adapter / "tokenizer_config.json").is_file()
        else model_args.model_name_or_path
    )
    tokenizer = load_tokenizer(
        tokenizer_source, revision=None if adapter else model_args.model_revision
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def keep_4bit_training_layout(model: nn.Module) -> int:
    """Stop bitsandbytes from repacking 4-bit weights for CPU inference; returns how many
    layers were told.

    On CPUs with AVX512-BF16, bitsandbytes (0.50) converts a Linear4bit's weight to an
    inference-only layout the first time it runs in eval mode without grad (an evaluation, or
    TRL's reference log-prob precompute), permanently: every later training step then fails
    with "a view of a leaf Variable that requires grad is being used in an in-place
    operation". A training model must keep the training layout. GPUs never take that path.
    """
    count = 0
    for module in model.modules():
        if getattr(module, "support_avx512bf16_for_cpu", False):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count


def keep_trainable_fp32(model: nn.Module) -> int:
    """Cast every trainable parameter back to fp32; returns how many were cast.

    Call it after the TRL trainer is constructed (the optimizer is created later, in
    ``train()``). Guards the DoRA magnitude vector (TRL issue 7268) and lora_A/B against bf16
    rounding swallowing small updates.
    """
    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.to(torch.float32)
            cast += 1
    return cast


def magnitude_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """DoRA magnitude vectors by name (empty for plain LoRA)."""
    return {
        name: param for name, param in model.named_parameters() if "lora_magnitude_vector" in name
    }


def check_trainable(model: nn.Module) -> None:
    """Fail loudly when an adapter would silently not train (frozen or low-precision magnitude)."""
    bad = [
        f"{name} ({'frozen' if not p.requires_grad else p.dtype})"
        for name, p in magnitude_parameters(model).items()
        if not p.requires_grad or p.dtype != torch.float32
    ]
    if bad:
        raise RuntimeError(
            "DoRA magnitude vectors would not train: "
            + ", ".join(bad[:3])
            + (" …" if len(bad) > 3 else "")
            + ". Keep them trainable in fp32 (see TRL issue 7268)."
        )


def configure_dropout(model: nn.Module, *, disable_base_dropout: bool) -> dict[str, int]:
    """Apply the project's dropout decision; returns counts for the run log.

    TRL's ``disable_dropout`` (default True) sets p=0 on *every* nn.Dropout, which silently
    turns the adapter's 0.05 ``lora_dropout`` off too, and - because peft only takes DoRA's
    fast path when the dropout module *is* ``nn.Identity`` - keeps paying for the slow path.
    We decide instead:

    * base-model dropouts (phi-2: resid_pdrop 0.1) are switched off when ``disable_base_dropout``
      (TRL's flag): the reference pass runs the same model with the adapter disabled, so base
      dropout would give policy and reference different masks and noisy implicit rewards;
    * the adapter's ``lora_dropout`` stays at the configured value (the report's 0.05). It only
      touches the adapter path, which the reference pass skips. Set ``lora_dropout: 0`` for
      DoRA's faster path (peft then builds ``nn.Identity``).
    """
    counts = {"base_disabled": 0, "lora_kept": 0}
    lora_dropouts = set()
    for name, module in model.named_modules():
        if name.endswith("lora_dropout") and isinstance(module, nn.ModuleDict):
            lora_dropouts.update(id(m) for m in module.values())
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            if id(module) in lora_dropouts:
                counts["lora_kept"] += 1
            elif disable_base_dropout and module.p != 0:
                module.p = 0.0
                counts["base_disabled"] += 1
    return counts


def lora_dropout_values(model: nn.Module) -> list[float]:
    """Dropout p of every adapter dropout module (0.0 for nn.Identity)."""
    values = []
    for name, module in model.named_modules():
        if name.endswith("lora_dropout") and isinstance(module, nn.ModuleDict):
            for m in module.values():
                values.append(float(getattr(m, "p", 0.0)))
    return values


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) as peft counts them (4-bit packed weights counted at full size)."""
    if hasattr(model, "get_nb_trainable_parameters"):
        trainable, total = model.get_nb_trainable_parameters()
        return int(trainable), int(total)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def target_modules_of(model: nn.Module) -> Sequence[str]:
    config = model.peft_config["default"]
    targets = config.target_modules
    return sorted(targets) if not isinstance(targets, str) else [targets]
