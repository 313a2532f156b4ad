"""Check a staged Space folder before anything is uploaded.

Each check answers a way a deploy goes wrong only on the Hub, minutes later: a front matter the
Hub rejects or that installs another gradio, requirements that drift from the tested lock or
miss something a wheel needs, a workspace package left out, an app.py that cannot import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from stemqa.space.card import CardError, card_problems, read_card
from stemqa.space.requirements import requirement_problems
from stemqa.space.staging import WHEELS_DIR, StagingError, wheel_requirements
from stemqa.space.workspace import SPACE_PACKAGE, Lock

# Run inside the staged folder: execute app.py's module level (which puts wheels/ on sys.path)
# without launching, import what the app imports, and report where each came from.
IMPORT_CHECK = """
import importlib, importlib.metadata as md, json, runpy, sys
runpy.run_path("app.py", run_name="stemqa_space_import_check")
report = {"site": sys.path[0], "modules": {}, "distributions": {}}
for name in ("stemqa.space.entry", "stemqa.demo.app", "stemqa.demo.settings"):
    report["modules"][name] = importlib.import_module(name).__file__
for dist in sys.argv[1:]:
    try:
        report["distributions"][dist] = str(md.distribution(dist).locate_file(""))
    except md.PackageNotFoundError:
        report["distributions"][dist] = None
print("STEMQA-IMPORT-CHECK " + json.dumps(report))
"""


def wheel_problems(
    folder: Path, lock: Lock, package: str
) -> tuple[list[str], dict[str, list[str]]]:
    """Problems with wheels/ and each wheel's Requires-Dist (for the requirements check)."""
    problems: list[str] = []
    requires: dict[str, list[str]] = {}
    found: dict[str, str] = {}
    for wheel in sorted((folder / WHEELS_DIR).glob("*.whl")):
        try:
            name, version, _, tags = parse_wheel_filename(wheel.name)
            requires[wheel.name] = wheel_requirements(wheel)
        except (ValueError, StagingError, OSError) as exc:
            problems.append(f"{WHEELS_DIR}/{wheel.name}: not a readable wheel ({exc})")
            continue
        if not any(t.abi == "none" and t.platform == "any" for t in tags):
            problems.append(
                f"{WHEELS_DIR}/{wheel.name}: not pure Python; app.py can only unpack pure wheels"
            )
        found[str(name)] = str(version)
    for member in lock.member_closure(package):
        locked = lock.version_of(member)
        if member not in found:
            problems.append(
                f"{WHEELS_DIR}/: no wheel for {member} (the app needs it; re-run staging)"
            )
        elif found[member] not in locked:
            problems.append(
                f"{WHEELS_DIR}/: {member} {found[member]} but the workspace has {locked[0]}"
            )
    for name in found:
        if name not in lock.members:
            problems.append(
                f"{WHEELS_DIR}/: {name} is not a workspace member; put it in requirements.txt"
            )
    return problems, requires


def import_problems(
    folder: Path, members: list[str], python: str = sys.executable, timeout: float = 300
) -> list[str]:
    """Run app.py's start-up imports in a subprocess; the stemqa code must come from wheels/."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    try:
        result = subprocess.run(
            [python, "-c", IMPORT_CHECK, *members],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [f"app.py: importing the app took over {timeout:.0f} s"]
    marker = "STEMQA-IMPORT-CHECK "
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith(marker)), None)
    if result.returncode != 0 or line is None:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        return [f"app.py: the app does not import (exit {result.returncode}):\n{tail}"]
    report = json.loads(line[len(marker) :])
    site = Path(report["site"])
    problems = []
    for module, path in report["modules"].items():
        if path is None or not Path(path).is_relative_to(site):
            problems.append(
                f"app.py: {module} came from {path}, not from the staged wheels ({site})"
            )
    for dist, location in report["distributions"].items():
        if location is None or not Path(location).is_relative_to(site):
            problems.append(
                f"app.py: the metadata of {dist} (entry points) is not visible from the staged wheels"
            )
    return problems


def space_problems(
    folder: Path, lock: Lock, *, package: str = SPACE_PACKAGE, check_imports: bool = True
) -> list[str]:
    """Every problem with the staged Space in `folder`; empty when it can be deployed."""
    gradio = lock.version_of("gradio")
    try:
        card = read_card(folder / "README.md")
    except CardError as exc:
        problems = [f"README.md: {exc}"]
    else:
        problems = [
            f"README.md: {p}"
            for p in card_problems(
                card,
                gradio_version=gradio[0] if gradio else None,
                requires_python=lock.requires_python,
                folder=folder,
            )
        ]
    bad_wheels, requires = wheel_problems(folder, lock, package)
    problems += bad_wheels
    requirements = folder / "requirements.txt"
    if not requirements.is_file():
        problems.append("requirements.txt: missing")
    else:
        problems += requirement_problems(requirements.read_text(encoding="utf-8"), lock, requires)
    if check_imports and not bad_wheels and (folder / "app.py").is_file():
        problems += import_problems(
            folder, [canonicalize_name(m) for m in lock.member_closure(package)]
        )
    return problems
