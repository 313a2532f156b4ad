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


class TokenCounter:
    """Token counts and offsets straight from the Rust tokenizer.

    Going through `tokenizer(...)` would build a Python list of ids for every token (tens of
    millions for the report's mix) only to take its length. A private copy of the backend is
    used so padding or truncation left enabled by an earlier call cannot change the counts.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            warnings.warn(
                "the tokenizer is not a fast (Rust) tokenizer; counting lengths will be slow",
                stacklevel=2,
            )
            self.backend = None
            return
        from tokenizers import Tokenizer

        self.backend = Tokenizer.from_str(backend.to_str())
        self.backend.no_padding()
        self.backend.no_truncation()
        self._batch = getattr(self.backend, "encode_batch_fast", self.backend.encode_batch)

    def lengths(self, texts: list[str]) -> list[int]:
        if self.backend is None:
            ids = self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
            return [len(x) for x in ids]
        return [len(e) for e in self._batch(texts, add_special_tokens=False)]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        if self.backend is None:
            enc = self.tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
            )
            return enc["offset_mapping"]
        return self.backend.encode(text, add_special_tokens=False).offsets


def count_tokens(
    counter: TokenCounter,
    texts: Sequence[str],
    *,
    cap: int | None = None,
    batch_size: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Token counts (no special tokens) of each distinct text, in batches.

    With `cap`, a text far longer than the cap is first counted on its head only: byte-level BPE
    never merges across words, so a head already over cap + 1 tokens proves the whole text is
    over the cap, and the (lower-bound) count it gives is all the length policy needs.
    """
    unique = list(dict.fromkeys(texts))
    counts: dict[str, int] = {}
    head_chars = None if cap is None else cap * 8 + 256
    full: list[str] = []
    heads: list[str] = []
    for text in unique:
        (heads if head_chars is not None and len(text) > head_chars else full).append(text)
    for start in range(0, len(heads), batch_size):
        batch = heads[start : start + batch_size]
        for text, n in zip(batch, counter.lengths([t[:head_chars] for t in batch]), strict=True):
            if n > cap + 1:  # type: ignore[operator]
                counts[text] = n - 1
                if progress is not None:
                    progress(1)
            else:
                full.append(text)
    for start in range(0, len(full), batch_size):
        batch = full[start : start + batch_size]
        counts.update(zip(batch, counter.lengths(batch), strict=True))
        if progress is not None:
            progress(len(batch))
    return counts


def _window(
    counter: TokenCounter, text: str, k: int, *, tail: bool, chars_per_token: float = 4.0
) -> tuple[str, int, list[tuple[int, int]]]:
    """Tokenise only the end (or start) of a long text: enough of it to hold k tokens away from
    the cut, since byte-level BPE never merges across words. Returns (piece, offset, offsets)."""
    size = int(k * chars_per_token * 1.25) + 256
    while True:
        if size >= len(text):
            return text, 0, counter.offsets(text)
        piece = text[-size:] if tail else text[:size]
        offsets = counter.offsets(piece)
        if len(offsets) > k + 8:
            return piece, (len(text) - size if tail else 0), offsets
        size *= 2


def keep_last_tokens(
    counter: TokenCounter, text: str, k: int, *, chars_per_token: float = 4.0
) -> str:
    """The longest suffix of `text` that starts on a token boundary and has at most k tokens."""
    if k <= 0:
        return ""
    cut = text
    for _ in range(8):  # re-tokenising a cut string can shift a boundary by a token
        _, base, offsets = _window(counter, cut, k, tail=True, chars_per_token=chars_per_token)
        if base == 0 and len(offsets) <= k:
            return cut
        start = base + offsets[len(offsets) - k][0]
        cut = cut[max(start, 1) :]
    return cut


def keep_first_tokens(
    counter: TokenCounter, text: str, k: int, *, chars_per_token: float = 4.0
) -> str:
    """The longest prefix of `text` that ends on a token boundary and has at most k tokens."""
    if k <= 0:
        return ""
    cut = text
    for _ in range(8):
        piece, _, offsets = _window(counter, cut, k, tail=False, chars_per_token=chars_per_token)
        if len(piece) == len(cut) and len(offsets) <= k:
            return cut
        end = offsets[k - 1][1]
        cut = cut[: min(end, len(cut) - 1)]
    return cut


def token_upper_bound(text: str) -> int:
    """No tokenizer in use emits more tokens than UTF-8 bytes (+2 for added prefix markers such as
    SentencePiece's "▁"), so pairs under the budget by this bound skip tokenisation entirely."""
    return len(text.encode("utf-8")) + 2


def fit_pair(
    counter: TokenCounter,
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
    def last(text: str, n: int, k: int) -> str:
        return keep_last_tokens(counter, text, k, chars_per_token=len(text) / max(n, 1))

    def first(text: str, n: int, k: int) -> str:
        return keep_first_tokens(counter, text, k, chars_per_token=len(text) / max(n, 1))

    floor = min(lp, budget // 4)
    if budget - longest >= floor:
        fitted = Fitted(last(prompt, lp, budget - longest), chosen, rejected, TRUNCATED)
    else:
        keep = floor
        response_budget = budget - keep
        fitted = Fitted(
            prompt if lp <= keep else last(prompt, lp, keep),
            chosen if lc <= response_budget else first(chosen, lc, response_budget),
            rejected if lr <= response_budget else first(rejected, lr, response_budget),
            TRUNCATED,
        )
    if not (fitted.prompt.strip() and fitted.chosen.strip() and fitted.rejected.strip()):
        # e.g. a system prompt that fills the window by itself: nothing sensible is left to keep
        return Fitted(prompt, chosen, rejected, TOO_LONG)
    if fitted.chosen == fitted.rejected:
        return Fitted(prompt, chosen, rejected, TOO_LONG)  # cut down to the same text
    return fitted
