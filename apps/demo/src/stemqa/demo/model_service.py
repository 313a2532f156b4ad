"""One model shared by every user of the app, loaded in the background.

Why a service object: loading phi-2 takes minutes (or fails: offline, out of memory, bad id),
and the documents tab must work meanwhile, so loading runs on a thread and every model-using
handler asks `require()` for the model, getting a message that says what failed and how to fix
it instead of a stack trace. Inference holds one lock: a single model instance is not safe to
drive from several threads at once, and Gradio runs handlers on a thread pool. MCQA scoring
goes through a micro-batching queue (batching.py), so concurrent users share forward passes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from stemqa.demo.batching import ScoreBatcher
from stemqa.demo.model_source import OFFLINE_HINT, ModelSourceError, check_model_source

log = logging.getLogger(__name__)

NOT_LOADED, LOADING, READY, FAILED = "not loaded", "loading", "ready", "failed"


@dataclass(frozen=True)
class ModelState:
    status: str
    model: str | None = None
    adapter: str | None = None
    quantization: str | None = None
    message: str = ""
    seconds: float | None = None  # load time once ready
    device: str | None = None
    # set when a new load failed while this (older) model keeps answering
    reload_error: str | None = None


class ModelUnavailableError(RuntimeError):
    """No model can answer now; the message is meant for the user as is."""


def resolve_quantization(quantization: str) -> str:
    """`auto` means 4-bit NF4 on a CUDA GPU and full precision on CPU, where NF4 is slow."""
    if quantization != "auto":
        return quantization
    import torch

    return "nf4" if torch.cuda.is_available() else "none"


def explain_load_error(exc: BaseException, model: str, adapter: str | None) -> str:
    """A message naming what failed and how to fix it, for the model and MCQA/chat tabs."""
    from stemqa.core import ModelLoadError

    what = f"{model!r}" + (f" with adapter {adapter!r}" if adapter else "")
    if isinstance(exc, ModelLoadError | ModelSourceError):  # already says what and how to fix
        return str(exc)
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        fix = (
            "Not enough memory. Choose quantization nf4 (needs a CUDA GPU), a smaller model, "
            "or close other programs."
        )
    elif isinstance(exc, OSError | ValueError):
        fix = f"Check the model id or folder. {OFFLINE_HINT}"
    else:
        fix = "See the server log for the full traceback."
    return f"Could not load {what}: {text}. {fix}"


class _StopOnEvent:
    """A generation stopping criterion that ends generation when the user presses stop."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )


def score_prompts(
    model: Any, tokenizer: Any, prompts: list[str], options: str | list[str]
) -> list[Any]:
    """Letter scores for prompts: the GPU part of an MCQA answer (picklable in and out).

    ``options`` is one letter string per prompt (or one for all), so a batch can mix questions
    with different numbers of options; the whole batch is one forward pass.
    """
    from stemqa.core import score_letters

    return score_letters(model, tokenizer, prompts, options=options, batch_size=len(prompts))


def generate_pieces(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> Iterator[str]:
    """Greedy generation yielded piece by piece; closing the generator stops generation.

    generate() runs on a thread that feeds a TextIteratorStreamer; a stopping criterion
    watches an event that this generator sets when it is closed (Stop, Clear, a cancelled
    event), so the thread ends within one token instead of running to max_new_tokens.
    """
    from transformers import StoppingCriteriaList, TextIteratorStreamer

    stop = threading.Event()
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            model.generate(
                **inputs,
                streamer=streamer,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList([_StopOnEvent(stop)]),
            )
        except BaseException as exc:
            errors.append(exc)
            log.exception("generation failed")
        finally:
            streamer.end()  # wake the consumer even when generate() failed

    worker = threading.Thread(target=run, name="stemqa-generate", daemon=True)
    worker.start()
    try:
        yield from streamer
    finally:
        stop.set()
        worker.join(timeout=30)
    if errors:
        raise RuntimeError(f"Generation failed: {type(errors[0]).__name__}: {errors[0]}")


class ModelService:
    def __init__(
        self,
        gpu_decorator: Callable[[Any], Any] | None = None,
        *,
        max_batch_size: int = 16,
        max_wait_ms: float = 0.0,
    ) -> None:
        # ZeroGPU's spaces.GPU (or identity) wraps only the pure model-running functions.
        decorate = gpu_decorator or (lambda fn: fn)
        self._score_fn = decorate(score_prompts)
        self._generate_fn = decorate(generate_pieces)
        self._state = ModelState(NOT_LOADED, message="No model loaded yet.")
        self._state_lock = threading.Lock()
        self._infer_lock = threading.Lock()
        self.batcher = ScoreBatcher(
            self._score_fn,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            lock=self._infer_lock,
        )
        self._model: Any = None
        self._tokenizer: Any = None
        self._loaded_name: str | None = None  # what answers now, while another loads or failed
        self._loaded_state: ModelState | None = None  # and its READY state
        self._generation = 0  # bumps on every load request, so a stale load never wins
        self._done = threading.Event()
        self._stops: dict[str, threading.Event] = {}

    # -- loading ---------------------------------------------------------------------------
    def state(self) -> ModelState:
        with self._state_lock:
            return self._state

    def load_async(
        self, model: str, adapter: str | None = None, quantization: str = "auto"
    ) -> None:
        """Start loading on a daemon thread and return at once; the old model serves meanwhile."""
        model = model.strip()
        adapter = adapter.strip() if adapter and adapter.strip() else None
        with self._state_lock:
            self._generation += 1
            generation = self._generation
            self._state = ModelState(
                LOADING,
                model=model,
                adapter=adapter,
                quantization=quantization,
                message=f"Loading {model}" + (f" + adapter {adapter}" if adapter else "") + " …",
            )
            self._done.clear()
        thread = threading.Thread(
            target=self._load,
            args=(generation, model, adapter, quantization),
            name="stemqa-model-loader",
            daemon=True,
        )
        thread.start()

    def _load(self, generation: int, model: str, adapter: str | None, quantization: str) -> None:
        from stemqa.core import ModelLoadError, load_model

        start = time.perf_counter()
        try:
            check_model_source(model, adapter)  # a missing folder or no Hub: fail in seconds
            quant = resolve_quantization(quantization)
            loaded, tokenizer = load_model(model, adapter=adapter, quantization=quant)
        except BaseException as exc:  # any failure must reach the UI, not kill the app
            log.warning("model load failed: %s", exc, exc_info=not isinstance(exc, ModelLoadError))
            state = ModelState(
                FAILED,
                model=model,
                adapter=adapter,
                quantization=quantization,
                message=explain_load_error(exc, model, adapter),
            )
            loaded = tokenizer = None
        else:
            seconds = time.perf_counter() - start
            device = str(getattr(loaded, "device", "cpu"))
            state = ModelState(
                READY,
                model=model,
                adapter=adapter,
                quantization=quant,
                message=f"Ready: {model}"
                + (f" + {adapter}" if adapter else "")
                + f" ({quant}, {device})",
                seconds=seconds,
                device=device,
            )
        with self._state_lock:
            if generation != self._generation:
                return  # a newer load was requested meanwhile
            if loaded is None and self._loaded_state is not None:
                # The old model still answers: the app is ready, the reload is what failed.
                old = self._loaded_state
                state = replace(
                    old,
                    message=f"ready (old model {self._loaded_name}), reload failed: "
                    + state.message,
                    reload_error=state.message,
                )
            if loaded is not None:
                self._loaded_state = state
                self._loaded_name = model + (f" + {adapter}" if adapter else "")
                with self._infer_lock:  # never swap the model under a running request
                    self._model, self._tokenizer = loaded, tokenizer
            self._state = state
            self._done.set()

    def wait(self, timeout: float | None = None) -> ModelState:
        self._done.wait(timeout)
        return self.state()

    def require(self) -> tuple[Any, Any]:
        """The model and tokenizer, or ModelUnavailableError saying why not."""
        state = self.state()
        with self._state_lock:
            model, tokenizer = self._model, self._tokenizer
        if state.status == READY and model is not None:
            return model, tokenizer
        if model is not None:  # a new model is loading or failed to load: the old one still serves
            return model, tokenizer
        if state.status == LOADING:
            raise ModelUnavailableError(
                f"The model is still loading ({state.model}); try again in a moment. "
                "The Model tab shows its progress. Documents and search already work."
            )
        if state.status == FAILED:
            raise ModelUnavailableError(
                state.message
                + " Load another model in the Model tab; documents and search still work."
            )
        raise ModelUnavailableError(
            "No model is loaded. Choose one in the Model tab and press Load."
        )

    # -- inference -------------------------------------------------------------------------
    def score_fn(
        self, model: Any, tokenizer: Any, prompts: Sequence[str], letters: Sequence[str]
    ) -> list[Any]:
        """The answer engine's ``score_fn``: letter scores through the batching queue."""
        return self.batcher.score(model, tokenizer, prompts, letters)

    def score(self, prompts: Sequence[str], options: str | Sequence[str]) -> list[Any]:
        """Letter scores of prompts with the loaded model (batched with other callers)."""
        model, tokenizer = self.require()
        letters = [options] * len(prompts) if isinstance(options, str) else list(options)
        return self.batcher.score(model, tokenizer, prompts, letters)

    def stream(self, prompt: str, *, max_new_tokens: int, session: str) -> Iterator[str]:
        """Yield the growing answer; `stop(session)` or closing this generator ends it.

        The lock is taken here, in the caller's process, and the GPU part (`generate_pieces`)
        only computes: ZeroGPU runs it in a worker process where our lock and stop flags
        do not exist.
        """
        model, tokenizer = self.require()
        stop = threading.Event()
        with self._state_lock:
            self._stops[session] = stop
        text = ""
        try:
            with self._infer_lock:
                pieces = self._generate_fn(model, tokenizer, prompt, max_new_tokens)
                try:
                    for piece in pieces:
                        text += piece
                        yield text
                        if stop.is_set():
                            break
                finally:
                    pieces.close()  # ends generation within one token
        finally:
            with self._state_lock:
                if self._stops.get(session) is stop:
                    del self._stops[session]

    def stop(self, session: str) -> bool:
        """Stop the generation of one browser session only (never another user's)."""
        with self._state_lock:
            event = self._stops.get(session)
        if event is None:
            return False
        event.set()
        return True
