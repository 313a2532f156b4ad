"""The page viewer on a real course PDF: the page renders and a cited passage is framed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stemqa.demo.viewer import FRAME, ViewerError, open_passage, render_page

PDF = (
    Path(__file__).resolve().parents[3] / "tests" / "data" / "pdfs" / "PHY102_Electromagnetism.pdf"
)
# A chunk as the index stores it: whitespace normalized, line breaks gone, one space added
# after a full stop ("surface.Since" on the page).
PASSAGE = (
    "where |V | is the volume of V , S(V ) is the boundary of V , and ˆn is the outward unit "
    "normal to that surface. Since this definition is coordinate-free, it shows that the "
    "divergence is the same in any coordinate system."
)


def red_pixels(image) -> int:
    return int((np.asarray(image)[..., :3] == FRAME[:3]).all(axis=-1).sum())


def test_passage_is_found_and_framed_on_its_page() -> None:
    page = render_page(PDF, 1, PASSAGE)
    assert page.found and len(page.boxes) >= 3 and page.page_count == 5
    assert page.image.size[0] > 800  # rendered at 1.5x (595 pt wide)
    assert red_pixels(page.image) > 500  # the frame was drawn
    # the frame sits in the upper part of the page, where the passage is
    top = min(b[3] for b in page.boxes)
    assert top > 600  # PDF points from the bottom of an 842 pt page


def test_unknown_passage_shows_the_page_unmarked_and_bad_pages_say_so() -> None:
    page = render_page(PDF, 1, "entirely unrelated words that appear nowhere on this page")
    assert not page.found and red_pixels(page.image) == 0
    with pytest.raises(ViewerError, match="has no page 9 \\(5 pages\\)"):
        render_page(PDF, 8)


class FakeLibrary:  # only locate() matters here; the real Library is tested elsewhere
    def __init__(self, path):
        self.path = path

    def locate(self, owner, source):
        return self.path


def test_open_passage_messages() -> None:
    record = {"source": PDF.name, "page": 1, "text": PASSAGE, "cite": f"{PDF.name} p. 2"}
    image, message = open_passage(FakeLibrary(PDF), None, [record], 0)
    assert image is not None and "highlighted" in message
    assert open_passage(FakeLibrary(None), None, [record], 0)[1].startswith("✗ The file of")
    assert open_passage(FakeLibrary(PDF), None, [], 0)[1].startswith("✗ No cited passages")
    no_pages = {**record, "page": None, "cite": "notes.md"}
    assert "not a PDF" in open_passage(FakeLibrary(PDF), None, [no_pages], 0)[1]
