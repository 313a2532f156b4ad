"""What every tab does when an input is wrong or the model or index isn't there: say it inline.

A raised `gr.Error` becomes a toast that fades and a red "Error" badge on every output of the
event. Instead, handlers raise `InlineError(field, message)`; the tab catches it, writes the
message into the Markdown slot under the input it concerns (`field`), and clears the outputs
that would otherwise keep showing the previous answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stemqa.demo.index_service import IndexUnavailableError
from stemqa.demo.model_service import ModelUnavailableError
from stemqa.demo.services import Services

#: Fields an InlineError may name: the tab has a message slot for each one it uses.
QUESTION, OPTIONS, MESSAGE, MODEL, DOCUMENTS = "question", "options", "message", "model", "docs"


class InlineError(ValueError):
    """A problem to show next to one input (`field`), in the UI's words."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def inline(message: str) -> str:
    """How a problem reads in its slot."""
    return f"✗ {message}"


def require_index(services: Services) -> Any:
    """The opened shared index, or InlineError('docs') saying why it isn't there."""
    try:
        return services.index.get()
    except IndexUnavailableError as exc:
        raise InlineError(DOCUMENTS, str(exc)) from None


def require_model(services: Services) -> tuple[Any, Any]:
    """(model, tokenizer), or InlineError('model') saying why none can answer."""
    try:
        return services.model.require()
    except ModelUnavailableError as exc:
        raise InlineError(MODEL, str(exc)) from None


def slots(layout: Sequence[Sequence[str]], error: InlineError | None) -> list[str]:
    """One value per message slot (each slot shows the fields it lists): the error in its
    field's slot, empty elsewhere, so an old message never stays under a new answer."""
    return [inline(str(error)) if error is not None and error.field in f else "" for f in layout]
