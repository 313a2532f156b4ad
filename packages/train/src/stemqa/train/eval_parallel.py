"""Data-parallel MCQA evaluation: N processes (``torchrun`` / ``accelerate launch``) split the
questions, and every process ends with the same full, ordered list of answers.

Why results are *identical* to one process, not merely close: the letter scorer
(``stemqa.core.scoring.score_letters``) sorts prompts by token length and runs fixed-size
batches, and a question's logits depend (in the last float bits) on which prompts share its
padded batch. So the split is by **batch of that global order**: global batch ``b`` goes to rank
``b % world_size``, each rank passes its questions in global order, and the scorer's stable sort
rebuilds exactly the batches one process would have run. ``generate`` batches in input order,
which the same rule covers with the identity order.

Retrieval and prompt building run once per question overall (strided split, then an
all-gather of the prepared prompts), because every rank needs every prompt's length to agree on
the global order. Shots are always picked from the full question list (or ``shot_pool``), as
in one process.

Plain-list helpers (:func:`strided`, :func:`length_order`, :func:`batch_shard`,
:func:`reassemble`) carry the logic and are tested without any process group.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def strided(n: int, rank: int, world_size: int) -> list[int]:
    """Indices ``rank, rank + world_size, …`` of ``range(n)``."""
    _check(rank, world_size)
    return list(range(rank, n, world_size))


def length_order(lengths: Sequence[int]) -> list[int]:
    """The scorer's batching order: longest first, ties in input order (a stable sort, the
    rule of ``stemqa.core.scoring._batches``)."""
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


def batch_shard(order: Sequence[int], batch_size: int, rank: int, world_size: int) -> list[int]:
    """The indices rank ``rank`` scores: global batches ``rank, rank + world_size, …`` of
    ``order`` cut into ``batch_size`` chunks, concatenated in global order."""
    _check(rank, world_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    out: list[int] = []
    for b, start in enumerate(range(0, len(order), batch_size)):
        if b % world_size == rank:
            out.extend(order[start : start + batch_size])
    return out


def reassemble(parts: Sequence[tuple[Sequence[int], Sequence[T]]], n: int) -> list[T]:
    """Put every rank's (indices, items) back into one list of length ``n``, in input order;
    raises if an index is missing or given twice (a sharding bug must not pass silently)."""
    out: list[Any] = [None] * n
    seen = [False] * n
    for indices, items in parts:
        if len(indices) != len(items):
            raise ValueError("a rank returned a different number of items than indices")
        for i, item in zip(indices, items, strict=True):
            if seen[i]:
                raise ValueError(f"item {i} was produced by two ranks")
            seen[i] = True
            out[i] = item
    missing = [i for i, ok in enumerate(seen) if not ok]
    if missing:
        raise ValueError(f"{len(missing)} item(s) were produced by no rank (first: {missing[0]})")
    return out


def _check(rank: int, world_size: int) -> None:
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")


def world() -> tuple[int, int]:
    """(rank, world size): from torch.distributed when initialised, else the launcher's env."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0") or 0), int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main_process() -> bool:
    return world()[0] == 0


def init_from_env() -> tuple[int, int]:
    """Join the process group a launcher set up (WORLD_SIZE > 1), gloo on CPU and nccl on
    GPUs; destroyed at exit. Returns (rank, world size); a single process does nothing."""
    import torch
    import torch.distributed as dist

    _, size = world()
    if size > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0") or 0))
        dist.init_process_group(backend=backend)
        atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
    return world()


def process_device(requested: str | None) -> str | None:
    """The device for this rank: the one asked for, else ``cuda:LOCAL_RANK`` when several
    processes share a machine with GPUs (else core's default)."""
    import torch

    if requested is not None or world()[1] == 1 or not torch.cuda.is_available():
        return requested
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0') or 0)}"


def all_gather_parts(indices: Sequence[int], items: Sequence[T] | BaseException, n: int) -> list[T]:
    """Every rank's (indices, items) -> the full list in input order, on every rank.

    A rank that failed passes its exception instead of items: every rank then raises the
    first one (by rank), so a user error on one shard (a prompt too long for the window) ends
    all processes with the same one-line message instead of leaving the others waiting."""
    import torch.distributed as dist

    if world()[1] == 1 or not dist.is_initialized():
        parts: list[Any] = [(indices, items)]
    else:
        parts = [None] * dist.get_world_size()
        payload = items if isinstance(items, BaseException) else list(items)
        dist.all_gather_object(parts, (list(indices), payload))
    for _, payload in parts:
        if isinstance(payload, BaseException):
            raise payload
    return reassemble(parts, n)


def _attempt(fn: Callable[[], list[T]]) -> list[T] | Exception:
    try:
        return fn()
    except Exception as exc:  # re-raised on every rank by all_gather_parts
        return exc


def answer_mcqs_parallel(
    model: Any,
    tokenizer: Any,
    mcqs: Sequence[Any],
    *,
    shot_pool: Sequence[Any] | None = None,
    method: str = "logits",
    batch_size: int = 16,
    max_new_tokens: int = 8,
    progress: Callable[[int], None] | None = None,
    **prepare: Any,
) -> list[Any]:
    """``stemqa.core.answering.answer_mcqs`` split over the launched processes (see module
    docstring); one process calls it unchanged. Returns all answers, in order, on every rank.
    ``prepare`` takes answer_mcqs' retrieval/prompt options (retriever, k, query_mode, shots,
    max_tokens, subject_header)."""
    from stemqa.core.answering import answer_mcqs, prepare_mcqs, score_prepared

    rank, size = world()
    common = {"method": method, "batch_size": batch_size, "max_new_tokens": max_new_tokens}
    if size == 1:
        return answer_mcqs(
            model, tokenizer, mcqs, shot_pool=shot_pool, progress=progress, **common, **prepare
        )
    if prepare.get("max_tokens") is None:
        from stemqa.core.answering import context_window

        prepare["max_tokens"] = context_window(model)
    n = len(mcqs)
    mine = strided(n, rank, size)
    pool = list(shot_pool) if shot_pool is not None else list(mcqs)
    local = _attempt(
        lambda: prepare_mcqs([mcqs[i] for i in mine], tokenizer, shot_pool=pool, **prepare)
    )
    prepared = all_gather_parts(mine, local, n)
    if method == "generate":
        order = list(range(n))
    else:
        lengths = [len(ids) for ids in tokenizer([p.prompt for p in prepared])["input_ids"]]
        order = length_order(lengths)
    shard = batch_shard(order, batch_size, rank, size)
    answers = _attempt(
        lambda: score_prepared(
            model, tokenizer, [prepared[i] for i in shard], progress=progress, **common
        )
    )
    everything = all_gather_parts(shard, answers, n)
    if progress is not None:
        progress(n - len(shard))  # the other ranks' questions, now in hand
    return everything
