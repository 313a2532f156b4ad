"""Hugging Face Space entry point: the stemqa demo, configured from the Space's variables.

Staged by `uv run deploy-space` next to requirements.txt and wheels/. The Spaces builder installs
requirements.txt before this folder exists in the image, so the stemqa packages cannot be
requirement lines; they ship as pure-Python wheels that this file unpacks once and puts first on
sys.path (imports, package data and entry points then work as if pip had installed them).
Configuration: STEMQA_MODEL, STEMQA_ADAPTER, STEMQA_INDEX, ... as Space variables.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def use_staged_wheels(wheels_dir: Path = HERE / "wheels") -> Path | None:
    """Unpack wheels_dir/*.whl into a folder named by their hash and prepend it to sys.path."""
    wheels = sorted(wheels_dir.glob("*.whl"))
    if not wheels:
        return None  # running from a checkout, where the packages are installed
    digest = hashlib.sha256()
    for wheel in wheels:
        digest.update(wheel.name.encode() + wheel.read_bytes())
    target = Path(tempfile.gettempdir()) / f"stemqa-space-{digest.hexdigest()[:16]}"
    if not target.is_dir():
        scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(scratch)
        try:
            scratch.rename(target)  # atomic: a half-unpacked folder is never used
        except OSError:  # another process got there first
            shutil.rmtree(scratch, ignore_errors=True)
    sys.path.insert(0, str(target))
    return target


use_staged_wheels()

if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from stemqa.space.entry import main

    main()
