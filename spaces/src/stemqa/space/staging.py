"""Stage a self-contained Space folder from the workspace.

Layout of a staged Space:

    README.md          the Space card (front matter) from spaces/README.md
    app.py             spaces/app.py: puts wheels/ on sys.path, builds the demo, launches it
    packages.txt       spaces/packages.txt: apt packages for the Space (tesseract-ocr for OCR)
    requirements.txt   third-party pins exported from uv.lock
    wheels/*.whl       the workspace members the app needs (stemqa-core, -rag, -train, -demo, -space)

Why the stemqa packages are wheels beside app.py and not lines in requirements.txt: the Spaces
builder installs requirements.txt with the file mounted alone (`RUN --mount=...source=
requirements.txt pip install -r /tmp/requirements.txt`), before the repository is copied in, so
a local path such as `./wheels/x.whl` does not exist at that moment and the build fails. The
wheels are pure Python, so app.py unpacks them and puts them first on sys.path at start-up:
imports, package data and entry points (the stemqa.retrievers plugin) all work as installed.
Anyone can still `pip install -r requirements.txt wheels/*.whl` to reproduce the Space locally.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from stemqa.space.requirements import RequirementsError, export_requirements, uv_executable
from stemqa.space.workspace import SPACE_PACKAGE, Lock, read_lock

SPACE_SOURCE = "spaces"  # the member folder holding README.md and app.py, relative to the root
SPACE_FILES = ("README.md", "app.py")
#: Copied when present: packages.txt lists Debian packages the Spaces builder apt-installs
#: (tesseract-ocr, for OCR of scanned PDFs in stemqa.rag).
OPTIONAL_SPACE_FILES = ("packages.txt",)
WHEELS_DIR = "wheels"


class StagingError(RuntimeError):
    """Staging could not finish; the message says which step and how to fix it."""


@dataclass(frozen=True)
class StagedSpace:
    folder: Path
    wheels: tuple[Path, ...]
    members: tuple[str, ...]


def build_wheel(root: Path, package: str, out_dir: Path) -> Path:
    """`uv build --wheel` of one workspace member (uv's fast path for uv_build: no network)."""
    before = set(out_dir.glob("*.whl"))
    command = [
        uv_executable(),
        "build",
        "--package",
        package,
        "--wheel",
        "--out-dir",
        str(out_dir),
        "--no-create-gitignore",
        "--quiet",
    ]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    built = sorted(set(out_dir.glob("*.whl")) - before)
    if result.returncode != 0 or len(built) != 1:
        raise StagingError(
            f"`uv build --package {package} --wheel` failed in {root}:\n{result.stderr.strip()}"
        )
    return built[0]


def wheel_requirements(wheel: Path) -> list[str]:
    """The Requires-Dist lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
        if metadata is None:
            raise StagingError(f"{wheel.name} has no .dist-info/METADATA: not a wheel")
        headers = HeaderParser().parsestr(archive.read(metadata).decode("utf-8"))
    return headers.get_all("Requires-Dist") or []


def stage(
    out_dir: Path,
    *,
    root: Path,
    lock: Lock | None = None,
    package: str = SPACE_PACKAGE,
    progress: Callable[[str], None] = lambda message: None,
) -> StagedSpace:
    """Write the Space folder into `out_dir` (created; must be empty if it exists)."""
    lock = lock or read_lock(root)
    out_dir = out_dir.resolve()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise StagingError(
            f"{out_dir} is not empty: pass a new folder to --output_dir (nothing was written)"
        )
    source = root / SPACE_SOURCE
    missing = [name for name in SPACE_FILES if not (source / name).is_file()]
    if missing:
        raise StagingError(
            f"{', '.join(missing)} missing in {source}: the Space is staged from there"
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in SPACE_FILES:
        shutil.copy2(source / name, out_dir / name)
    for name in OPTIONAL_SPACE_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, out_dir / name)

    progress("exporting requirements.txt from uv.lock")
    try:
        (out_dir / "requirements.txt").write_text(
            export_requirements(root, package), encoding="utf-8"
        )
    except RequirementsError as exc:
        raise StagingError(str(exc)) from None

    members = lock.member_closure(package)
    wheels_dir = out_dir / WHEELS_DIR
    wheels_dir.mkdir()
    wheels: list[Path] = []
    # Build into a scratch folder: `uv build` may leave other files next to the wheel.
    with tempfile.TemporaryDirectory(prefix="stemqa-wheels-") as scratch:
        for index, member in enumerate(members, start=1):
            progress(f"building wheel {index}/{len(members)}: {member}")
            built = build_wheel(root, member, Path(scratch))
            wheels.append(Path(shutil.copy2(built, wheels_dir / built.name)))
    return StagedSpace(folder=out_dir, wheels=tuple(wheels), members=tuple(members))
