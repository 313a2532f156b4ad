"""Page-text cleaning on real course-PDF pages and on the debris patterns it targets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from stemqa.rag.cleaning import clean_page_text, debris_stats, normalize_text
from stemqa.rag.loading import load_pdf, quiet_pypdf

THERMO = "Foundations_of_Thermodynamics.pdf"


@pytest.fixture(scope="module")
def thermo_raw(pdf_dir: Path) -> list[str]:
    with quiet_pypdf():
        reader = PdfReader(pdf_dir / THERMO)
        return [reader.pages[i].extract_text() for i in range(6)]


def test_diagram_debris_is_dropped_and_prose_kept(thermo_raw):
    raw = thermo_raw[3]  # the first law page: a pV diagram drawn in LaTeX picture mode
    assert re.search(r"^6p$\n^-$\n^V$\n^'$\n^&$\n^\$$\n^%$", raw, re.M), "fixture changed"
    cleaned = clean_page_text(raw)
    lines = cleaned.splitlines()
    assert not [line for line in lines if line.strip() in {"'", "&", "$", "%"}]
    assert "QQQQ" not in cleaned
    # Every sentence of the page survives, with its words intact.
    assert "The total energy of a body is called internal energy." in cleaned
    assert "internal energy satisfies" in cleaned  # "satisﬁes" ligature -> "fi"
    assert "ﬁ" not in cleaned and "ﬃ" not in cleaned


def test_one_glyph_formula_lines_become_one_readable_line(thermo_raw):
    cleaned = clean_page_text(thermo_raw[5])
    assert "because ∮ C ¯dQ T = ∑ i ∮ Ci ¯dQ" in cleaned  # was 11 lines of 1-3 glyphs
    assert "/G" not in cleaned  # pypdf's unmapped-glyph names (diagram labels)
    assert not cleaned.rstrip().endswith("6")  # the printed page number footer
    before, after = debris_stats([thermo_raw[5]]), debris_stats([cleaned])
    assert after["fragment_lines"] < before["fragment_lines"] // 4
    assert after["glyph_names"] == 0 < before["glyph_names"]


def test_hyphenated_line_breaks_whitespace_and_invisibles():
    text = "ther-\nmodynamic  equilib\u00adrium\u00a0state\r\nnon-\nLinear \ufb01eld\x0c\n\n\n\nend"
    cleaned = clean_page_text(text)
    assert "thermodynamic equilibrium state" in cleaned
    assert "non-\nLinear" in cleaned  # a capital after the hyphen is not a broken word
    assert "field" in cleaned and "\n\n\n" not in cleaned and "\x0c" not in cleaned
    assert normalize_text("x² + y²  =  r²") == "x² + y² = r²"  # superscripts kept (no NFKC)


def test_cleaned_text_is_what_the_loader_returns(pdf_dir: Path):
    cleaned = load_pdf(pdf_dir / "PHY102_Electromagnetism.pdf")
    raw = load_pdf(pdf_dir / "PHY102_Electromagnetism.pdf", clean=False)
    assert [p.page for p in cleaned.pages] == [p.page for p in raw.pages]
    assert cleaned.pages[0].text == clean_page_text(raw.pages[0].text)
    assert "Maxwell" in cleaned.pages[3].text
