"""What the Space's app.py runs: the same app as `uv run demo`, configured from Space variables.

A Space has no command line, so everything comes from environment variables: the STEMQA_*
variables of stemqa.demo.settings (set them as Space variables, e.g. STEMQA_MODEL,
STEMQA_ADAPTER, STEMQA_INDEX), plus the defaults that differ on a Space, applied only where the
matching STEMQA_* variable is unset:

- host/port: the Hub sets GRADIO_SERVER_NAME/GRADIO_SERVER_PORT and expects 0.0.0.0:7860,
  while the local demo listens on 127.0.0.1 only.
- data folder: /data/stemqa when the Space has persistent storage (mounted at /data), so the
  document index survives restarts; else the demo's default (lost when the Space restarts).
- quantization: `none` on ZeroGPU, where no GPU is attached while the model loads, so the
  demo's `auto` cannot pick NF4 reliably; the H200 slice has room for phi-2 in bf16/fp32.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from stemqa.space.zerogpu import gpu_decorator, on_zero_gpu

if TYPE_CHECKING:
    import gradio as gr

    from stemqa.demo.settings import Settings

log = logging.getLogger(__name__)

PERSISTENT_STORAGE = Path("/data")


def on_space(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a Hugging Face Space (the Hub sets SPACE_ID there)."""
    return bool((os.environ if environ is None else environ).get("SPACE_ID"))


def space_overrides(
    environ: Mapping[str, str] | None = None, *, storage: Path = PERSISTENT_STORAGE
) -> dict[str, object]:
    """Settings overrides for a Space, only for keys whose STEMQA_* variable is unset."""
    from stemqa.demo.settings import ENV_VARS

    environ = os.environ if environ is None else environ

    def unset(key: str) -> bool:
        return not environ.get(ENV_VARS[key], "").strip()

    overrides: dict[str, object] = {}
    if unset("host"):
        if environ.get("GRADIO_SERVER_NAME", "").strip():
            overrides["host"] = environ["GRADIO_SERVER_NAME"].strip()
        elif on_space(environ):
            overrides["host"] = "0.0.0.0"
    if unset("port") and environ.get("GRADIO_SERVER_PORT", "").strip():
        try:
            overrides["port"] = int(environ["GRADIO_SERVER_PORT"])
        except ValueError:
            raise ValueError(
                f"GRADIO_SERVER_PORT={environ['GRADIO_SERVER_PORT']!r} is not a port number"
            ) from None
    if unset("data_dir") and on_space(environ) and storage.is_dir() and os.access(storage, os.W_OK):
        overrides["data_dir"] = storage / "stemqa"
    if unset("quantization") and on_zero_gpu(environ):
        overrides["quantization"] = "none"
    return overrides


def space_settings(environ: Mapping[str, str] | None = None) -> Settings:
    from stemqa.demo.settings import Settings

    return Settings.from_env(environ, **space_overrides(environ))


def create_app(settings: Settings | None = None) -> gr.Blocks:
    """build_app(settings) with ZeroGPU's decorator when the demo accepts one (gpu_decorator=)."""
    # On ZeroGPU this imports `spaces`, which must come before torch touches CUDA.
    decorator = gpu_decorator(duration=120)
    from stemqa.demo.app import build_app

    settings = settings or space_settings()
    if "gpu_decorator" in inspect.signature(build_app).parameters:
        return build_app(settings, gpu_decorator=decorator)
    if on_zero_gpu():
        raise RuntimeError(
            "This Space runs on ZeroGPU but stemqa.demo.app.build_app takes no gpu_decorator, so "
            "no function would get a GPU. Deploy a stemqa version whose demo has the hook, or "
            "pick CPU or a dedicated GPU in the Space's hardware settings."
        )
    log.info("stemqa.demo.app.build_app has no gpu_decorator hook; fine off ZeroGPU")
    return build_app(settings)


def launch(app: gr.Blocks, settings: Settings | None = None) -> None:
    """Launch exactly as `uv run demo` does (theme, css, upload limit, queue)."""
    from stemqa.demo.app import launch as demo_launch

    demo_launch(app, settings or app.stemqa_services.settings)  # type: ignore[attr-defined]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = space_settings()
    log.info(
        "stemqa Space: model %s%s, data folder %s, ZeroGPU %s",
        settings.model,
        f" + adapter {settings.adapter}" if settings.adapter else "",
        settings.data_dir,
        "on" if on_zero_gpu() else "off",
    )
    launch(create_app(settings), settings)
