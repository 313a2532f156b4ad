"""Load a causal LM (+ optional peft adapter) the way every stemqa command needs it.

One place decides padding side, pad token and quantization so that training, evaluation and the
app score prompts identically; a model loaded differently in two places would give two accuracies.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

QUANTIZATIONS = ("none", "nf4")
# torch is imported lazily: importing stemqa.core (e.g. for Passage) must stay cheap.
_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


class ModelLoadError(RuntimeError):
    """A model, tokenizer or adapter could not be loaded; the message says how to fix it."""


def phi2_config_path() -> Path:
    """Path of the shipped copy of microsoft/phi-2's config.json.

    Shipped so that the tiny test model has phi-2's exact architecture without a Hub download.
    """
    return Path(str(resources.files("stemqa.core") / "assets" / "phi-2" / "config.json"))


def bf16_supported() -> bool:
    """Whether bf16 compute is native here. A CUDA GPU needs compute capability >= 8 (Ampere+;
    the check LLaMA-Factory and unsloth make): T4s and P100s (Colab/Kaggle) only emulate it,
    slowly, and transformers refuses ``bf16=True`` there. Without CUDA: True (the CPU path
    keeps bf16 compute; tests fake this probe to exercise the fallback)."""
    import torch

    if not torch.cuda.is_available():
        return True
    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def default_compute_dtype() -> torch.dtype:
    """bf16, or fp16 on a GPU without native bf16 (with a one-line note, once)."""
    import torch

    if bf16_supported():
        return torch.bfloat16
    _note_fp16_fallback()
    return torch.float16


@lru_cache(maxsize=1)
def _note_fp16_fallback() -> None:
    print("note: this GPU has no native bf16: using fp16 compute for 4-bit layers", file=sys.stderr)


def bnb_config(quantization: str, compute_dtype: torch.dtype | None = None):
    """BitsAndBytesConfig for a preset, or None for full precision.

    nf4 is the project's QDoRA setup: 4-bit NF4 weights, double quantization, bf16 compute
    (``compute_dtype`` None: fp16 on GPUs without native bf16, see :func:`bf16_supported`).
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"quantization={quantization!r} is not supported; choose one of {', '.join(QUANTIZATIONS)}"
        )
    if quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype or default_compute_dtype(),
    )


def _resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return getattr(torch, _DTYPES[dtype])
    except KeyError:
        raise ValueError(
            f"dtype={dtype!r} is not supported; choose one of {', '.join(sorted(_DTYPES))}"
        ) from None


def _hint(name_or_path: str) -> str:
    if Path(name_or_path).exists():
        return f"{name_or_path!r} exists locally: check it holds config.json and the weights/tokenizer files."
    return (
        f"{name_or_path!r} is not a local folder, so it was looked up on the Hugging Face Hub: check "
        "the id and your network, or download it first (`hf download ID`) and pass the folder. "
        "With HF_HUB_OFFLINE=1 only models already in the local cache can load."
    )


def load_tokenizer(name_or_path: str | Path, *, revision: str | None = None):
    """Tokenizer set up for batched scoring: left padding, a pad token (eos when missing)."""
    from transformers import AutoTokenizer

    name = str(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision)
    except Exception as exc:  # transformers raises OSError/ValueError/HFValidationError…
        raise ModelLoadError(
            f"Could not load the tokenizer of {name!r}: {exc}. {_hint(name)}"
        ) from exc
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(
                f"The tokenizer of {name!r} has neither a pad nor an eos token; batched scoring "
                "needs one. Add one to its tokenizer_config.json."
            )
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def _adapter_base(adapter: str) -> str | None:
    config = Path(adapter) / "adapter_config.json"
    if config.is_file():
        return json.loads(config.read_text()).get("base_model_name_or_path")
    return None


def load_model(
    name_or_path: str | Path,
    *,
    adapter: str | Path | None = None,
    quantization: str = "none",
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    revision: str | None = None,
) -> tuple[Any, Any]:
    """Load (model, tokenizer) in eval mode.

    ``adapter`` is a peft adapter folder or Hub id applied on top of the base model (DoRA/LoRA,
    as written by ``train-dpo``/``train-mcqa``). nf4 works on CPU too: bitsandbytes 4-bit has CPU
    kernels, so tests exercise the same layers as a GPU run.
    """
    import torch
    from transformers import AutoModelForCausalLM

    name = str(name_or_path)
    torch_dtype = _resolve_dtype(dtype)
    quant = bnb_config(quantization, compute_dtype=torch_dtype)  # as training computes
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if torch_dtype is None:
        torch_dtype = quant.bnb_4bit_compute_dtype if quant is not None else torch.float32
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "revision": revision}
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": device}
    try:
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except Exception as exc:
        raise ModelLoadError(f"Could not load the model {name!r}: {exc}. {_hint(name)}") from exc
    if quant is None:
        model.to(device)
    tokenizer_source = name
    if adapter is not None:
        from peft import PeftModel

        adapter_name = str(adapter)
        try:
            model = PeftModel.from_pretrained(model, adapter_name, is_trainable=False)
        except Exception as exc:
            base = _adapter_base(adapter_name)
            extra = (
                f" The adapter was trained on {base!r}; load that base model."
                if base and base != name
                else ""
            )
            raise ModelLoadError(
                f"Could not apply the adapter {adapter_name!r} to {name!r}: {exc}.{extra} "
                f"{_hint(adapter_name)}"
            ) from exc
        # A training run may ship its own tokenizer (e.g. with added pad token): prefer it.
        if (Path(adapter_name) / "tokenizer_config.json").is_file():
            tokenizer_source = adapter_name
    tokenizer = load_tokenizer(
        tokenizer_source, revision=None if tokenizer_source != name else revision
    )
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer
