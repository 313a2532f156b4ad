"""Turning a browser upload into a document in the data folder, safely.

Gradio hands us a temporary path plus the name the browser sent; that name is attacker
controlled (`../../.bashrc`, `C:\\evil.pdf`, NUL bytes, a right-to-left override that makes
`fdp.exe` look like `exe.pdf`), so it is reduced to a plain base name and the file is written
only below the uploads folder. Letters of every script are kept ("Übungen.pdf" stays), in NFC
so that the same name typed on macOS (NFD) and Linux is one document.

The formats are rag's (`DOCUMENT_SUFFIXES`: PDF, Word .docx, Markdown, HTML, plain text). The
content is checked where a cheap check exists, not just the extension: a PDF starts with
`%PDF-`, a .docx is a zip archive holding `word/document.xml`. Text formats are checked by
rag's loaders when the file is indexed (UTF-8, not binary, some text); a file they refuse is
removed from uploads/ again by the library.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import unicodedata
import zipfile
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

PDF_MAGIC = b"%PDF-"
DOCX_PART = "word/document.xml"
#: How the app names the formats it takes (the suffixes are rag's DOCUMENT_SUFFIXES).
FORMATS_TEXT = "PDF, Word (.docx), Markdown, HTML or plain-text"
#: Characters that are separators or reserved on some file system (Windows' set), plus NUL.
_RESERVED = re.compile(r'[<>:"|?*\x00]')


class UploadError(ValueError):
    """One upload is refused; the message names the file and says why."""


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed the checks, still at Gradio's temporary path."""

    name: str  # the sanitized name
    temp: Path
    sha256: str


@dataclass(frozen=True)
class AcceptedUpload:
    name: str  # the sanitized name shown to users and stored as the document source
    path: Path  # where it lives, below the uploads folder


def _visible(ch: str) -> bool:
    """False for control, format (bidi overrides, zero-width) and separator-other characters."""
    return unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def safe_filename(name: str, *, max_length: int = 120) -> str:
    """A base name without directories, control/bidi characters or leading dots, in NFC.

    Splitting on both separators matters: a Windows browser may send `C:\\Users\\x\\a.pdf`.
    NFC (not NFKC) keeps what the user typed: NFKC would turn "ﬁ" or "²" into other text.
    """
    name = unicodedata.normalize("NFC", name.replace("\x00", ""))
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if _visible(ch))
    base = _RESERVED.sub("_", base)
    base = " ".join(base.split()).strip(" .")  # tabs, NBSP and runs of spaces: one space
    if not base:
        base = "document.pdf"
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = ext[:10]
    stem = stem[: max(1, max_length - len(ext) - 1)].rstrip(" .") or "document"
    return f"{stem}.{ext}" if ext else stem


def numbered_name(name: str, taken: Container[str]) -> str:
    """`name` if it is free, else `stem (2).ext`, `stem (3).ext`, …: keep both documents."""
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 2
    while True:
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        if candidate not in taken:
            return candidate
        n += 1


def document_suffixes() -> tuple[str, ...]:
    """The suffixes rag ingests: one list, so the app accepts exactly what the index reads."""
    from stemqa.rag.loading import DOCUMENT_SUFFIXES  # rag loads lazily (pypdf)

    return DOCUMENT_SUFFIXES


def _check_content(temp_path: Path, name: str, suffix: str) -> None:
    """The format's signature, where one exists; UploadError in the user's words if absent."""
    if suffix == ".pdf":
        with temp_path.open("rb") as fh:
            head = fh.read(1024)
        if PDF_MAGIC not in head:
            raise UploadError(f"{name}: not a PDF file (its content does not start with %PDF-).")
    elif suffix == ".docx":
        try:
            with zipfile.ZipFile(temp_path) as archive:
                ok = DOCX_PART in archive.namelist()
        except (zipfile.BadZipFile, OSError):
            ok = False
        if not ok:
            raise UploadError(
                f"{name}: not a Word document (a .docx file is a zip archive holding "
                f"{DOCX_PART}); save it again from Word as .docx, or as PDF."
            )


def check_upload(temp_path: str | Path, original_name: str, *, max_bytes: int) -> CheckedUpload:
    """Name, format, size and content checks for one upload; nothing is copied yet."""
    temp_path = Path(temp_path)
    name = safe_filename(original_name)
    suffix = Path(name).suffix.lower()
    if suffix not in document_suffixes():
        kind = f"a {suffix} file" if suffix else "a file without an extension"
        raise UploadError(f"{name}: {kind} can't be added; add {FORMATS_TEXT} files.")
    size = temp_path.stat().st_size
    if size > max_bytes:
        raise UploadError(
            f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB upload limit."
        )
    if size == 0:
        raise UploadError(f"{name}: the file is empty (0 bytes).")
    _check_content(temp_path, name, suffix)
    from stemqa.rag.loading import file_sha256  # the index's own content hash

    return CheckedUpload(name=name, temp=temp_path, sha256=file_sha256(temp_path))


def store(upload: CheckedUpload, uploads_dir: Path, name: str | None = None) -> AcceptedUpload:
    """Copy a checked upload into `uploads_dir` as `name` (default: its sanitized name)."""
    name = name or upload.name
    uploads_dir = uploads_dir.resolve()
    uploads_dir.mkdir(parents=True, exist_ok=True)
    target = (uploads_dir / name).resolve()
    if target.parent != uploads_dir:  # belt and braces: safe_filename already removed separators
        raise UploadError(f"{name!r}: refused, the name points outside the uploads folder.")
    shutil.copyfile(upload.temp, target)
    return AcceptedUpload(name=name, path=target)


def accept_upload(
    temp_path: str | Path, original_name: str, uploads_dir: Path, *, max_bytes: int
) -> AcceptedUpload:
    """Check one upload and copy it into `uploads_dir` under its sanitized name."""
    return store(check_upload(temp_path, original_name, max_bytes=max_bytes), uploads_dir)


def discard_temp(path: str | Path, cache_dir: Path) -> None:
    """Remove Gradio's temporary copy of an upload (and its folder when empty), once used.

    Only below `cache_dir`: a path from anywhere else is not ours to delete.
    """
    path = Path(path).resolve()
    cache_dir = cache_dir.resolve()
    if cache_dir not in path.parents:
        return
    path.unlink(missing_ok=True)
    parent = path.parent
    if parent != cache_dir:
        # not empty: another upload of the same batch still lives there
        with contextlib.suppress(OSError):
            parent.rmdir()
