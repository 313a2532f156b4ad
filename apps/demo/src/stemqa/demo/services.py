"""What the tabs share: settings, the one model and the one document index of this app."""

from __future__ import annotations

from dataclasses import dataclass, field

from stemqa.demo.index_service import IndexService
from stemqa.demo.library import Library
from stemqa.demo.model_service import ModelService
from stemqa.demo.settings import Settings


@dataclass
class Services:
    settings: Settings
    model: ModelService
    index: IndexService
    library: Library = field(init=False)  # the shared index plus each caller's private one

    def __post_init__(self) -> None:
        self.library = Library(self.settings, self.index)


def excerpt(text: str, limit: int = 360) -> str:
    """A passage shortened for a table cell; the full text is in the prompt view."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
