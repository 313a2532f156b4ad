"""Micro-batching of MCQA scoring across users: one forward pass for everyone waiting.

Why: letter scoring is one forward pass, and a batch of 16 prompts costs little more than one
on most hardware, while Gradio calls each user's handler on its own thread. A single worker
thread takes every request queued while the model was busy (up to ``max_batch_size`` prompts)
and scores them together, so under load batches form by themselves and a lone user never
waits for a timer (``max_wait_ms`` adds an optional wait to gather more).

Each request keeps its own prompts and gets back exactly its own scores; requests for a model
other than the batch's (a reload happened in between) are scored in their own batch. When a
combined call fails, each request is retried alone, so one user's bad input cannot fail the
others' answers.

ZeroGPU: the scoring function passed in is the `spaces.GPU`-wrapped pure function; the queue,
the thread and the lock stay in this process, as docs/ARCHITECTURE.md requires.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: fn(model, tokenizer, prompts, per-prompt option letters) -> one score per prompt
ScoreFn = Callable[[Any, Any, list[str], list[str]], list[Any]]


@dataclass
class _Request:
    model: Any
    tokenizer: Any
    prompts: list[str]
    letters: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    result: list[Any] | None = None
    error: BaseException | None = None


class ScoreBatcher:
    """Thread-safe ``score(model, tokenizer, prompts, letters)`` that batches across callers."""

    def __init__(
        self,
        fn: ScoreFn,
        *,
        max_batch_size: int = 16,
        max_wait_ms: float = 0.0,
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self._fn = fn
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self._lock = lock if lock is not None else nullcontext()
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._held: _Request | None = None  # a request for another model, first in the next batch
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batch_sizes: list[int] = []  # prompts per forward call, for tests and the status

    def score(
        self, model: Any, tokenizer: Any, prompts: Sequence[str], letters: Sequence[str]
    ) -> list[Any]:
        if len(prompts) != len(letters):
            raise ValueError("score: one option-letter string per prompt")
        request = _Request(model, tokenizer, list(prompts), list(letters))
        if not request.prompts:
            return []
        self._ensure_worker()
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="stemqa-score-batcher", daemon=True
                )
                self._thread.start()

    def _next(self, timeout: float | None) -> _Request | None:
        if self._held is not None:
            request, self._held = self._held, None
            return request
        try:
            return self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _gather(self) -> list[_Request]:
        first = self._held or self._queue.get()
        self._held = None
        batch, size = [first], len(first.prompts)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch_size:
            remaining = deadline - time.monotonic()
            request = self._next(remaining if remaining > 0 else None)
            if request is None:
                break
            if request.model is not first.model or request.tokenizer is not first.tokenizer:
                self._held = request  # another model: it starts the next batch
                break
            if size + len(request.prompts) > self.max_batch_size:
                self._held = request
                break
            batch.append(request)
            size += len(request.prompts)
        return batch

    def _work(self) -> None:
        while True:
            batch = self._gather()
            try:
                self._run(batch)
            except BaseException:  # never let the worker die with callers waiting
                log.exception("score batch failed")
                for request in batch:
                    if not request.done.is_set():
                        request.error = RuntimeError("scoring failed; see the server log")
                        request.done.set()

    def _call(self, requests: list[_Request]) -> list[Any]:
        prompts = [p for r in requests for p in r.prompts]
        letters = [x for r in requests for x in r.letters]
        first = requests[0]
        with self._lock:
            scores = self._fn(first.model, first.tokenizer, prompts, letters)
        self.batch_sizes.append(len(prompts))
        if len(scores) != len(prompts):
            raise RuntimeError(f"scoring returned {len(scores)} scores for {len(prompts)} prompts")
        return scores

    def _run(self, batch: list[_Request]) -> None:
        try:
            scores = self._call(batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done.set()
                return
            for request in batch:  # isolate the failing request
                self._run([request])
            return
        start = 0
        for request in batch:
            end = start + len(request.prompts)
            request.result = scores[start:end]
            start = end
            request.done.set()
