"""What the tabs share: settings, the one model and the one document index of this app."""

from __future__ import annotations

from dataclasses import dataclass

from stemqa.demo.index_service import IndexService
from stemqa.demo.model_service import ModelService
from stemqa.demo.settings import Settings


@dataclass
class Services:
    settings: Settings
    model: ModelService
    index: IndexService


def page_label(passage: object) -> str:
    """The printed page label when the PDF has one, else the 1-based page number."""
    label = getattr(passage, "page_label", None)
    if label:
        return str(label)
    page = getattr(passage, "page", None)
    return str(page + 1) if page is not None else ""


def cite(passage: object) -> str:
    """`file.pdf p. 3`: how a passage is named under answers."""
    page = page_label(passage)
    return f"{passage.source} p. {page}" if page else str(passage.source)  # type: ignore[attr-defined]


def excerpt(text: str, limit: int = 360) -> str:
    """A passage shortened for a table cell; the full text is in the prompt view."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
