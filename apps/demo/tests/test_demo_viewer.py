"""The page viewer: on a real course PDF the page renders and a cited passage is framed; in a
Markdown, HTML or Word file the cited section is shown as escaped text with the passage marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stemqa.demo.viewer import (
    FRAME,
    ViewerError,
    load_section,
    open_passage,
    passage_spans,
    render_page,
    section_html,
)

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


class FakeLibrary:  # only source_file() matters here; the real Library: test_demo_library
    def __init__(self, path, why: str = "The source file of x is not available (gone)."):
        self.path, self.why = path, why

    def source_file(self, owner, source):
        return (self.path, "") if self.path is not None else (None, self.why)


def test_open_passage_messages() -> None:
    record = {"source": PDF.name, "page": 1, "text": PASSAGE, "cite": f"{PDF.name} p. 2"}
    image, shown, message = open_passage(FakeLibrary(PDF), None, [record], 0)
    assert shown == ""
    assert image is not None and "highlighted" in message
    assert open_passage(FakeLibrary(None), None, [record], 0) == (
        None,
        "",
        "✗ The source file of x is not available (gone).",
    )
    assert open_passage(FakeLibrary(PDF), None, [], 0)[2].startswith("✗ No cited passages")
    no_pages = {**record, "page": None, "cite": "notes"}
    assert "no page or section" in open_passage(FakeLibrary(PDF), None, [no_pages], 0)[2]


def test_section_html_escapes_everything_but_the_mark() -> None:
    text = 'Before <script>alert("x")</script> the  passage\nspans lines & ends. After.'
    spans = passage_spans(text, "the passage spans lines & ends.")  # other whitespace
    assert [text[a:b] for a, b in spans] == ["the  passage\nspans lines & ends."]
    shown = section_html("<b>notes.md</b> § 1", text, spans)
    assert "<script>" not in shown and "&lt;script&gt;alert(&quot;x&quot;)" in shown
    assert "&lt;b&gt;notes.md&lt;/b&gt;" in shown
    assert "<mark>the  passage\nspans lines &amp; ends.</mark>" in shown
    assert shown.count("<mark>") == 1
    # a passage changed by cleaning: the runs that are still there are marked, merged
    runs = passage_spans(text, "Before alert the passage spans lines & ends. After.")
    assert runs and all(text[a:b].strip() for a, b in runs)
    assert passage_spans(text, "nothing like it anywhere in this section at all") == []


def record_for(path: Path, section: int, passage: str) -> dict:
    title, _text = load_section(path, section)
    return {"source": path.name, "page": section, "text": passage, "cite": f"{path.name} {title}"}


@pytest.mark.parametrize(
    ("kind", "section", "other", "passage", "title"),
    [
        ("md", 1, 0, "the path difference is a whole number of", "§ Young&#x27;s double slit"),
        ("html", 0, 1, "entropy of an isolated system never decreases", "§ Entropy"),
        ("docx", 1, 0, "as s goes to zero, when the poles of s F(s)", "§ Final value theorem"),
    ],
)
def test_a_section_of_each_format_is_shown_with_the_passage_marked(
    doc_files, kind, section, other, passage, title
) -> None:
    path = doc_files[kind]
    image, shown, message = open_passage(
        FakeLibrary(path), None, [record_for(path, section, passage)], 0
    )
    assert image is None and "highlighted in its section" in message
    assert title in shown and f"<mark>{passage}</mark>" in shown.replace("\n", " ")
    if kind == "md":  # the file's own markup is shown as text, not rendered
        assert "&lt;half&gt;" in shown and "<half>" not in shown
    # another section of the same file holds no mark for this passage
    elsewhere = open_passage(FakeLibrary(path), None, [record_for(path, other, passage)], 0)
    assert "<mark>" not in elsewhere[1] and "not found in the section" in elsewhere[2]


def test_a_missing_section_or_unreadable_file_is_one_line(doc_files) -> None:
    path = doc_files["md"]
    message = open_passage(FakeLibrary(path), None, [{**record_for(path, 0, "x"), "page": 9}], 0)
    assert message[2].startswith("✗ optics.md has no section 10 (3 sections)")
    broken = doc_files["bad_html"]
    record = {"source": broken.name, "page": 0, "text": "x", "cite": broken.name}
    _image, shown, message = open_passage(FakeLibrary(broken), None, [record], 0)
    assert shown == ""
    assert message == "✗ scripts.html could not be read (no text in this html file)."
