"""ZeroGPU support: `spaces.GPU` around the functions that use the GPU, only on a ZeroGPU Space.

Why a decorator factory instead of importing `spaces` in the app: `spaces` is installed on every
Gradio Space (the builder adds it) but only does something on ZeroGPU hardware, which it learns
from SPACES_ZERO_GPU; elsewhere the app should not depend on it at all. So the demo takes a plain
`gpu_decorator` callable (identity by default) and this module supplies the real one on ZeroGPU.

ZeroGPU runs a decorated function while a GPU is attached (in a worker process), so the function
must be synchronous (a plain function or a generator: `spaces.GPU` rejects coroutines), return
picklable values (CPU tensors, strings, numbers) and not rely on mutating module state. The check
for coroutines runs everywhere, so a bad hook fails in local tests, not first on the Space.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

ZERO_GPU_ENV = "SPACES_ZERO_GPU"  # set to "true" by the Hub on ZeroGPU hardware


class ZeroGPUError(RuntimeError):
    """A function cannot run on ZeroGPU, or ZeroGPU is on but `spaces` is missing."""


def on_zero_gpu(environ: Mapping[str, str] | None = None) -> bool:
    """True on ZeroGPU hardware; read the same way the `spaces` package reads it."""
    value = (os.environ if environ is None else environ).get(ZERO_GPU_ENV)
    return value is not None and value.strip().lower() in ("1", "t", "true")


def _check_sync(fn: Callable[..., Any]) -> None:
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        name = getattr(fn, "__qualname__", repr(fn))
        raise ZeroGPUError(
            f"{name} is async: ZeroGPU (spaces.GPU) only runs plain functions and generators; "
            "make the GPU-using part a sync function and call it from the handler"
        )


def gpu_decorator(
    *, duration: int | Callable[..., int] | None = None, environ: Mapping[str, str] | None = None
) -> Callable[[F], F]:
    """A decorator for GPU-using functions: `spaces.GPU(duration=...)` on ZeroGPU, else identity.

    duration: seconds of GPU a call may take (ZeroGPU's default is 60), or a function of the
    same arguments returning it.
    """
    if not on_zero_gpu(environ):

        def identity(fn: F) -> F:
            _check_sync(fn)
            return fn

        return identity

    try:
        import spaces  # only ever imported on ZeroGPU hardware
    except ImportError as exc:
        raise ZeroGPUError(
            f"{ZERO_GPU_ENV} is set but the `spaces` package is not importable ({exc}); "
            "Gradio Spaces install it automatically, elsewhere `pip install spaces` or unset "
            f"{ZERO_GPU_ENV}"
        ) from exc

    zero = spaces.GPU(duration=duration)

    def wrap(fn: F) -> F:
        _check_sync(fn)
        return zero(fn)

    return wrap
