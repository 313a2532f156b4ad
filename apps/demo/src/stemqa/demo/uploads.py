"""Turning a browser upload into a PDF in the data folder, safely.

Gradio hands us a temporary path plus the name the browser sent; that name is attacker
controlled (`../../.bashrc`, `C:\\evil.pdf`, NUL bytes, a right-to-left override that makes
`fdp.exe` look like `exe.pdf`), so it is reduced to a plain base name and the file is written
only below the uploads folder. Letters of every script are kept ("Übungen.pdf" stays), in NFC
so that the same name typed on macOS (NFD) and Linux is one document. Content is checked, not
the extension: a PDF starts with `%PDF-`.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import unicodedata
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

PDF_MAGIC = b"%PDF-"
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


def check_pdf(temp_path: str | Path, original_name: str, *, max_bytes: int) -> CheckedUpload:
    """Name, size and content checks for one upload; nothing is copied yet."""
    temp_path = Path(temp_path)
    name = safe_filename(original_name)
    if not name.lower().endswith(".pdf"):
        raise UploadError(f"{name}: only PDF files can be added (this file is not a .pdf).")
    size = temp_path.stat().st_size
    if size > max_bytes:
        raise UploadError(
            f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB upload limit."
        )
    with temp_path.open("rb") as fh:
        head = fh.read(1024)
    if PDF_MAGIC not in head:
        raise UploadError(f"{name}: not a PDF file (its content does not start with %PDF-).")
    from stemqa.rag.loading import file_sha256  # the index's own content hash; rag loads lazily

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


def accept_pdf(
    temp_path: str | Path, original_name: str, uploads_dir: Path, *, max_bytes: int
) -> AcceptedUpload:
    """Check one upload and copy it into `uploads_dir` under its sanitized name."""
    return store(check_pdf(temp_path, original_name, max_bytes=max_bytes), uploads_dir)


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
