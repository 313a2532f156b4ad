"""``--auto_batch``: the largest micro-batch that fits the GPU at the configured max_length.

The effective batch (per_device_train_batch_size x gradient_accumulation_steps) is the report's
hyperparameter and never changes; only how it is split does. Bigger micro-batches and no
gradient checkpointing are faster (fewer, fuller kernels; no recomputed forward), so the search
tries, from the largest divisor of the effective batch down: without checkpointing first, then
- only if nothing fits - with it.

On a GPU, whether a shape fits is measured, not guessed: one forward + backward of the worst case
(every sequence at max_length) on the real model, peak memory read from torch.cuda. On a CPU it
is estimated (:func:`estimated_peak_bytes`) against free RAM. The search takes the probe as a
function, so its logic is tested on CPU with a faked memory budget.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Keep this share of the GPU free for the optimizer state, fragmentation and longer batches.
HEADROOM = 0.85


@dataclass(frozen=True)
class BatchChoice:
    micro_batch: int
    gradient_accumulation_steps: int
    gradient_checkpointing: bool
    peak_bytes: int | None


def divisors_desc(n: int) -> list[int]:
    return [d for d in range(n, 0, -1) if n % d == 0]


def pick_micro_batch(
    effective_batch: int,
    peak_bytes: Callable[[int, bool], int | None],
    budget_bytes: int,
) -> BatchChoice:
    """Largest micro-batch dividing ``effective_batch`` whose measured peak fits the budget.

    ``peak_bytes(micro_batch, checkpointing)`` returns the peak memory of one training step, or
    None when it ran out of memory. Raises ValueError when not even micro-batch 1 with
    checkpointing fits.
    """
    for checkpointing in (False, True):
        for micro in divisors_desc(effective_batch):
            peak = peak_bytes(micro, checkpointing)
            if peak is not None and peak <= budget_bytes:
                return BatchChoice(micro, effective_batch // micro, checkpointing, peak)
    raise ValueError(
        f"not even micro-batch 1 with gradient checkpointing fits in {budget_bytes / 2**30:.1f} "
        "GiB: lower max_length"
    )


def cuda_peak_probe(
    model: Any, max_length: int, sequences_per_example: int, autocast_dtype: Any = None
):
    """A ``peak_bytes`` for :func:`pick_micro_batch`: one forward+backward of random tokens at
    ``max_length`` on the real model; OOM -> None."""
    import torch

    device = next(p for p in model.parameters() if p.device.type == "cuda").device
    vocab = int(model.config.vocab_size)

    def probe(micro: int, checkpointing: bool) -> int | None:
        if checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        else:
            model.gradient_checkpointing_disable()
        model.train()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        try:
            ids = torch.randint(
                0, vocab, (micro * sequences_per_example, max_length), device=device
            )
            with torch.autocast("cuda", dtype=autocast_dtype, enabled=autocast_dtype is not None):
                loss = model(input_ids=ids).logits.float().mean()
            loss.backward()
            peak = int(torch.cuda.max_memory_allocated(device))
        except torch.cuda.OutOfMemoryError:
            peak = None
        finally:
            model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
        return peak

    return probe


def estimated_peak_bytes(model: Any, max_length: int, sequences_per_example: int, dtype_bytes=4):
    """A ``peak_bytes`` for :func:`pick_micro_batch` where no trial step can be measured (CPU):
    weights plus the standard transformer activation estimate (Korthikanti et al. 2022: about
    34*s*h + 5*a*s^2 half-precision bytes per layer and sequence; with checkpointing one layer's
    worth plus every layer's input) plus fp32 logits and their log-softmax. Conservative: every
    sequence at ``max_length``."""
    config = model.config
    hidden = int(config.hidden_size)
    layers = int(config.num_hidden_layers)
    heads = int(config.num_attention_heads)
    vocab = int(config.vocab_size)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    scale = dtype_bytes / 2
    seq = max_length

    def peak(micro: int, checkpointing: bool) -> int:
        rows = micro * sequences_per_example
        per_layer = rows * (34 * seq * hidden + 5 * heads * seq * seq) * scale
        if checkpointing:
            activations = layers * rows * seq * hidden * dtype_bytes + per_layer
        else:
            activations = layers * per_layer
        logits = 2 * rows * seq * vocab * 4
        return int(weights + activations + logits)

    return peak


def apply_auto_batch(model: Any, training_args: Any, sequences_per_example: int) -> BatchChoice:
    """Set per_device_train_batch_size / gradient_accumulation_steps / gradient_checkpointing
    on ``training_args`` from a search (trial steps on a GPU; the estimate against free RAM on
    a CPU); prints the choice in one line."""
    import torch

    effective = (
        training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    )
    max_length = int(getattr(training_args, "max_length", None) or 1024)
    if torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info()
        budget = int((free + torch.cuda.memory_allocated()) * HEADROOM)
        bf16, fp16 = training_args.bf16, training_args.fp16
        dtype = torch.bfloat16 if bf16 else torch.float16 if fp16 else None
        probe = cuda_peak_probe(model, max_length, sequences_per_example, dtype)
        where = "GPU, measured"
    else:
        import psutil

        budget = int(psutil.virtual_memory().available * HEADROOM)
        probe = estimated_peak_bytes(model, max_length, sequences_per_example)
        where = "RAM, estimated"
    choice = pick_micro_batch(effective, probe, budget)
    training_args.per_device_train_batch_size = choice.micro_batch
    training_args.gradient_accumulation_steps = choice.gradient_accumulation_steps
    training_args.gradient_checkpointing = choice.gradient_checkpointing
    if choice.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()
    print(
        f"note: auto_batch: micro-batch {choice.micro_batch} x gradient accumulation "
        f"{choice.gradient_accumulation_steps} (effective {effective}), gradient checkpointing "
        f"{'on' if choice.gradient_checkpointing else 'off'}, peak "
        f"{(choice.peak_bytes or 0) / 2**30:.2f} of {budget / 2**30:.1f} GiB ({where})",
        file=sys.stderr,
    )
    return choice
