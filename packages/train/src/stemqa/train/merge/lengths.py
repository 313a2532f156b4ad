"""Length policy in tokens of the target model, with one batched pass of a fast tokenizer.

The report cut strings at 2048 tokens after the fact; here a pair that does not fit is either
dropped or truncated in the way that hurts DPO least: the responses are what the loss compares, so
they stay whole when possible and the prompt loses its beginning (the question is usually last).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

OK, TRUNCATED, TOO_LONG = "ok", "truncated", "too_long"


@dataclass
class Fitted:
    prompt: str
    chosen: str
    rejected: str
    status: str  # OK, TRUNCATED or TOO_LONG


def count_tokens(
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 2048,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Token counts (no special tokens) for each distinct text, in batches."""
    if not getattr(tokenizer, "is_fast", False):
        warnings.warn(
            "the tokenizer is not a fast (Rust) tokenizer; counting lengths will be slow",
            stacklevel=2,
        )
    unique = list(dict.fromkeys(texts))
    counts: dict[str, int] = {}
    for start in range(0, len(unique), batch_size):
        batch = unique[start : start + batch_size]
        ids = tokenizer(
            batch, add_special_tokens=False, return_attention_mask=False, verbose=False
        )["input_ids"]
        counts.update(zip(batch, map(len, ids), strict=True))
        if progress is not None:
            progress(len(batch))
    return counts


def _offsets(tokenizer, text: str) -> list[tuple[int, int]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return enc["offset_mapping"]


def keep_last_tokens(tokenizer, text: str, k: int) -> str:
    """The longest suffix of `text` that starts on a token boundary and has at most k tokens."""
    if k <= 0:
        return ""
    cut = text
    for _ in range(8):  # re-tokenising a cut string can shift a boundary by a token
        offsets = _offsets(tokenizer, cut)
        if len(offsets) <= k:
            return cut
        start = offsets[len(offsets) - k][0]
        cut = cut[max(start, 1) :]
    return cut


def keep_first_tokens(tokenizer, text: str, k: int) -> str:
    """The longest prefix of `text` that ends on a token boundary and has at most k tokens."""
    if k <= 0:
        return ""
    cut = text
    for _ in range(8):
        offsets = _offsets(tokenizer, cut)
        if len(offsets) <= k:
            return cut
        end = offsets[k - 1][1]
        cut = cut[: min(end, len(cut) - 1)]
    return cut


def fit_pair(
    tokenizer,
    prompt: str,
    chosen: str,
    rejected: str,
    lengths: dict[str, int],
    budget: int,
    policy: str,
) -> Fitted:
    """Make prompt + each response fit `budget` tokens, or mark the pair too long."""
    lp, lc, lr = lengths[prompt], lengths[chosen], lengths[rejected]
    longest = max(lc, lr)
    if lp + longest <= budget:
        return Fitted(prompt, chosen, rejected, OK)
    if policy == "drop" or budget < 2:
        return Fitted(prompt, chosen, rejected, TOO_LONG)
    # The prompt keeps at least a quarter of the window (or all of itself if shorter), so a
    # huge response cannot leave the model answering nothing.
    floor = min(lp, budget // 4)
    if budget - longest >= floor:
        fitted = Fitted(
            keep_last_tokens(tokenizer, prompt, budget - longest), chosen, rejected, TRUNCATED
        )
    else:
        keep = floor
        response_budget = budget - keep
        fitted = Fitted(
            prompt if lp <= keep else keep_last_tokens(tokenizer, prompt, keep),
            chosen
            if lc <= response_budget
            else keep_first_tokens(tokenizer, chosen, response_budget),
            rejected
            if lr <= response_budget
            else keep_first_tokens(tokenizer, rejected, response_budget),
            TRUNCATED,
        )
    if not (fitted.prompt.strip() and fitted.chosen.strip() and fitted.rejected.strip()):
        # e.g. a system prompt that fills the window by itself: nothing sensible is left to keep
        return Fitted(prompt, chosen, rejected, TOO_LONG)
    if fitted.chosen == fitted.rejected:
        return Fitted(prompt, chosen, rejected, TOO_LONG)  # cut down to the same text
    return fitted
