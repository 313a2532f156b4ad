"""The Space's settings and app construction: Space defaults only where STEMQA_* is unset."""

from __future__ import annotations

from pathlib import Path

import pytest

import stemqa.demo.app
from stemqa.space import entry
from stemqa.space.entry import space_overrides, space_settings


def test_outside_a_space_nothing_changes(tmp_path: Path) -> None:
    assert space_overrides({}, storage=tmp_path) == {}


def test_on_a_space_the_app_listens_where_the_hub_expects(tmp_path: Path) -> None:
    env = {"SPACE_ID": "me/stemqa", "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7860"}
    assert space_overrides(env, storage=tmp_path / "none") == {"host": "0.0.0.0", "port": 7860}
    assert space_overrides({"SPACE_ID": "me/stemqa"}, storage=tmp_path / "none") == {
        "host": "0.0.0.0"
    }


def test_persistent_storage_holds_the_data_folder(tmp_path: Path) -> None:
    overrides = space_overrides({"SPACE_ID": "me/stemqa"}, storage=tmp_path)
    assert overrides["data_dir"] == tmp_path / "stemqa"


def test_zero_gpu_loads_without_quantization_unless_told_otherwise(tmp_path: Path) -> None:
    assert space_overrides({"SPACES_ZERO_GPU": "true"}, storage=tmp_path)["quantization"] == "none"
    assert "quantization" not in space_overrides(
        {"SPACES_ZERO_GPU": "true", "STEMQA_QUANTIZATION": "nf4"}, storage=tmp_path
    )


def test_stemqa_variables_win_over_space_defaults(tmp_path: Path) -> None:
    env = {
        "SPACE_ID": "me/stemqa",
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "STEMQA_HOST": "127.0.0.2",
        "STEMQA_PORT": "9000",
        "STEMQA_DATA_DIR": str(tmp_path / "mine"),
        "STEMQA_MODEL": "me/model",
        "STEMQA_ADAPTER": "me/adapter",
    }
    assert space_overrides(env, storage=tmp_path) == {}
    settings = space_settings(env)
    assert (settings.host, settings.port, settings.data_dir) == (
        "127.0.0.2",
        9000,
        tmp_path / "mine",
    )
    assert (settings.model, settings.adapter) == ("me/model", "me/adapter")


def test_a_bad_port_names_its_variable() -> None:
    with pytest.raises(ValueError, match="GRADIO_SERVER_PORT='x'"):
        space_overrides({"GRADIO_SERVER_PORT": "x"})


def test_create_app_passes_the_gpu_decorator_when_the_demo_takes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, object] = {}

    def build_app(settings, *, services=None, gpu_decorator=None):
        seen["decorator"] = gpu_decorator
        return "app"

    monkeypatch.setattr(stemqa.demo.app, "build_app", build_app)
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert entry.create_app(space_settings({})) == "app"
    decorator = seen["decorator"]
    assert callable(decorator) and decorator(len) is len  # identity off ZeroGPU


def test_on_zero_gpu_a_demo_without_the_hook_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    monkeypatch.setitem(
        sys.modules, "spaces", types.SimpleNamespace(GPU=lambda **kw: lambda fn: fn)
    )
    monkeypatch.setattr(stemqa.demo.app, "build_app", lambda settings, *, services=None: "app")
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    with pytest.raises(RuntimeError, match="takes no gpu_decorator"):
        entry.create_app(space_settings({}))
    monkeypatch.delenv("SPACES_ZERO_GPU")
    assert entry.create_app(space_settings({})) == "app"  # fine off ZeroGPU


def test_on_zero_gpu_the_real_demo_wraps_its_model_functions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real build_app, on "ZeroGPU": a stand-in `spaces` module (the hardware is the Hub's)
    records which functions spaces.GPU was applied to."""
    import sys
    import types

    from stemqa.demo import model_service

    wrapped: list[str] = []

    def GPU(task=None, *, duration=None, size=None):
        def attach(fn):
            wrapped.append(fn.__name__)
            return fn

        return attach

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=GPU))
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    settings = space_settings({"SPACES_ZERO_GPU": "true", "STEMQA_DATA_DIR": str(tmp_path)})
    assert settings.quantization == "none"
    settings.load_model_on_start = False
    app = entry.create_app(settings)
    assert sorted(wrapped) == sorted(
        [model_service.score_prompts.__name__, model_service.generate_pieces.__name__]
    )
    app.close()
