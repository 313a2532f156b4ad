"""PDF discovery and page-by-page text extraction with errors that name the file.

Same semantics as LangChain's PyPDFDirectoryLoader (one record per page, 0-based `page`, the
printed `page_label`, `source`), but every way a real PDF can be bad becomes a `PdfLoadError`
with an actionable reason, so one bad file never stops an ingest of many.
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

PDF_SUFFIX = ".pdf"
_HASH_BLOCK = 1 << 20


class PdfLoadError(Exception):
    """A file that could not be ingested; `str()` starts with the file name."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class PageText:
    page: int  # 0-based index
    label: str | None
    text: str


@dataclass
class LoadedPdf:
    path: Path
    source: str
    sha256: str
    n_pages: int
    pages: list[PageText]
    warnings: list[str] = field(default_factory=list)


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
    """Expand files and folders (recursively, *.pdf) into (file, source name) pairs.

    The source name is the path relative to the folder given (just the file name for a file
    given directly): stable across machines, and what users type for `--delete`.
    Files named explicitly are kept whatever their suffix, so a non-PDF gets a clear error.
    """
    found: list[tuple[Path, str]] = []
    problems: list[PdfLoadError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pdfs = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == PDF_SUFFIX
            )
            if not pdfs:
                problems.append(PdfLoadError(path, "folder contains no .pdf files"))
            found.extend((p, p.relative_to(path).as_posix()) for p in pdfs)
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


def load_pdf(
    path: Path,
    source: str | None = None,
    *,
    sha256: str | None = None,
    max_pages: int | None = None,
) -> LoadedPdf:
    """Read every page's text; raise PdfLoadError for anything that makes the file unusable."""
    source = source or path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PdfLoadError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if size == 0:
        raise PdfLoadError(path, "empty file (0 bytes)")
    with path.open("rb") as handle:
        head = handle.read(1024)
    if b"%PDF-" not in head:
        kind = "text" if head[:64].isascii() else "binary data"
        raise PdfLoadError(path, f"not a PDF (no %PDF- header; starts with {kind})")
    sha256 = sha256 or file_sha256(path)
    with quiet_pypdf():
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
            n_pages = len(reader.pages)
        except PdfLoadError:
            raise
        except FileNotDecryptedError as exc:
            raise PdfLoadError(path, f"encrypted PDF that needs a password ({exc})") from exc
        except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            raise PdfLoadError(
                path, f"corrupt or truncated PDF ({type(exc).__name__}: {exc})"
            ) from exc
        if n_pages == 0:
            raise PdfLoadError(path, "PDF has no pages (corrupt or truncated?)")
        if max_pages is not None and n_pages > max_pages:
            raise PdfLoadError(
                path,
                f"{n_pages} pages is more than the limit of {max_pages}; split the file or "
                "raise the limit (--max-pages)",
            )
        labels = _page_labels(reader, n_pages)
        pages: list[PageText] = []
        problems: list[str] = []
        for index in range(n_pages):
            try:
                text = reader.pages[index].extract_text() or ""
            except Exception as exc:  # pypdf raises many types on damaged content streams
                problems.append(f"{source}: page {index} unreadable ({type(exc).__name__}: {exc})")
                continue
            if text.strip():
                pages.append(PageText(index, labels[index], text))
    if not pages:
        if problems and len(problems) == n_pages:
            raise PdfLoadError(path, f"corrupt PDF: none of its {n_pages} pages could be read")
        raise PdfLoadError(
            path,
            f"no text layer on any of its {n_pages} page(s) (a scan?); run OCR first, e.g. "
            "`ocrmypdf in.pdf out.pdf`",
        )
    return LoadedPdf(path, source, sha256, n_pages, pages, problems)
