"""Markdown, text, HTML and Word files through the same ingest path as PDFs; bad files of each
format, an AES-encrypted PDF and a PDF with printed page labels in one batch."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from stemqa.rag.formats import load_text_document
from stemqa.rag.loading import PdfLoadError, load_document

from .test_rag_loading import make_labelled_pdf

MARKDOWN = """# Heat engines

Some introduction.

## The Carnot cycle

A Carnot engine between reservoirs works with reversible steps.

```python
# not a heading: a comment in a code fence
efficiency = 1 - t_cold / t_hot
```

## Refrigerators

A refrigerator is a heat engine run backwards; its coefficient of performance matters.
"""

HTML = """<!doctype html><html><head><title>Lecture 9</title>
<style>h2 { color: red }</style><script>var hidden = "scriptword";</script></head>
<body><p>Opening remarks about phase transitions.</p>
<h2>Latent heat</h2><p>Melting ice absorbs latent heat at constant temperature.</p>
<h2>Critical point</h2><p>Above the critical point liquid and vapour are indistinguishable.</p>
</body></html>"""


def write_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Fourier series", level=1)
    document.add_paragraph("Any periodic signal is a sum of sines and cosines.")
    document.add_heading("Gibbs phenomenon", level=2)
    document.add_paragraph("Near a jump, partial sums overshoot by about nine percent.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "overshoot"
    table.rows[0].cells[1].text = "0.0895"
    document.save(str(path))
    return path


def write_text(path: Path) -> Path:
    paragraphs = [f"Paragraph {n} about diffusion and random walks. " * 12 for n in range(12)]
    paragraphs[7] = "The Einstein relation links the diffusion constant to mobility."
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return path


@pytest.fixture()
def good_docs(tmp_path: Path, pdf_dir: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "engines.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "lecture9.html").write_text(HTML, encoding="utf-8")
    write_docx(folder / "fourier.docx")
    write_text(folder / "diffusion.txt")
    return folder


def test_markdown_sections_follow_headings_not_code_comments(good_docs: Path):
    doc = load_document(good_docs / "engines.md")
    assert doc.kind == "markdown"
    assert [p.section for p in doc.pages] == ["Heat engines", "The Carnot cycle", "Refrigerators"]
    assert [p.display_label for p in doc.pages] == [
        "§ Heat engines",
        "§ The Carnot cycle",
        "§ Refrigerators",
    ]
    assert "efficiency = 1 - t_cold / t_hot" in doc.pages[1].text


def test_html_sections_skip_scripts_and_styles(good_docs: Path):
    doc = load_document(good_docs / "lecture9.html")
    assert [p.section for p in doc.pages] == ["Lecture 9", "Latent heat", "Critical point"]
    text = "\n".join(p.text for p in doc.pages)
    assert "scriptword" not in text and "color: red" not in text
    assert "Melting ice absorbs latent heat" in doc.pages[1].text


def test_docx_sections_from_heading_styles_with_tables(good_docs: Path):
    doc = load_document(good_docs / "fourier.docx")
    assert [p.section for p in doc.pages] == ["Fourier series", "Gibbs phenomenon"]
    assert "overshoot | 0.0895" in doc.pages[1].text


def test_plain_text_sections_are_line_ranges(good_docs: Path):
    doc = load_document(good_docs / "diffusion.txt")
    assert len(doc.pages) > 1
    labels = [p.display_label for p in doc.pages]
    assert labels[0].startswith("lines 1–")
    hit = next(p for p in doc.pages if "Einstein relation" in p.text)
    first, last = (int(x) for x in hit.display_label.removeprefix("lines ").split("–"))
    lines = (good_docs / "diffusion.txt").read_text().splitlines()
    assert any("Einstein relation" in line for line in lines[first - 1 : last])


BAD = {
    "bad.txt": (b"caf\xe9 au lait\n", "not UTF-8 text (invalid byte 0xe9 at offset 3)"),
    "bad.md": (b"# Title\x00\x00\x01binary", "binary data, not text"),
    "bad.html": (b"<html><body><script>only()</script></body></html>", "no text in this html"),
    "bad.docx": (b"PK\x03\x04 this is not really a zip", "not a valid .docx file"),
    "empty.md": (b"", "empty file (0 bytes)"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_of_each_format_is_one_clear_line(tmp_path: Path, name: str):
    data, reason = BAD[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(PdfLoadError) as info:
        load_text_document(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert reason in info.value.reason


def test_one_batch_of_every_format_good_and_bad(good_docs: Path, pdf_dir: Path, tmp_path, wordnet):
    """Bad files are skipped with their reason; everything else is ingested and retrievable."""
    from stemqa.rag import Index

    for name, (data, _reason) in BAD.items():
        (good_docs / name).write_bytes(data)
    writer = PdfWriter(clone_from=PdfReader(pdf_dir / "PHY102_Electromagnetism.pdf"))
    writer.encrypt(user_password="", owner_password="own", algorithm="AES-256")
    with (good_docs / "aes.pdf").open("wb") as handle:  # issue 15: used to stop the batch
        writer.write(handle)
    (good_docs / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    make_labelled_pdf(pdf_dir, good_docs / "labelled.pdf")

    index = Index(tmp_path / "index")
    report = index.add(good_docs)
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(skipped) == {*BAD, "broken.pdf"}, report.summary()
    assert report.files == 6, report.summary()

    def top(query: str, mode: str = "bm25"):
        hits = index.query(query, k=1, mode=mode)
        assert hits, query
        return hits[0]

    assert top("Gibbs phenomenon overshoot").source == "fourier.docx"
    assert top("Gibbs phenomenon overshoot").page_label == "§ Gibbs phenomenon"
    assert top("melting ice latent heat", "hybrid").source == "lecture9.html"
    assert top("refrigerator coefficient of performance").page_label == "§ Refrigerators"
    assert top("Einstein relation mobility").source == "diffusion.txt"
    assert top("Maxwell equations divergence curl", "hybrid").source in {"aes.pdf", "labelled.pdf"}
    boltzmann = top("Boltzmann distribution Gibbs distribution probability measure")
    assert boltzmann.source == "labelled.pdf"
    # 0-based page 3 is printed as page "2" (front matter i, ii): the citation says 2.
    assert (boltzmann.page, boltzmann.page_number, boltzmann.page_label) == (3, 4, "2")
    metas = index._get_all(["metadatas"], where={"source": "labelled.pdf"})["metadatas"]
    assert {(m["page"], m["page_number"], m["page_label"]) for m in metas} >= {
        (0, 1, "i"),
        (1, 2, "ii"),
        (2, 3, "1"),
    }
