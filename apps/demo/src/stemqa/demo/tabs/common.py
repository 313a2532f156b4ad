"""What every tab does when the shared model or index isn't there: show why, in the UI.

The services raise their own errors with the reason and the fix; Gradio shows a `gr.Error`
as a toast, so the tabs translate here instead of each repeating the try/except.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from stemqa.demo.index_service import IndexUnavailableError
from stemqa.demo.model_service import ModelUnavailableError
from stemqa.demo.services import Services


def require_index(services: Services, *, sticky: bool = False) -> Any:
    """The opened index; `sticky` keeps the message up until closed (no auto-dismiss)."""
    try:
        return services.index.get()
    except IndexUnavailableError as exc:
        raise gr.Error(str(exc), **({"duration": None} if sticky else {})) from None


def require_model(services: Services) -> tuple[Any, Any]:
    """(model, tokenizer); a model that can't answer stays on screen until closed."""
    try:
        return services.model.require()
    except ModelUnavailableError as exc:
        raise gr.Error(str(exc), duration=None) from None
