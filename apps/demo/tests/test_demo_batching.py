"""The MCQA micro-batching queue: concurrent callers share forward passes, each gets its own
scores, a reload never mixes models, and one failing request does not fail the others."""

from __future__ import annotations

import threading
import time

import pytest

from stemqa.core import MCQ
from stemqa.core.answering import prepare_mcqs
from stemqa.core.scoring import score_letters
from stemqa.demo.batching import ScoreBatcher
from stemqa.demo.model_service import score_prompts

QUESTIONS = [
    MCQ(f"Question {i}: which value is largest for case {i}?", tuple(f"v{j}" for j in range(n)))
    for i, n in enumerate([4, 3, 5, 2, 4, 4, 3, 6, 4, 2, 4, 5])
]


@pytest.fixture(scope="module")
def tiny(tiny_cpu):
    return tiny_cpu


def _concurrently(fn, args_list):
    results: list = [None] * len(args_list)
    errors: list = [None] * len(args_list)
    barrier = threading.Barrier(len(args_list))

    def run(i, args):
        barrier.wait()
        try:
            results[i] = fn(*args)
        except Exception as exc:
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_concurrent_callers_share_batches_and_get_their_own_scores(tiny) -> None:
    model, tokenizer = tiny
    prompts = [p.prompt for p in prepare_mcqs(QUESTIONS, tokenizer)]
    letters = [m.letters for m in QUESTIONS]
    alone = [
        score_letters(model, tokenizer, [p], [x])[0] for p, x in zip(prompts, letters, strict=True)
    ]

    calls = []

    def slow_score(m, t, ps, ls):  # a slow model: requests pile up while it runs
        calls.append(len(ps))
        time.sleep(0.05)
        return score_prompts(m, t, ps, ls)

    batcher = ScoreBatcher(slow_score, max_batch_size=8)
    results, errors = _concurrently(
        lambda p, x: batcher.score(model, tokenizer, [p], [x])[0],
        list(zip(prompts, letters, strict=True)),
    )
    assert errors == [None] * len(prompts)
    for got, ref, mcq in zip(results, alone, QUESTIONS, strict=True):
        assert got.letter == ref.letter and set(got.probs) == set(mcq.letters)
        assert got.probs == pytest.approx(ref.probs, abs=1e-6)
    assert sum(calls) == len(prompts) and max(calls) > 1  # batched
    assert max(calls) <= 8 and len(calls) < len(prompts)


def test_batch_size_one_scores_one_at_a_time(tiny) -> None:
    model, tokenizer = tiny
    prompts = [p.prompt for p in prepare_mcqs(QUESTIONS[:4], tokenizer)]
    batcher = ScoreBatcher(score_prompts, max_batch_size=1)
    _concurrently(
        lambda p, x: batcher.score(model, tokenizer, [p], [x]),
        [(p, m.letters) for p, m in zip(prompts, QUESTIONS, strict=False)],
    )
    assert batcher.batch_sizes == [1, 1, 1, 1]


def test_requests_for_another_model_are_never_mixed() -> None:
    seen = []

    def fake(m, t, ps, ls):
        seen.append((m, len(ps)))
        time.sleep(0.02)
        return [f"{m}:{p}" for p in ps]

    batcher = ScoreBatcher(fake, max_batch_size=16)
    args = [("old" if i % 2 else "new", "tok", [f"p{i}"], ["AB"]) for i in range(10)]
    results, errors = _concurrently(batcher.score, args)
    assert errors == [None] * 10
    assert [r[0] for r in results] == [f"{a[0]}:{a[2][0]}" for a in args]
    assert all(m in ("old", "new") for m, _ in seen)


def test_a_failing_request_does_not_fail_the_others() -> None:
    def fake(m, t, ps, ls):
        time.sleep(0.02)
        if "bad" in ps:
            raise ValueError("this prompt is too long for the model")
        return [p.upper() for p in ps]

    batcher = ScoreBatcher(fake, max_batch_size=16)
    args = [("m", "t", ["bad" if i == 3 else f"p{i}"], ["AB"]) for i in range(8)]
    results, errors = _concurrently(batcher.score, args)
    assert isinstance(errors[3], ValueError) and "too long" in str(errors[3])
    assert [r[0] for i, r in enumerate(results) if i != 3] == [f"P{i}" for i in range(8) if i != 3]
