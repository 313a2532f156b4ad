"""The Gradio app: four tabs over one shared model and one document index.

`build_app` returns the Blocks and starts loading the model and opening the index on
background threads, so the page is usable at once. Launch options that Gradio 6 moved out of
the Blocks constructor (theme, css) and the queue limits are applied by `launch`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import gradio as gr

from stemqa.demo.index_service import IndexService
from stemqa.demo.model_service import LOADING, ModelService
from stemqa.demo.services import Services
from stemqa.demo.settings import Settings
from stemqa.demo.tabs import chat, documents, evaluate, mcqa
from stemqa.demo.tabs import model as model_tab

log = logging.getLogger(__name__)

CSS = """
.stemqa-answer { text-align: center; padding: 0.5rem 0; }
.stemqa-letter { font-size: 5rem; font-weight: 700; line-height: 1; color: var(--color-accent); }
.stemqa-empty { font-size: 5rem; font-weight: 700; color: var(--body-text-color-subdued); }
.stemqa-choice { font-size: 1.1rem; margin-top: 0.25rem; }
.stemqa-confidence { color: var(--body-text-color-subdued); font-size: 0.9rem; }
.stemqa-not-sure { border: 2px dashed var(--color-red-500, #ef4444); border-radius: 0.5rem; }
.stemqa-not-sure .stemqa-letter { opacity: 0.45; }
.stemqa-not-sure .stemqa-confidence { color: var(--color-red-500, #ef4444); font-weight: 600; }
"""
THEME = "soft"


def build_app(
    settings: Settings,
    *,
    services: Services | None = None,
    gpu_decorator: Callable[[Any], Any] | None = None,
) -> gr.Blocks:
    """The app for `settings`; the model starts loading and the index opening right away.

    gpu_decorator: applied to the functions that run the model (letter scoring, generation),
    e.g. ZeroGPU's `spaces.GPU` on a Space; identity when None.
    """
    # Gradio's upload cache goes under the data folder unless the user chose a place for it.
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GRADIO_TEMP_DIR", str(settings.cache_dir))
    if services is None:
        model = ModelService(gpu_decorator, max_batch_size=settings.max_batch_size)
        services = Services(settings, model, IndexService(settings))
    services.index.open_async()
    services.library.start_janitor()  # expired session libraries go at start and periodically
    if settings.load_model_on_start and settings.model:
        services.model.load_async(settings.model, settings.adapter, settings.quantization)

    # Gradio's own upload cache cleanup: hourly, files older than a day (ours are removed once
    # ingested; this catches uploads nobody pressed "Add" for).
    with gr.Blocks(title="stemqa", fill_width=False, delete_cache=(3600, 86400)) as demo:
        gr.Markdown(
            "# stemqa\nA small open LLM answering STEM multiple-choice questions, "
            "optionally grounded in your PDFs."
        )
        if settings.oauth_enabled:  # on a Space with hf_oauth: a persistent library per user
            gr.LoginButton(elem_id="hf-login")
        banner = gr.Markdown(model_tab.banner_markdown(services), elem_id="status-banner")
        with gr.Tabs():
            with gr.Tab("MCQA", id="mcqa", elem_id="tab-mcqa"):
                mcqa.build(services)
            with gr.Tab("Evaluate", id="evaluate", elem_id="tab-evaluate"):
                evaluate.build(services)
            with gr.Tab("Chat", id="chat", elem_id="tab-chat"):
                chat.build(services)
            with gr.Tab("Documents", id="documents", elem_id="tab-documents"):
                documents.build(services, demo)
            with gr.Tab("Model", id="model", elem_id="tab-model"):
                model_status = model_tab.build(services, demo)

        # Poll the loading status while something loads; the timer switches itself off after.
        timer = gr.Timer(1.0)

        def poll():
            busy = services.model.state().status == LOADING or services.index.opening
            return (
                model_tab.banner_markdown(services),
                model_tab.status_markdown(services),
                gr.Timer(active=busy),
            )

        timer.tick(
            poll,
            outputs=[banner, model_status, timer],
            show_progress="hidden",
            queue=False,
            api_visibility="private",
        )
        demo.load(
            poll, outputs=[banner, model_status, timer], queue=False, api_visibility="private"
        )
        # A new load from the Model tab must restart the polling.
        model_status.change(
            lambda: gr.Timer(active=True), outputs=timer, queue=False, api_visibility="private"
        )

        def status() -> dict:
            """Model and index status, for health checks and scripts waiting for the model."""
            state = services.model.state()
            return {
                "model": state.status,
                "model_name": state.model,
                "adapter": state.adapter,
                "message": state.message,
                "reload_error": state.reload_error,  # a failed reload while the old model answers
                "index": services.index.status(),
                "index_state": services.index.state(),
            }

        gr.api(status, api_name="status", queue=False)

    demo.queue(max_size=settings.queue_size, default_concurrency_limit=2)
    demo.stemqa_services = services  # type: ignore[attr-defined]  # for tests and the Space
    return demo


def launch(demo: gr.Blocks, settings: Settings, **kwargs: object) -> None:
    """Launch with the theme, css and upload limit (Gradio 6 takes these in launch())."""
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        max_file_size=f"{settings.max_upload_mb}mb",
        theme=THEME,
        css=CSS,
        show_error=True,
        # Run history would keep every input in the browser, the Hub token field included.
        run_history=False,
        auth=settings.auth_pairs(),
        auth_message="Sign in: each user has a library of their own documents.",
        **kwargs,  # type: ignore[arg-type]
    )
