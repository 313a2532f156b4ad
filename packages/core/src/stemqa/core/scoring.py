"""Answer MCQs by reading the next-token distribution over ' A', ' B', … (one forward pass).

This is how lm-evaluation-harness scores MMLU: no sampling, no parsing, a probability for every
option (usable as a confidence), and one forward pass per batch instead of a decoding loop.
``generate_letters`` is the generate-then-extract alternative, kept for comparison and for
models that answer in prose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stemqa.core.extract import extract_letter


@dataclass
class LetterScore:
    """Scores of one prompt: ``probs`` over the options only, ``mass`` over the whole vocabulary.

    A low ``mass`` means the model wanted to say something other than an option letter, so its
    argmax letter deserves little trust even when ``probs`` looks confident.
    """

    letter: str
    probs: dict[str, float]
    mass: float


def letter_token_ids(tokenizer: Any, letters: str) -> list[int]:
    """Token id of ' A', ' B', … (with the leading space, as they follow 'Answer:').

    Raises ValueError when a letter is not a single token: scoring the first piece of a split
    letter would silently compare different things.
    """
    ids = []
    for letter in letters:
        pieces = tokenizer.encode(f" {letter}", add_special_tokens=False)
        if len(pieces) != 1:
            raise ValueError(
                f"' {letter}' is {len(pieces)} tokens ({pieces}) for this tokenizer; letter scoring "
                "needs each option letter with its leading space to be a single token"
            )
        ids.append(pieces[0])
    return ids


def _per_prompt(options: str | Sequence[str], n: int) -> list[str]:
    if isinstance(options, str):
        return [options] * n
    options = list(options)
    if len(options) != n:
        raise ValueError(f"got {len(options)} option strings for {n} prompts; pass one per prompt")
    return options


@contextmanager
def _left_padding(tokenizer: Any):
    """Left padding puts every prompt's last real token at position -1; restored afterwards."""
    previous = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        raise ValueError("the tokenizer has no pad token; load it with stemqa.core.load_tokenizer")
    try:
        yield
    finally:
        tokenizer.padding_side = previous


def _device(model: Any):
    return next(model.parameters()).device


def _batches(tokenizer: Any, prompts: Sequence[str], batch_size: int, device: Any):
    """(prompt indices, left-padded encoding on ``device``), grouped by length.

    Prompts are tokenized once; batches hold prompts of similar length so little compute goes
    to padding.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    ids = tokenizer(list(prompts))["input_ids"]
    order = sorted(range(len(prompts)), key=lambda i: -len(ids[i]))
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        enc = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
        yield batch, {key: value.to(device) for key, value in enc.items()}


def score_letters(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    options: str | Sequence[str] = "ABCD",
    *,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
) -> list[LetterScore]:
    """Option probabilities for each prompt from one forward pass per batch.

    ``options`` is one letter string for all prompts or one per prompt. ``progress`` is called
    after each batch with the number of prompts it scored (fits ``tqdm.update``).
    """
    import torch

    per_prompt = _per_prompt(options, len(prompts))
    ids_for = {opts: letter_token_ids(tokenizer, opts) for opts in set(per_prompt)}
    results: list[LetterScore | None] = [None] * len(prompts)
    device = _device(model)
    with _left_padding(tokenizer), torch.inference_mode():
        for batch, enc in _batches(tokenizer, prompts, batch_size, device):
            mask = enc["attention_mask"]
            # Positions count real tokens only: without this, left padding shifts the rotary
            # positions and a padded prompt scores differently from the same prompt alone.
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            out = model(
                input_ids=enc["input_ids"],
                attention_mask=mask,
                position_ids=positions,
                use_cache=False,
                logits_to_keep=1,
            )
            logprobs = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
            # One gather and one device->host copy per batch: per-row .tolist() calls would
            # each synchronise the GPU.
            width = max(len(per_prompt[i]) for i in batch)
            index = torch.tensor(
                [ids_for[per_prompt[i]] + [0] * (width - len(per_prompt[i])) for i in batch],
                device=logprobs.device,
            )
            valid = torch.tensor(
                [[j < len(per_prompt[i]) for j in range(width)] for i in batch],
                device=logprobs.device,
            )
            option_logprobs = logprobs.gather(1, index).masked_fill(~valid, float("-inf"))
            probs = torch.softmax(option_logprobs, dim=-1)
            masses = option_logprobs.exp().sum(-1, keepdim=True)
            table = torch.cat([probs, masses], dim=1).cpu().tolist()
            for row, i in enumerate(batch):
                letters = per_prompt[i]
                row_probs = table[row][: len(letters)]
                best = max(range(len(letters)), key=row_probs.__getitem__)
                results[i] = LetterScore(
                    letter=letters[best],
                    probs=dict(zip(letters, row_probs, strict=True)),
                    mass=table[row][-1],
                )
            if progress is not None:
                progress(len(batch))
    return results  # type: ignore[return-value]


def generate_letters(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    options: str | Sequence[str] = "ABCD",
    *,
    batch_size: int = 16,
    max_new_tokens: int = 8,
) -> list[tuple[str, str | None]]:
    """Greedy-generate a short answer per prompt and extract its letter: (raw text, letter)."""
    import torch

    per_prompt = _per_prompt(options, len(prompts))
    results: list[tuple[str, str | None] | None] = [None] * len(prompts)
    device = _device(model)
    with _left_padding(tokenizer), torch.inference_mode():
        for batch, enc in _batches(tokenizer, prompts, batch_size, device):
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            new_tokens = out[:, enc["input_ids"].shape[1] :]
            texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for text, i in zip(texts, batch, strict=True):
                results[i] = (text, extract_letter(text, per_prompt[i]))
    return results  # type: ignore[return-value]
