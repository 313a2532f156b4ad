"""Turning a browser upload into a PDF in the data folder, safely.

Gradio hands us a temporary path plus the name the browser sent; that name is attacker
controlled (`../../.bashrc`, `C:\\evil.pdf`, NUL bytes), so it is reduced to a plain base name
and the file is written only below the uploads folder. Content is checked, not the extension:
a PDF starts with `%PDF-`.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

PDF_MAGIC = b"%PDF-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


class UploadError(ValueError):
    """One upload is refused; the message names the file and says why."""


@dataclass(frozen=True)
class AcceptedUpload:
    name: str  # the sanitized name shown to users and stored as the document source
    path: Path  # where it lives, below the uploads folder


def safe_filename(name: str, *, max_length: int = 120) -> str:
    """A base name without directories, control characters or leading dots.

    Splitting on both separators matters: a Windows browser may send `C:\\Users\\x\\a.pdf`.
    """
    base = re.split(r"[\\/]", name.replace("\x00", ""))[-1]
    base = unicodedata.normalize("NFKC", base)
    base = _UNSAFE.sub("_", base).strip(" .")
    if not base:
        base = "document.pdf"
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = ext[:10]
    stem = stem[: max(1, max_length - len(ext) - 1)]
    return f"{stem}.{ext}" if ext else stem


def accept_pdf(
    temp_path: str | Path, original_name: str, uploads_dir: Path, *, max_bytes: int
) -> AcceptedUpload:
    """Check one upload and copy it into `uploads_dir` under its sanitized name."""
    temp_path = Path(temp_path)
    name = safe_filename(original_name)
    if not name.lower().endswith(".pdf"):
        raise UploadError(f"{name}: only PDF files can be added (this file is not a .pdf).")
    size = temp_path.stat().st_size
    if size > max_bytes:
        raise UploadError(
            f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB upload limit "
            "(raise it with --max-upload-mb or STEMQA_MAX_UPLOAD_MB)."
        )
    with temp_path.open("rb") as fh:
        head = fh.read(1024)
    if PDF_MAGIC not in head:
        raise UploadError(f"{name}: not a PDF file (its content does not start with %PDF-).")
    uploads_dir = uploads_dir.resolve()
    uploads_dir.mkdir(parents=True, exist_ok=True)
    target = (uploads_dir / name).resolve()
    if target.parent != uploads_dir:  # belt and braces: safe_filename already removed separators
        raise UploadError(
            f"{original_name!r}: refused, the name points outside the uploads folder."
        )
    shutil.copyfile(temp_path, target)
    return AcceptedUpload(name=name, path=target)
