"""Length policy in tokens of the target model, with one batched pass of a fast tokenizer.

The report cut strings at 2048 tokens after the fact; here a pair that does not fit is either
dropped or truncated in the way that hurts DPO least: the responses are what the loss compares, so
they stay whole when possible and the prompt loses its beginning (the question is usually last).
"""

from __future__ import annotations

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
    """Token counts and cut points straight from the Rust tokenizer.

    Going through `tokenizer(...)` would build a Python list of ids (and of offsets) for every
    token, tens of millions for the report's mix, only to take a length or one offset. A private
    copy of the backend is used so padding or truncation left enabled by an earlier call cannot
    change the counts.
    """

    def __init__(self, tokenizer) -> None:
        from tokenizers import Tokenizer

        backend = getattr(tokenizer, "backend_tokenizer", None)
        if not isinstance(backend, Tokenizer):
            raise ValueError(
                f"length counting needs a fast (Rust) tokenizer; {type(tokenizer).__name__} is not"
            )
        self.backend = Tokenizer.from_str(backend.to_str())
        self.backend.no_padding()
        self.backend.no_truncation()
        self._fast = getattr(self.backend, "encode_batch_fast", self.backend.encode_batch)

    def lengths(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(e) for e in self._fast(texts, add_special_tokens=False)]

    def encode_batch(self, texts: list[str]) -> list:
        """Encodings with offsets (`len(e)`, `e.token_to_chars(i)`)."""
        return self.backend.encode_batch(texts, add_special_tokens=False) if texts else []


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


@dataclass
class Cut:
    """Keep at most `k` tokens of `text`: its end (`tail`, for prompts) or its start."""

    text: str
    k: int
    tail: bool
    chars_per_token: float = 4.0


def cut_texts(counter: TokenCounter, cuts: list[Cut], *, max_rounds: int = 12) -> list[str]:
    """Apply many cuts with batched tokenisation.

    Each round tokenises, for every unfinished cut, a window just large enough to hold k tokens
    away from its edge (byte-level BPE never merges across words, so the far end of the window
    does not change the tokens near the cut) and cuts on a token boundary; the next round checks
    each cut string's length, since re-tokenising a cut string can shift a boundary by a token.
    """
    out = [c.text if c.k > 0 else "" for c in cuts]
    sizes = [int(c.k * c.chars_per_token * 1.25) + 256 for c in cuts]
    to_cut = [i for i, c in enumerate(cuts) if c.k > 0]
    to_check: list[int] = []
    for _ in range(max_rounds):
        if not to_cut and not to_check:
            break
        if to_check:
            counts = counter.lengths([out[i] for i in to_check])
            to_cut += [i for i, n in zip(to_check, counts, strict=True) if n > cuts[i].k]
        pieces = []
        for i in to_cut:
            text, size, tail = out[i], sizes[i], cuts[i].tail
            pieces.append(text if size >= len(text) else (text[-size:] if tail else text[:size]))
        to_check, widen = [], []
        for i, piece, enc in zip(to_cut, pieces, counter.encode_batch(pieces), strict=True):
            text, k, whole, n = out[i], cuts[i].k, len(piece) == len(out[i]), len(enc)
            if whole and n <= k:
                continue  # fits: done
            if not whole and n <= k + 8:
                sizes[i] *= 2  # window too small to be sure: widen it
                widen.append(i)
                continue
            if cuts[i].tail:
                start = len(text) - len(piece) + enc.token_to_chars(n - k)[0]
                out[i] = text[max(start, 1) :]
            else:
                out[i] = text[: min(enc.token_to_chars(k - 1)[1], len(text) - 1)]
            to_check.append(i)
        to_cut = widen
    return out


def token_upper_bound(text: str) -> int:
    """No tokenizer in use emits more tokens than UTF-8 bytes (+2 for added prefix markers such as
    SentencePiece's "▁"), so pairs under the budget by this bound skip tokenisation entirely."""
    return len(text.encode("utf-8")) + 2


@dataclass
class Plan:
    """What the length policy does to one pair: a status and, for TRUNCATED, the token budgets
    of the parts to cut (None: keep whole)."""

    status: str
    prompt_k: int | None = None
    chosen_k: int | None = None
    rejected_k: int | None = None


def plan_fit(lp: int, lc: int, lr: int, budget: int, policy: str) -> Plan:
    """Decide how prompt + each response fit `budget` tokens, or that the pair is too long."""
    longest = max(lc, lr)
    if lp + longest <= budget:
        return Plan(OK)
    if policy == "drop" or budget < 2:
        return Plan(TOO_LONG)
    # The prompt keeps at least a quarter of the window (or all of itself if shorter), so a
    # huge response cannot leave the model answering nothing.
    floor = min(lp, budget // 4)
    if budget - longest >= floor:
        return Plan(TRUNCATED, prompt_k=budget - longest)
    response_budget = budget - floor
    return Plan(
        TRUNCATED,
        prompt_k=floor if lp > floor else None,
        chosen_k=response_budget if lc > response_budget else None,
        rejected_k=response_budget if lr > response_budget else None,
    )


def fit_pairs(
    counter: TokenCounter,
    triples: list[tuple[str, str, str]],
    lengths: dict[str, int],
    budgets: list[int],
    policy: str,
) -> list[Fitted]:
    """Apply the length policy to many (prompt, chosen, rejected) triples with batched cuts."""
    plans = [
        plan_fit(lengths[p], lengths[c], lengths[r], b, policy)
        for (p, c, r), b in zip(triples, budgets, strict=True)
    ]
    cuts: list[Cut] = []
    where: list[tuple[int, int]] = []  # (triple index, part index) of each cut
    for t, ((p, c, r), plan) in enumerate(zip(triples, plans, strict=True)):
        if plan.status != TRUNCATED:
            continue
        for part, (text, k) in enumerate(
            ((p, plan.prompt_k), (c, plan.chosen_k), (r, plan.rejected_k))
        ):
            if k is not None:
                cpt = len(text) / max(lengths[text], 1)
                cuts.append(Cut(text, k, tail=part == 0, chars_per_token=cpt))
                where.append((t, part))
    done = cut_texts(counter, cuts)
    parts = [list(triple) for triple in triples]
    for (t, part), text in zip(where, done, strict=True):
        parts[t][part] = text
    fitted = []
    for (p, c, r), plan, new in zip(triples, plans, parts, strict=True):
        if plan.status != TRUNCATED:
            fitted.append(Fitted(p, c, r, plan.status))
        elif not all(x.strip() for x in new) or new[1] == new[2]:
            # e.g. a system prompt that fills the window by itself, or answers cut to one text
            fitted.append(Fitted(p, c, r, TOO_LONG))
        else:
            fitted.append(Fitted(new[0], new[1], new[2], TRUNCATED))
    return fitted
