"""OCR for PDF pages without a text layer: pypdfium2 renders, Tesseract (via pytesseract) reads.

Tesseract is a real, offline, CPU engine that Debian packages (`tesseract-ocr`, with English
data), so CI and a Hugging Face Space (packages.txt) get it from apt, and nothing is downloaded
at run time. pytesseract is only a thin wrapper around that binary: when the binary is missing,
OCR is off and scans are reported with the install command instead of being ingested empty.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

#: Rendering resolution: Tesseract's accuracy drops sharply below ~200 dpi, and 300 is what
#: its documentation recommends; higher costs time without helping typical scans.
OCR_DPI = 300
OCR_LANG = os.environ.get("STEMQA_OCR_LANG", "eng")
INSTALL_HINT = (
    "install Tesseract for OCR (Debian/Ubuntu: `apt-get install tesseract-ocr`; macOS: "
    "`brew install tesseract`) or add a text layer first (e.g. `ocrmypdf in.pdf out.pdf`)"
)


class OcrError(RuntimeError):
    """Tesseract ran but failed on a page (the message says why)."""


@functools.cache
def tesseract_binary() -> str | None:
    """Path of the tesseract executable (STEMQA_TESSERACT overrides PATH), or None."""
    override = os.environ.get("STEMQA_TESSERACT")
    if override:
        return override if Path(override).is_file() else None
    return shutil.which("tesseract")


def ocr_available() -> bool:
    """True when OCR can run here: pytesseract importable and the tesseract binary present."""
    if tesseract_binary() is None:
        return False
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return False
    return True


#: OCR results by (file sha256, page, dpi, language): OCR costs seconds per page, and the same
#: file is often read twice in one process (a re-upload, a resumed ingest, a duplicate check).
_CACHE: dict[tuple[str, int, int, str], str] = {}
_CACHE_PAGES = 512


def ocr_pdf_pages(
    path: Path, pages: list[int], *, sha256: str | None = None, password: str = ""
) -> dict[int, str]:
    """OCR text of the given 0-based pages of a PDF, rendered at OCR_DPI in grayscale."""
    import pypdfium2 as pdfium
    import pytesseract

    out: dict[int, str] = {}
    if sha256 is not None:
        out = {i: _CACHE[key] for i in pages if (key := (sha256, i, OCR_DPI, OCR_LANG)) in _CACHE}
    todo = [i for i in pages if i not in out]
    if not todo:
        return out
    pytesseract.pytesseract.tesseract_cmd = tesseract_binary() or "tesseract"
    document = pdfium.PdfDocument(str(path), password=password)
    try:
        for index in todo:
            bitmap = document[index].render(scale=OCR_DPI / 72, grayscale=True)
            image = bitmap.to_pil()
            try:
                out[index] = pytesseract.image_to_string(image, lang=OCR_LANG)
            except pytesseract.TesseractError as exc:
                raise OcrError(f"tesseract failed on page {index + 1}: {exc}") from exc
            if sha256 is not None:
                if len(_CACHE) >= _CACHE_PAGES:
                    _CACHE.pop(next(iter(_CACHE)))
                _CACHE[(sha256, index, OCR_DPI, OCR_LANG)] = out[index]
    finally:
        document.close()
    return out


def word_accuracy(recognized: str, truth: str) -> float:
    """Share of the ground truth's words that OCR got right, in order (1 - word error rate).

    Computed from a word-level edit distance (difflib's matching blocks), case-sensitive,
    punctuation kept: the usual OCR word-accuracy measure.
    """
    import difflib

    got, want = recognized.split(), truth.split()
    if not want:
        return 1.0 if not got else 0.0
    matcher = difflib.SequenceMatcher(a=want, b=got, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return matched / len(want)
