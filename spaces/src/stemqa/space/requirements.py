"""requirements.txt for the Space: exported from uv.lock, and checked against it.

Why `uv export` and not `pip freeze`: the lock is the tested resolution for every platform
(markers included), while a freeze only describes this machine. Workspace members are left out
of the export (`--no-emit-workspace`): PyPI has no stemqa-* packages, so they travel as wheels
next to app.py instead (see stemqa.space.staging for why they cannot be requirement lines).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from stemqa.space.workspace import SPACE_PACKAGE, Lock

HEADER = """\
# Pinned from the stemqa workspace's uv.lock by `uv run deploy-space` (uv export --frozen
# --package stemqa-space --no-emit-workspace --no-dev --no-hashes). Do not edit: change the
# workspace, run `uv lock`, and deploy again. The stemqa-* packages are in wheels/ and are put on
# sys.path by app.py; torch is PyPI's Linux build (CUDA libraries included), which also runs on
# CPU hardware.
"""


class RequirementsError(RuntimeError):
    """Exporting or checking requirements failed; the message says why and what to run."""


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: str
    line: str


def uv_executable() -> str:
    uv = shutil.which("uv")
    if uv is None:
        raise RequirementsError(
            "`uv` is not on PATH: install it (pip install uv) and run `uv run deploy-space`"
        )
    return uv


def export_requirements(root: Path, package: str = SPACE_PACKAGE) -> str:
    """The locked, hash-free requirements of `package` without workspace members, with a header."""
    command = [
        uv_executable(),
        "export",
        "--frozen",
        "--package",
        package,
        "--format",
        "requirements.txt",
        "--no-emit-workspace",
        "--no-dev",
        "--no-hashes",
        "--no-header",
    ]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RequirementsError(
            f"`{' '.join(command[1:])}` failed in {root}:\n{result.stderr.strip()}\n"
            "If uv.lock is out of date, run `uv lock` first."
        )
    return HEADER + result.stdout


def parse_pins(text: str, source: str = "requirements.txt") -> list[Pin]:
    """Every requirement line as an exact pin; RequirementsError names the line that isn't one."""
    pins: list[Pin] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise RequirementsError(
                f"{source}:{number}: pip options ({line!r}) are not allowed here"
            )
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise RequirementsError(
                f"{source}:{number}: {line!r} is not a requirement ({exc})"
            ) from None
        specs = list(req.specifier)
        if req.url or len(specs) != 1 or specs[0].operator != "==":
            raise RequirementsError(
                f"{source}:{number}: {line!r} is not pinned with == (export it from uv.lock)"
            )
        pins.append(Pin(canonicalize_name(req.name), specs[0].version, line))
    return pins


def requirement_problems(
    text: str, lock: Lock, wheel_requirements: dict[str, list[str]]
) -> list[str]:
    """What makes `text` inconsistent with the lock and with what the staged wheels declare.

    wheel_requirements: staged wheel file name -> its Requires-Dist lines.
    """
    try:
        pins = parse_pins(text)
    except RequirementsError as exc:
        return [str(exc)]
    problems: list[str] = []
    pinned = {p.name: p for p in pins}
    members = set(lock.members)
    for pin in pins:
        if pin.name in members:
            problems.append(
                f"requirements.txt: {pin.name} is a workspace member; it belongs in wheels/, not here"
            )
        elif pin.name not in lock.packages:
            problems.append(f"requirements.txt: {pin.name} is not in uv.lock")
        elif pin.version not in lock.version_of(pin.name):
            problems.append(
                f"requirements.txt: {pin.name}=={pin.version} but uv.lock has "
                f"{' or '.join(lock.version_of(pin.name))}; re-run deploy-space to re-export"
            )
    for wheel, requires in wheel_requirements.items():
        for line in requires:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue  # an optional extra, or a platform the Space is not
            name = canonicalize_name(req.name)
            if name in members:
                continue
            pin = pinned.get(name)
            if pin is None:
                problems.append(f"requirements.txt: {wheel} needs {line!r}, which is not pinned")
            elif not req.specifier.contains(pin.version, prereleases=True):
                problems.append(
                    f"requirements.txt: {wheel} needs {line!r} but {pin.line!r} is pinned"
                )
    return problems
