"""ZeroGPU decorator: identity off ZeroGPU, spaces.GPU on it, async functions refused everywhere.

ZeroGPU hardware cannot exist here (it is the Hub's), so the on-ZeroGPU case uses a stand-in
`spaces` module that records how it was called; everything else is the real code path.
"""

from __future__ import annotations

import sys
import types

import pytest

from stemqa.space.zerogpu import ZeroGPUError, gpu_decorator, on_zero_gpu


def score(prompt: str) -> str:
    return prompt.upper()


def stream(prompt: str):
    yield from prompt


async def async_score(prompt: str) -> str:
    return prompt


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("True", True), ("false", False), ("", False)],
)
def test_on_zero_gpu_reads_spaces_zero_gpu(value: str, expected: bool) -> None:
    assert on_zero_gpu({"SPACES_ZERO_GPU": value}) is expected
    assert on_zero_gpu({}) is False


def test_off_zero_gpu_the_decorator_returns_the_same_function() -> None:
    decorate = gpu_decorator(environ={})
    assert decorate(score) is score
    assert decorate(stream) is stream
    assert decorate(score)("abc") == "ABC"


def test_async_functions_are_refused_even_off_zero_gpu() -> None:
    with pytest.raises(ZeroGPUError, match="async_score is async"):
        gpu_decorator(environ={})(async_score)


def test_on_zero_gpu_functions_go_through_spaces_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []

    def GPU(task=None, *, duration=None, size=None):  # the real signature of spaces.GPU
        calls.append(("GPU", duration))

        def attach(fn):
            def on_gpu(*args, **kwargs):
                calls.append(("run", fn.__name__))
                return fn(*args, **kwargs)

            return on_gpu

        return attach

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=GPU))
    decorate = gpu_decorator(duration=45, environ={"SPACES_ZERO_GPU": "true"})
    wrapped = decorate(score)
    assert wrapped is not score
    assert wrapped("xy") == "XY"
    assert calls == [("GPU", 45), ("run", "score")]
    with pytest.raises(ZeroGPUError):
        decorate(async_score)


def test_on_zero_gpu_without_the_spaces_package_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "spaces", None)  # makes `import spaces` raise ImportError
    with pytest.raises(ZeroGPUError, match="`spaces` package is not importable"):
        gpu_decorator(environ={"SPACES_ZERO_GPU": "true"})
