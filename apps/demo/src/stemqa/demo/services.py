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


def page_label(passage: object) -> str:
    """The printed page label when the PDF has one, else the 1-based page number."""
    from stemqa.core.retrieval import display_page

    return display_page(passage)  # type: ignore[arg-type]


def cite(passage: object) -> str:
    """`file.pdf p. 3`: core's one citation label."""
    from stemqa.core.retrieval import cite as core_cite

    return core_cite(passage)  # type: ignore[arg-type]


def excerpt(text: str, limit: int = 360) -> str:
    """A passage shortened for a table cell; the full text is in the prompt view."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
