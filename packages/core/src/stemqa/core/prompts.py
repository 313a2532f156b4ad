"""Prompt templates, and fitting them into the model's window without losing the question.

Evaluation, training and the app must build byte-identical prompts, or accuracy measured in one
place would not hold in another. When a prompt is too long for the window (2048 tokens for phi-2),
the retrieved context is what gives way: a cut question or a missing option makes the answer
meaningless, while a shorter context only makes it less informed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stemqa.core.records import MCQ

RAG_TEMPLATE = (
    "Considering this context: {context} Answer the following question: {question} "
    "Output one letter only corresponding to the correct answer"
)
#: Appended to every MCQ prompt so the letter is read at the same place (after 'Answer:')
#: whether the prompt is the MMLU layout or the RAG template.
ANSWER_CUE = "\nAnswer:"
PASSAGE_SEPARATOR = "\n\n"
CHAT_CONTEXT_HEADER = "Use the following context if it is relevant:\n"


class PromptTooLongError(ValueError):
    """Even without any context, the prompt does not fit the model's window."""


def format_question(mcq: MCQ) -> str:
    """'{question}\\nA. …\\nB. …' — the lm-evaluation-harness MMLU layout of one question."""
    options = "\n".join(
        f"{letter}. {choice}" for letter, choice in zip(mcq.letters, mcq.choices, strict=True)
    )
    return f"{mcq.question}\n{options}"


def _subject_header(subject: str | None) -> str:
    if subject:
        return f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
    return "The following are multiple choice questions (with answers).\n\n"


def mmlu_prompt(mcq: MCQ, *, subject_header: bool = True, shots: Sequence[MCQ] = ()) -> str:
    """The lm-evaluation-harness MMLU prompt: optional header, k solved shots, then the question.

    Shots are '{question}\\nA. …\\nAnswer: B' separated by blank lines, as in the harness, so
    scores are comparable with published phi-2 MMLU numbers.
    """
    parts = [_subject_header(mcq.subject) if subject_header else ""]
    for shot in shots:
        if shot.answer_letter is None:
            raise ValueError(f"few-shot example has no answer: {shot.question[:80]!r}")
        parts.append(f"{format_question(shot)}{ANSWER_CUE} {shot.answer_letter}\n\n")
    parts.append(f"{format_question(mcq)}{ANSWER_CUE}")
    return "".join(parts)


def rag_prompt(mcq: MCQ, context: str) -> str:
    """The project report's RAG template (question with its options), then 'Answer:'."""
    return RAG_TEMPLATE.format(context=context, question=format_question(mcq)) + ANSWER_CUE


def _count(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=True)["input_ids"])


def _join_context(context: str | Sequence[str]) -> list[str]:
    if isinstance(context, str):
        return [context]
    return [c for c in context if c]


def _fit_passages(
    passages: list[str], build, tokenizer: Any, budget: int, what: str
) -> tuple[str, str]:
    """Longest prefix of the joined passages whose prompt fits ``budget`` tokens.

    Whole passages are kept in order while they fit; the first that does not is cut at a token
    boundary. Returns (prompt, context used). Binary search on the token count keeps this to
    O(log n) tokenizer calls.
    """
    base = build("")
    if _count(tokenizer, base) > budget:
        raise PromptTooLongError(
            f"{what} alone takes {_count(tokenizer, base)} tokens, more than the {budget} available "
            "(max_tokens - reserve_tokens); shorten it or raise max_tokens"
        )
    kept: list[str] = []
    for passage in passages:
        candidate = PASSAGE_SEPARATOR.join([*kept, passage])
        if _count(tokenizer, build(candidate)) <= budget:
            kept.append(passage)
            continue
        ids = tokenizer(passage, add_special_tokens=False)["input_ids"]
        lo, hi = 0, len(ids)  # largest n with the first n tokens fitting
        while lo < hi:
            mid = (lo + hi + 1) // 2
            piece = tokenizer.decode(ids[:mid]).rstrip()
            if _count(tokenizer, build(PASSAGE_SEPARATOR.join([*kept, piece]))) <= budget:
                lo = mid
            else:
                hi = mid - 1
        if lo:
            kept.append(tokenizer.decode(ids[:lo]).rstrip())
        break
    context = PASSAGE_SEPARATOR.join(kept)
    return build(context), context


def build_mcq_prompt(
    mcq: MCQ,
    *,
    context: str | Sequence[str] | None = None,
    tokenizer: Any = None,
    max_tokens: int = 2048,
    reserve_tokens: int = 8,
    shots: Sequence[MCQ] = (),
    subject_header: bool = True,
) -> str:
    """The prompt for one MCQ: MMLU layout without context, the RAG template with it.

    With a tokenizer the prompt is made to fit ``max_tokens - reserve_tokens`` tokens (the
    reserve is room for the answer): passages are dropped from the end, then cut, and shots are
    dropped last-first; the question and its options are never cut (PromptTooLongError instead).
    """
    budget = max_tokens - reserve_tokens
    passages = [] if context is None else _join_context(context)
    if context is None:
        prompt = mmlu_prompt(mcq, subject_header=subject_header, shots=shots)
        if tokenizer is None:
            return prompt
        kept = list(shots)
        while _count(tokenizer, prompt) > budget and kept:
            kept.pop()
            prompt = mmlu_prompt(mcq, subject_header=subject_header, shots=kept)
        if _count(tokenizer, prompt) > budget:
            raise PromptTooLongError(
                f"the question and its options take {_count(tokenizer, prompt)} tokens, more than "
                f"the {budget} available (max_tokens - reserve_tokens)"
            )
        return prompt
    if tokenizer is None:
        return rag_prompt(mcq, PASSAGE_SEPARATOR.join(passages))
    prompt, _ = _fit_passages(
        passages,
        lambda ctx: rag_prompt(mcq, ctx),
        tokenizer,
        budget,
        "the question and its options",
    )
    return prompt


def _render_chat(tokenizer: Any, messages: list[dict], context: str) -> str:
    messages = [dict(m) for m in messages]
    if context:
        note = CHAT_CONTEXT_HEADER + context
        if messages and messages[0].get("role") == "system":
            messages[0]["content"] = f"{messages[0]['content']}\n\n{note}"
        else:
            messages.insert(0, {"role": "system", "content": note})
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # Base models such as phi-2 have no chat template: a plain transcript they continue well.
    lines = []
    for m in messages:
        role = m.get("role", "user")
        if role == "system":
            lines.append(m["content"])
        else:
            lines.append(f"{'User' if role == 'user' else 'Assistant'}: {m['content']}")
    return "\n".join(lines) + "\nAssistant:"


def chat_prompt(
    messages: list[dict],
    *,
    tokenizer: Any = None,
    context: Sequence[str] = (),
    max_tokens: int = 2048,
    reserve_tokens: int = 256,
) -> str:
    """A prompt for free conversation (the app's chat), with optional retrieved context.

    Uses the tokenizer's chat template when it has one, else a 'User:/Assistant:' transcript.
    To fit, the context is trimmed first, then the oldest turns are dropped; the system message
    and the latest user message always stay.
    """
    if not messages:
        raise ValueError("chat_prompt needs at least one message")
    passages = _join_context(context)
    if tokenizer is None:
        return _render_chat(None, messages, PASSAGE_SEPARATOR.join(passages))
    budget = max_tokens - reserve_tokens
    system = [m for m in messages[:1] if m.get("role") == "system"]
    turns = messages[len(system) :]
    while True:
        history = system + turns
        try:
            prompt, _ = _fit_passages(
                passages,
                lambda ctx, h=history: _render_chat(tokenizer, h, ctx),
                tokenizer,
                budget,
                "the conversation",
            )
            return prompt
        except PromptTooLongError:
            if len(turns) <= 1:
                raise
            turns = turns[1:]
