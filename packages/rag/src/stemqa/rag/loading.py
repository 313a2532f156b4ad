"""Document discovery and page-by-page text extraction with errors that name the file.

Same semantics as LangChain's PyPDFDirectoryLoader (one record per page, 0-based `page`, the
printed `page_label`, `source`), plus what users need: cleaned text (cleaning.py), OCR for
pages without a text layer (ocr.py), and the 1-based page number a viewer opens. Every way a
file can be bad becomes a `PdfLoadError` with an actionable reason, so one bad file never stops
an ingest of many: `load_pdf` and `load_document` raise nothing else (KeyboardInterrupt aside).
Other formats (.txt, .md, .html, .docx) go through formats.py into the same records, with a
section heading as the locator.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PdfReadWarning

from stemqa.rag.cleaning import clean_page_text

PDF_SUFFIX = ".pdf"
#: Suffixes picked up when a folder is given (files named explicitly are always tried).
DOCUMENT_SUFFIXES = (".pdf", ".txt", ".md", ".markdown", ".html", ".htm", ".docx")
_HASH_BLOCK = 1 << 20
#: Text extractors compared in docs/BENCHMARKS.md ("Page text"): on the course PDFs, cleaned
#: pdfium text retrieved as well as or better than cleaned pypdf text (R@5 0.968 vs 0.947 at
#: 1000/200; R@1 equal at 500/100) and extracts 5-6x faster (6-9 s vs 40-53 s for 166 pages
#: on the shared box). Its cost: TeX's big operators come out as letters (∫ -> Z, ∑ -> X,
#: ∮ -> H), where pypdf keeps the symbols; `extractor="pypdf"` remains available.
EXTRACTORS = ("pypdf", "pdfium")
DEFAULT_EXTRACTOR = "pdfium"
#: A page with fewer visible characters than this has no usable text layer (a scan).
MIN_TEXT_CHARS = 20


class PdfLoadError(Exception):
    """A file that could not be ingested; `str()` starts with the file name."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class PageText:
    """One page (or, for formats without pages, one section) of a document."""

    page: int  # 0-based index (LangChain's convention; what `--json` and metadata keep)
    label: str | None  # the printed page label when the PDF defines one; a heading for sections
    text: str
    ocr: bool = False  # the text came from OCR, not from a text layer
    section: str | None = None  # the heading, for documents without pages

    @property
    def page_number(self) -> int:
        """1-based page number: what a PDF viewer's page box takes."""
        return self.page + 1

    @property
    def display_label(self) -> str:
        """What a reader looks for: the printed label when there is one, else the number."""
        return self.label or str(self.page_number)


@dataclass
class LoadedPdf:
    """A loaded document (PDF or another format; the name is kept for compatibility)."""

    path: Path
    source: str
    sha256: str
    n_pages: int
    pages: list[PageText]
    warnings: list[str] = field(default_factory=list)
    kind: str = "pdf"

    @property
    def ocr_pages(self) -> int:
        return sum(page.ocr for page in self.pages)


LoadedDocument = LoadedPdf


@contextlib.contextmanager
def quiet_pypdf(level: int = logging.ERROR) -> Iterator[None]:
    """Silence pypdf's per-glyph font warnings (hundreds per page on some real PDFs).

    Only pypdf's own logger is turned down, for the duration of the load; our errors are
    exceptions and our logger is untouched.
    """
    logger = logging.getLogger("pypdf")
    previous = logger.level
    logger.setLevel(level)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PdfReadWarning)
            yield
    finally:
        logger.setLevel(previous)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def discover(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str]], list[PdfLoadError]]:
    """Expand files and folders (recursively, DOCUMENT_SUFFIXES) into (file, source name) pairs.

    The source name is the path relative to the folder given (just the file name for a file
    given directly): stable across machines, and what users type for `--delete`.
    Files named explicitly are kept whatever their suffix, so an unsupported file gets a clear
    error.
    """
    found: list[tuple[Path, str]] = []
    problems: list[PdfLoadError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            docs = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES
            )
            if not docs:
                problems.append(
                    PdfLoadError(
                        path, f"folder contains no documents ({', '.join(DOCUMENT_SUFFIXES)})"
                    )
                )
            found.extend((p, p.relative_to(path).as_posix()) for p in docs)
        elif path.is_file():
            found.append((path, path.name))
        else:
            problems.append(PdfLoadError(path, "no such file or folder"))
    return found, problems


def _page_labels(reader: PdfReader, n_pages: int) -> list[str | None]:
    """Printed labels only when the PDF defines them (pypdf otherwise invents 1, 2, 3…)."""
    try:
        root = reader.trailer["/Root"]
        if "/PageLabels" not in root:
            return [None] * n_pages
        labels = reader.page_labels
    except Exception:  # a broken label tree must not cost us the text
        return [None] * n_pages
    return [labels[i] if i < len(labels) else None for i in range(n_pages)]


def _pdfium_texts(path: Path, n_pages: int) -> list[str]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(path), password="")
    try:
        return [document[i].get_textpage().get_text_bounded() for i in range(n_pages)]
    finally:
        document.close()


def _check_file(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PdfLoadError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if size == 0:
        raise PdfLoadError(path, "empty file (0 bytes)")


def _open_reader(path: Path) -> tuple[PdfReader, int]:
    """A decrypted reader and its page count, or PdfLoadError saying what is wrong."""
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:
                raise PdfLoadError(
                    path,
                    f"encrypted PDF ({exc}); install 'cryptography' or save a decrypted copy "
                    "(e.g. `qpdf --decrypt in.pdf out.pdf`)",
                ) from exc
            if opened == PasswordType.NOT_DECRYPTED:
                raise PdfLoadError(
                    path,
                    "encrypted PDF that needs a password; save a decrypted copy first "
                    "(e.g. `qpdf --password=… --decrypt in.pdf out.pdf`)",
                )
        return reader, len(reader.pages)
    except PdfLoadError:
        raise
    except FileNotDecryptedError as exc:
        raise PdfLoadError(path, f"encrypted PDF that needs a password ({exc})") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise PdfLoadError(path, f"corrupt or truncated PDF ({type(exc).__name__}: {exc})") from exc


def load_pdf(
    path: Path,
    source: str | None = None,
    *,
    sha256: str | None = None,
    max_pages: int | None = None,
    extractor: str = DEFAULT_EXTRACTOR,
    clean: bool = True,
    ocr: bool | None = None,
) -> LoadedPdf:
    """Read every page's text; raise PdfLoadError (only) for anything that makes it unusable.

    `ocr=None` (default) OCRs pages without a text layer when Tesseract is installed; `True`
    requires it, `False` never OCRs. Without OCR, scanned pages are reported in `warnings` (or,
    when no page has text, as the error) with how to install an engine.
    """
    try:
        return _load_pdf(path, source, sha256, max_pages, extractor, clean, ocr)
    except PdfLoadError:
        raise
    except Exception as exc:  # one bad file must never stop a batch: name it and go on
        raise PdfLoadError(
            path, f"could not read this PDF ({type(exc).__name__}: {exc}); is it damaged?"
        ) from exc


def _load_pdf(
    path: Path,
    source: str | None,
    sha256: str | None,
    max_pages: int | None,
    extractor: str,
    clean: bool,
    ocr: bool | None,
) -> LoadedPdf:
    from stemqa.rag.ocr import INSTALL_HINT, OcrError, ocr_available, ocr_pdf_pages

    if extractor not in EXTRACTORS:
        raise PdfLoadError(path, f"unknown text extractor {extractor!r}; choose {EXTRACTORS}")
    source = source or path.name
    _check_file(path)
    with path.open("rb") as handle:
        head = handle.read(1024)
    if b"%PDF-" not in head:
        kind = "text" if head[:64].isascii() else "binary data"
        raise PdfLoadError(path, f"not a PDF (no %PDF- header; starts with {kind})")
    sha256 = sha256 or file_sha256(path)
    with quiet_pypdf():
        reader, n_pages = _open_reader(path)
        if n_pages == 0:
            raise PdfLoadError(path, "PDF has no pages (corrupt or truncated?)")
        if max_pages is not None and n_pages > max_pages:
            raise PdfLoadError(
                path,
                f"{n_pages} pages is more than the limit of {max_pages}; split the file or "
                "raise the limit (--max-pages)",
            )
        labels = _page_labels(reader, n_pages)
        texts: dict[int, str] = {}
        problems: list[str] = []
        pdfium = _pdfium_texts(path, n_pages) if extractor == "pdfium" else None
        for index in range(n_pages):
            try:
                texts[index] = pdfium[index] if pdfium else reader.pages[index].extract_text() or ""
            except Exception as exc:  # pypdf raises many types on damaged content streams
                problems.append(
                    f"{source}: page {index + 1} unreadable ({type(exc).__name__}: {exc})"
                )
    blank = [i for i, text in texts.items() if len("".join(text.split())) < MIN_TEXT_CHARS]
    use_ocr = ocr_available() if ocr is None else ocr
    recognized: dict[int, str] = {}
    if blank and use_ocr:
        if not ocr_available():
            raise PdfLoadError(
                path, f"OCR was requested but Tesseract is not available; {INSTALL_HINT}"
            )
        try:
            recognized = ocr_pdf_pages(path, blank, sha256=sha256)
        except OcrError as exc:
            problems.append(f"{source}: {exc}")
        recognized = {i: t for i, t in recognized.items() if t.strip()}
    elif blank and len(blank) < len(texts):
        shown = ", ".join(str(i + 1) for i in blank[:10]) + (" …" if len(blank) > 10 else "")
        problems.append(
            f"{source}: page(s) {shown} have no text layer and were skipped; {INSTALL_HINT}"
        )
    pages: list[PageText] = []
    for index in sorted(texts):
        text, from_ocr = (recognized[index], True) if index in recognized else (texts[index], False)
        if clean:
            text = clean_page_text(text)
        if text.strip():
            pages.append(PageText(index, labels[index], text, ocr=from_ocr))
    if not pages:
        if problems and len(problems) >= n_pages:
            raise PdfLoadError(path, f"corrupt PDF: none of its {n_pages} pages could be read")
        if use_ocr:
            raise PdfLoadError(
                path,
                f"no text layer and no text found by OCR on any of its {n_pages} page(s) "
                "(blank pages?)",
            )
        raise PdfLoadError(
            path, f"no text layer on any of its {n_pages} page(s) (a scan?); {INSTALL_HINT}"
        )
    return LoadedPdf(path, source, sha256, n_pages, pages, problems)


def load_document(
    path: Path,
    source: str | None = None,
    *,
    sha256: str | None = None,
    max_pages: int | None = None,
    **pdf_options,
) -> LoadedPdf:
    """Any supported document (by suffix; unknown suffixes are tried as PDF for a clear error)."""
    from stemqa.rag.formats import TEXT_LOADERS, load_text_document

    if path.suffix.lower() in TEXT_LOADERS:
        return load_text_document(path, source, sha256=sha256)
    return load_pdf(path, source, sha256=sha256, max_pages=max_pages, **pdf_options)
