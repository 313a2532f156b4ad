"""OCR of pages without a text layer: real scans (tests/data/scans) and a generated one.

Tesseract is a system binary (Debian's tesseract-ocr): without it these tests skip on a user's
machine and fail in CI (STEMQA_REQUIRE_ALL=1), where .ci/run installs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from stemqa.rag.loading import PdfLoadError, load_pdf
from stemqa.rag.ocr import INSTALL_HINT, ocr_available, word_accuracy

from .conftest import REPO, skip_or_fail

SCANS = REPO / "tests" / "data" / "scans"
#: Words that appear in no course PDF, so a hit can only come from the OCR'd page.
KNOWN_TEXT = [
    "Quokka thermodynamics lecture seven",
    "The zorbulon engine converts heat into work",
    "with an efficiency of forty two percent.",
]


@pytest.fixture(scope="module")
def tesseract() -> None:
    if not ocr_available():
        skip_or_fail(f"Tesseract OCR is not installed ({INSTALL_HINT})")


def make_image_pdf(path: Path, lines: list[str]) -> Path:
    """A one-page PDF that is only an image of text (no text layer), like a scanner makes."""
    image = Image.new("L", (1700, 2200), color=255)  # A4-ish at 200 dpi
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=48)
    for n, line in enumerate(lines):
        draw.text((120, 200 + n * 90), line, fill=0, font=font)
    image.save(path, "PDF", resolution=200.0)
    return path


def test_linn_scan_word_accuracy_meets_the_goal(tesseract):
    pdf = load_pdf(SCANS / "linn.pdf", clean=False)
    assert pdf.n_pages == 1 and pdf.ocr_pages == 1 and pdf.pages[0].ocr
    truth = (SCANS / "linn.txt").read_text(encoding="utf-8")
    accuracy = word_accuracy(pdf.pages[0].text, truth)
    print(f"linn.pdf OCR word accuracy: {accuracy:.3f}")
    assert accuracy >= 0.90


def test_without_an_engine_a_scan_is_reported_with_the_install_hint(tmp_path: Path):
    path = make_image_pdf(tmp_path / "scan.pdf", KNOWN_TEXT)
    with pytest.raises(PdfLoadError) as info:
        load_pdf(path, ocr=False)
    assert str(info.value).startswith(str(path))
    assert (
        "no text layer" in info.value.reason
        and "apt-get install tesseract-ocr" in info.value.reason
    )


def test_scans_are_ingested_marked_counted_and_retrievable(tesseract, tmp_path: Path, wordnet):
    from stemqa.rag import Index

    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("c02-22.pdf", "linn.pdf"):
        (folder / name).write_bytes((SCANS / name).read_bytes())
    make_image_pdf(folder / "generated-scan.pdf", KNOWN_TEXT)
    index = Index(tmp_path / "index")
    report = index.add(folder)
    assert report.files == 3 and not report.skipped, report.summary()
    assert report.ocr_pages == 3 and "3 by OCR" in report.summary()
    metas = index._get_all(["metadatas"])["metadatas"]
    assert metas and all(m["ocr"] is True and m["page_number"] == 1 for m in metas)
    queries = {
        "generated-scan.pdf": "zorbulon engine efficiency",
        "linn.pdf": "LinnSequencer MIDI sequence recorder",
        "c02-22.pdf": "tip-toeing along a path amongst the trees towards the widow's garden",
    }
    for source, query in queries.items():
        for mode in ("bm25", "hybrid"):
            hits = index.query(query, k=1, mode=mode)
            assert hits and hits[0].source == source, (mode, query, hits)
    assert "forty two percent" in index.query("zorbulon", k=1, mode="bm25")[0].text
