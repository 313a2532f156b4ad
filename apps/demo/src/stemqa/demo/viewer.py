"""The page viewer: a cited passage shown on its rendered PDF page, highlighted.

Users would rather look at the page than read a table of excerpts. pypdfium2 renders the page
to an image and its text page finds where the passage sits. A chunk's text is not always a
verbatim run of the page's text (cleaning joins hyphenated words and merges lines), so the
passage is searched as consecutive runs of a few words; every run found is highlighted and
the region they cover is framed. When nothing is found (a scanned page, OCR text), the page
is still shown, unmarked, and the message says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

log = logging.getLogger(__name__)

#: Words per searched run: long enough to be unique on a page, short enough to survive the
#: cleaning that changed a few words of the chunk.
RUN_WORDS = 6
SCALE = 1.5  # 108 dpi: readable, and a page image stays well under 1 MB
HIGHLIGHT = (255, 214, 0, 90)
FRAME = (220, 38, 38, 255)

Box = tuple[float, float, float, float]  # left, bottom, right, top in PDF points


class ViewerError(ValueError):
    """The page can't be shown; the message is meant for the user as is."""


@dataclass
class RenderedPage:
    image: Image.Image
    boxes: list[Box]  # the passage's text boxes found on the page (PDF points)
    page_count: int

    @property
    def found(self) -> bool:
        return bool(self.boxes)


def passage_boxes(textpage: Any, text: str, run_words: int = RUN_WORDS) -> list[Box]:
    """Text rectangles of `text` on a pypdfium2 PdfTextPage, found run by run."""
    words = text.split()
    if not words:
        return []
    runs = [words[i : i + run_words] for i in range(0, len(words), run_words)]
    if len(runs) > 1 and len(runs[-1]) < 3:  # a 1-2 word tail would match anywhere
        runs[-2].extend(runs.pop())
    boxes: list[Box] = []
    while runs:
        run = runs.pop(0)
        occurrence = textpage.search(" ".join(run), match_case=False).get_next()
        if occurrence is None:
            if len(run) >= 6:  # one changed word spoils a run: try its halves
                half = len(run) // 2
                runs[:0] = [run[:half], run[half:]]
            continue
        start, count = occurrence
        boxes.extend(textpage.get_rect(j) for j in range(textpage.count_rects(start, count)))
    return boxes


def render_page(pdf_path: str | Path, page: int, passage: str = "", *, scale: float = SCALE):
    """The 0-based `page` of a PDF as an image, with `passage` highlighted and framed."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(pdf_path))
    except (pdfium.PdfiumError, OSError) as exc:
        raise ViewerError(f"{Path(pdf_path).name} could not be opened ({exc}).") from None
    try:
        if not 0 <= page < len(pdf):
            raise ViewerError(f"{Path(pdf_path).name} has no page {page + 1} ({len(pdf)} pages).")
        pdf_page = pdf[page]
        left, _bottom, _right, top = pdf_page.get_cropbox()
        image = pdf_page.render(scale=scale).to_pil().convert("RGBA")
        textpage = pdf_page.get_textpage()
        boxes = passage_boxes(textpage, passage) if passage else []
        count = len(pdf)
    finally:
        pdf.close()
    if boxes:
        _mark(image, boxes, left, top, scale)
    return RenderedPage(image.convert("RGB"), boxes, count)


def _mark(image: Image.Image, boxes: list[Box], left: float, top: float, scale: float) -> None:
    """Yellow over each text box, a red frame around them all (image y grows downwards)."""

    def px(box: Box) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = box
        return ((x0 - left) * scale, (top - y1) * scale, (x1 - left) * scale, (top - y0) * scale)

    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    rects = [px(b) for b in boxes]
    for rect in rects:
        draw.rectangle(rect, fill=HIGHLIGHT)
    pad = 4 * scale
    frame = (
        min(r[0] for r in rects) - pad,
        min(r[1] for r in rects) - pad,
        max(r[2] for r in rects) + pad,
        max(r[3] for r in rects) + pad,
    )
    draw.rectangle(frame, outline=FRAME, width=max(2, round(2 * scale)))
    image.alpha_composite(overlay)
