"""``--auto_batch``: the largest micro-batch that fits the GPU at the configured max_length.

The effective batch (per_device_train_batch_size x gradient_accumulation_steps) is the report's
hyperparameter and never changes; only how it is split does. Bigger micro-batches and no
gradient checkpointing are faster (fewer, fuller kernels; no recomputed forward), so the search
tries, from the largest divisor of the effective batch down: without checkpointing first, then
- only if nothing fits - with it.

Whether a shape fits is measured, not guessed: one forward + backward of the worst case (every
sequence at max_length) on the real model, peak memory read from torch.cuda. The search logic
takes the probe as a function, so it is tested on CPU with a faked memory budget.
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


def apply_auto_batch(
    model: Any, training_args: Any, sequences_per_example: int
) -> BatchChoice | None:
    """Set per_device_train_batch_size / gradient_accumulation_steps / gradient_checkpointing
    on ``training_args`` from a search on this GPU; prints the choice. No GPU: keeps the
    configured split (note)."""
    import torch

    effective = (
        training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    )
    if not torch.cuda.is_available():
        print(
            "note: auto_batch needs a CUDA GPU; keeping the configured micro-batch", file=sys.stderr
        )
        return None
    free, _total = torch.cuda.mem_get_info()
    budget = int((free + torch.cuda.memory_allocated()) * HEADROOM)
    dtype = torch.bfloat16 if training_args.bf16 else torch.float16 if training_args.fp16 else None
    probe = cuda_peak_probe(
        model, int(training_args.max_length or 1024), sequences_per_example, dtype
    )
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
        f"{'on' if choice.gradient_checkpointing else 'off'}, probe peak "
        f"{(choice.peak_bytes or 0) / 2**30:.1f} of {budget / 2**30:.1f} GiB",
        file=sys.stderr,
    )
    return choice
