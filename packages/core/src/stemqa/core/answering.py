"""The answer engine: question → retrieval query → passages → prompt → scores → answer.

This is the one place where an MCQ becomes a prompt, a retrieval query and an answer.
eval-mcqa, the app's MCQA tab, the chat tab's retrieval, the Space, the benchmarks and
train-mcqa (for its training prompts) all call it, so what we measure is what users get. It lives
in core because both ``stemqa.train`` and ``stemqa.demo`` import it and neither may import the
other (rag reaches it through core's ``Retriever`` protocol).

The work is split in two steps so that a server can batch across users:

* `prepare_mcqs` — per question: retrieval (with the query `retrieval_queries` builds) and the
  prompt, fitted into the model's window (`context_window`). Cheap, CPU, no model.
* `score_prepared` — one batched model call for any number of prepared questions, possibly
  from different users (`score_fn` lets the app route it through its batching queue and the
  ZeroGPU wrapper).

`answer_mcqs` does both for a batch of questions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stemqa.core.prompts import PromptTooLongError, build_mcq_prompt, format_question
from stemqa.core.records import MCQ
from stemqa.core.retrieval import Passage, Retriever, cite, fuse_rankings

METHODS = ("logits", "generate")
#: How the retrieval query is built from an MCQ (see `retrieval_queries`).
QUERY_MODES = ("stem", "stem+options", "fused")
#: Measured on the course PDFs and their questions with eval-mcqa --rag-index
#: (docs/BENCHMARKS.md, "Retrieval query for MCQs").
DEFAULT_QUERY_MODE = "fused"
DEFAULT_K = 3
#: Passages each query of a fused question contributes before fusion: deeper lists let a
#: passage ranked 2nd by one query and 6th by the other still win.
FUSION_DEPTH = 10
#: RRF weights of the fused mode's queries (stem, stem+options): the stem with its options
#: is the stronger query on the course MCQs (hit@1 0.685 vs 0.603), the stem alone adds recall.
FUSED_WEIGHTS = (1.0, 2.0)
DEFAULT_WINDOW = 2048
#: Tokens kept free after an MCQ prompt for the answer letter.
ANSWER_RESERVE = 8

ScoreFn = Callable[[Any, Any, list[str], list[str]], list[Any]]


@dataclass
class PreparedQuestion:
    """Everything about one question that is decided before the model runs."""

    mcq: MCQ
    prompt: str
    queries: list[str] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)


@dataclass
class Answer:
    """The model's answer to one MCQ and the evidence behind it.

    ``probs`` (softmax over the option letters) and ``mass`` (probability of the option tokens
    under the full vocabulary) come from letter scoring; ``raw`` is the generated text of the
    generate method, whose ``letter`` is None when no letter could be read from it.
    """

    mcq: MCQ
    letter: str | None
    prompt: str
    queries: list[str] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    probs: dict[str, float] | None = None
    mass: float | None = None
    raw: str | None = None

    @property
    def choice(self) -> str | None:
        """The text of the chosen option."""
        if self.letter is None:
            return None
        return self.mcq.choices[self.mcq.letters.index(self.letter)]

    @property
    def confidence(self) -> float | None:
        """Probability of the chosen letter among the options (logits method only)."""
        if self.probs is None or self.letter is None:
            return None
        return self.probs[self.letter]

    @property
    def citations(self) -> list[str]:
        return [cite(p) for p in self.passages]


def context_window(model: Any = None, fallback: int = DEFAULT_WINDOW) -> int:
    """The model's context length in tokens (phi-2: 2048), read from its config.

    Every caller fits prompts to this one number, so eval-mcqa and the app trim the same
    passages.
    """
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return fallback


def pick_shots(mcq: MCQ, pool: Sequence[MCQ], k: int) -> list[MCQ]:
    """K worked examples for one question: same subject first, never the question itself.

    lm-evaluation-harness takes the first K dev-split questions of the subject; pass the dev
    split as the pool (`--shots_from`) to reproduce it exactly.
    """
    if k <= 0:
        return []
    same = [s for s in pool if s.subject == mcq.subject and s != mcq and s.answer is not None]
    if len(same) < k:
        same += [s for s in pool if s.subject != mcq.subject and s.answer is not None][
            : k - len(same)
        ]
    return same[:k]


def retrieval_queries(mcq: MCQ, mode: str = DEFAULT_QUERY_MODE) -> list[str]:
    """The retrieval queries for an MCQ.

    ``stem``: the question alone (the options of wrong answers can pull in passages about
    them); ``stem+options``: the question with its options (the options often carry the key
    terms the stem only refers to); ``fused``: both, their rankings fused by RRF.
    """
    if mode == "stem":
        return [mcq.question]
    if mode == "stem+options":
        return [format_question(mcq)]
    if mode == "fused":
        return [mcq.question, format_question(mcq)]
    raise ValueError(f"query mode must be one of {', '.join(QUERY_MODES)}, got {mode!r}")


def query_weights(mode: str = DEFAULT_QUERY_MODE) -> tuple[float, ...] | None:
    """RRF weights for the queries of `retrieval_queries(mcq, mode)` (None: equal)."""
    return FUSED_WEIGHTS if mode == "fused" else None


def retrieve(
    retriever: Retriever,
    queries: Sequence[str],
    k: int,
    *,
    weights: Sequence[float] | None = None,
) -> list[Passage]:
    """Top-k passages for one question: one query as is, several fused by (weighted) RRF."""
    if len(queries) == 1:
        return list(retriever.retrieve(queries[0], k=k))[:k]
    depth = max(k, FUSION_DEPTH)
    rankings = [retriever.retrieve(q, k=depth) for q in queries]
    return fuse_rankings(rankings, k, weights=weights)


def chat_passages(message: str, retriever: Retriever, k: int = DEFAULT_K) -> list[Passage]:
    """Context for a free chat message: the message itself is the query."""
    return retrieve(retriever, [message], k)


def mcq_prompt(
    mcq: MCQ,
    *,
    passages: Sequence[Passage] | None = None,
    tokenizer: Any = None,
    max_tokens: int = DEFAULT_WINDOW,
    reserve_tokens: int = ANSWER_RESERVE,
    shots: Sequence[MCQ] = (),
    subject_header: bool = True,
) -> str:
    """The prompt for one MCQ: MMLU layout closed-book, the report's RAG template with passages."""
    context = None if passages is None else [p.text for p in passages]
    try:
        return build_mcq_prompt(
            mcq,
            context=context or None,
            tokenizer=tokenizer,
            max_tokens=max_tokens,
            reserve_tokens=reserve_tokens,
            shots=shots,
            subject_header=subject_header,
        )
    except PromptTooLongError as exc:
        where = mcq.source or repr(mcq.question[:60])
        raise PromptTooLongError(f"{where}: {exc}") from exc


def training_example(
    mcq: MCQ,
    *,
    tokenizer: Any = None,
    max_tokens: int = DEFAULT_WINDOW,
    subject_header: bool = True,
) -> dict[str, str]:
    """A prompt/completion pair for train-mcqa: exactly the closed-book prompt the model is
    asked with at evaluation and in the app, and ' X' (the answer letter) as completion."""
    if mcq.answer_letter is None:
        raise ValueError(f"{mcq.source or mcq.question[:60]!r} has no answer to train on")
    prompt = mcq_prompt(
        mcq,
        tokenizer=tokenizer,
        max_tokens=max_tokens,
        reserve_tokens=4,  # the letter and EOS
        subject_header=subject_header,
    )
    return {"prompt": prompt, "completion": f" {mcq.answer_letter}"}


def prepare_mcqs(
    mcqs: Sequence[MCQ],
    tokenizer: Any = None,
    *,
    retriever: Retriever | None = None,
    k: int = DEFAULT_K,
    query_mode: str = DEFAULT_QUERY_MODE,
    shots: int = 0,
    shot_pool: Sequence[MCQ] | None = None,
    max_tokens: int = DEFAULT_WINDOW,
    subject_header: bool = True,
) -> list[PreparedQuestion]:
    """Retrieval and prompt for every question; with no retriever, closed-book prompts."""
    pool = list(shot_pool) if shot_pool is not None else list(mcqs)
    prepared = []
    for mcq in mcqs:
        queries: list[str] = []
        passages: list[Passage] | None = None
        if retriever is not None:
            queries = retrieval_queries(mcq, query_mode)
            passages = retrieve(retriever, queries, k, weights=query_weights(query_mode))
        prompt = mcq_prompt(
            mcq,
            passages=passages,
            tokenizer=tokenizer,
            max_tokens=max_tokens,
            shots=pick_shots(mcq, pool, shots),
            subject_header=subject_header,
        )
        prepared.append(PreparedQuestion(mcq, prompt, queries, list(passages or [])))
    return prepared


def score_prepared(
    model: Any,
    tokenizer: Any,
    prepared: Sequence[PreparedQuestion],
    *,
    method: str = "logits",
    batch_size: int = 16,
    max_new_tokens: int = 8,
    score_fn: ScoreFn | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Answer]:
    """Run the model over prepared questions, ``batch_size`` prompts per forward pass.

    Letter scoring takes per-prompt option letters, so questions with different numbers of
    options share batches, and sorts all prompts by length so little compute goes to padding.
    ``score_fn(model, tokenizer, prompts, letters)`` replaces core's `score_letters` (the app
    routes it through its batching queue). ``progress(n)`` is called after each batch.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    prompts = [p.prompt for p in prepared]
    letters = [p.mcq.letters for p in prepared]
    if method == "generate":
        from stemqa.core.scoring import generate_letters

        generated: list[tuple[str, str | None]] = []
        for start in range(0, len(prepared), batch_size):
            end = start + batch_size
            generated += generate_letters(
                model,
                tokenizer,
                prompts[start:end],
                letters[start:end],
                batch_size=batch_size,
                max_new_tokens=max_new_tokens,
            )
            if progress is not None:
                progress(len(prompts[start:end]))
        return [
            _answer(p, letter, raw=raw)
            for p, (raw, letter) in zip(prepared, generated, strict=True)
        ]
    if score_fn is None:
        from stemqa.core.scoring import score_letters

        scores = score_letters(
            model, tokenizer, prompts, letters, batch_size=batch_size, progress=progress
        )
    else:
        scores = []
        for start in range(0, len(prepared), batch_size):
            end = start + batch_size
            scores += score_fn(model, tokenizer, prompts[start:end], letters[start:end])
            if progress is not None:
                progress(len(prompts[start:end]))
    return [
        _answer(p, s.letter, probs=dict(s.probs), mass=s.mass)
        for p, s in zip(prepared, scores, strict=True)
    ]


def _answer(p: PreparedQuestion, letter: str | None, **scores: Any) -> Answer:
    return Answer(p.mcq, letter, p.prompt, list(p.queries), list(p.passages), **scores)


def answer_mcqs(
    model: Any,
    tokenizer: Any,
    mcqs: Sequence[MCQ],
    *,
    retriever: Retriever | None = None,
    k: int = DEFAULT_K,
    query_mode: str = DEFAULT_QUERY_MODE,
    shots: int = 0,
    shot_pool: Sequence[MCQ] | None = None,
    method: str = "logits",
    batch_size: int = 16,
    max_tokens: int | None = None,
    max_new_tokens: int = 8,
    subject_header: bool = True,
    score_fn: ScoreFn | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Answer]:
    """Answer a batch of MCQs; with a retriever, from the top-k passages (see module doc)."""
    prepared = prepare_mcqs(
        mcqs,
        tokenizer,
        retriever=retriever,
        k=k,
        query_mode=query_mode,
        shots=shots,
        shot_pool=shot_pool,
        max_tokens=max_tokens or context_window(model),
        subject_header=subject_header,
    )
    return score_prepared(
        model,
        tokenizer,
        prepared,
        method=method,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        score_fn=score_fn,
        progress=progress,
    )
