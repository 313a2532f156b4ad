"""ModelService with the real tiny model: background loading, failure messages, streaming, stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemqa.demo.model_service import FAILED, READY, ModelService, ModelUnavailableError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wrapped_calls() -> list[str]:
    return []


@pytest.fixture(scope="module")
def service(tiny_model_dir: Path, wrapped_calls: list[str]) -> ModelService:
    def gpu_decorator(fn):
        def wrapper(*args, **kwargs):
            wrapped_calls.append(fn.__name__)
            return fn(*args, **kwargs)

        return wrapper

    svc = ModelService(gpu_decorator=gpu_decorator)
    svc.load_async(str(tiny_model_dir), None, "auto")
    state = svc.wait(timeout=240)
    assert state.status == READY, state.message
    return svc


def test_missing_model_fails_with_actionable_message(tmp_path: Path) -> None:
    svc = ModelService()
    with pytest.raises(ModelUnavailableError, match="No model is loaded"):
        svc.require()
    missing = tmp_path / "no-such-model"
    svc.load_async(str(missing), None, "none")
    state = svc.wait(timeout=120)
    assert state.status == FAILED
    assert "no-such-model" in state.message
    with pytest.raises(ModelUnavailableError) as err:
        svc.require()
    assert "no-such-model" in str(err.value) and "Model tab" in str(err.value)


def test_ready_state_describes_model(service: ModelService, tiny_model_dir: Path) -> None:
    state = service.state()
    assert state.status == READY and state.quantization == "none"  # auto on CPU
    assert str(tiny_model_dir) in state.message and state.seconds is not None


def test_score_goes_through_gpu_decorator(service: ModelService, wrapped_calls: list[str]) -> None:
    from stemqa.core import MCQ, build_mcq_prompt

    mcq = MCQ(question="Which is a vector?", choices=("mass", "velocity", "energy"))
    _model, tokenizer = service.require()
    prompt = build_mcq_prompt(mcq, tokenizer=tokenizer)
    [score] = service.score([prompt], mcq.letters)
    assert score.letter in "ABC"
    assert abs(sum(score.probs.values()) - 1) < 1e-4
    assert "score_prompts" in wrapped_calls


def test_stream_grows_and_stop_ends_it_early(
    service: ModelService, wrapped_calls: list[str]
) -> None:
    full = list(service.stream("Entropy is", max_new_tokens=40, session="a"))
    assert len(full) >= 3
    assert all(full[i].startswith(full[i - 1]) for i in range(1, len(full)))  # it grows
    assert "generate_pieces" in wrapped_calls

    stopped = []
    for text in service.stream("Entropy is", max_new_tokens=40, session="b"):
        stopped.append(text)
        if len(stopped) == 2:
            assert service.stop("b") is True
            assert service.stop("a") is False  # another session's stop finds nothing to stop
    assert len(stopped) == 2 < len(full)
    # the lock was released: the model serves the next request at once
    again = list(service.stream("Entropy is", max_new_tokens=4, session="c"))
    assert again


def test_failed_reload_keeps_status_ready_with_the_old_model(
    service: ModelService, tiny_model_dir: Path, tmp_path: Path
) -> None:
    service.load_async(str(tmp_path / "no-such-model"), None, "none")
    state = service.wait(timeout=60)
    assert state.status == READY and state.model == str(tiny_model_dir)  # the old one answers
    assert state.message.startswith(f"ready (old model {tiny_model_dir}), reload failed: ")
    assert "no-such-model was not found" in state.reload_error
    assert "Repo id must be" not in state.message
    assert service.require()[0] is not None
