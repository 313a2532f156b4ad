"""Fixtures for the Space tests: one staged Space per session, built with the real uv."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from stemqa.space.staging import StagedSpace, stage
from stemqa.space.workspace import Lock, find_workspace_root, read_lock

ROOT = find_workspace_root(Path(__file__).parent)


def require(condition: bool, reason: str) -> None:
    """Skip when `condition` is false, except in CI (STEMQA_REQUIRE_ALL=1), where it fails."""
    if condition:
        return
    if os.environ.get("STEMQA_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (STEMQA_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(name="require", scope="session")
def require_fixture():
    """`require(condition, reason)` for test modules (conftest cannot be imported in importlib mode)."""
    return require


@pytest.fixture(scope="session")
def workspace_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def lock() -> Lock:
    return read_lock(ROOT)


@pytest.fixture(scope="session")
def staged_space(tmp_path_factory: pytest.TempPathFactory, lock: Lock) -> StagedSpace:
    """The Space as deploy-space stages it. Tests that modify it copy it first (see `staged_copy`)."""
    require(shutil.which("uv") is not None, "uv is not on PATH")
    return stage(tmp_path_factory.mktemp("space") / "staged", root=ROOT, lock=lock)


@pytest.fixture
def staged_copy(staged_space: StagedSpace, tmp_path: Path) -> Path:
    """A private copy of the staged Space, free to break."""
    return Path(shutil.copytree(staged_space.folder, tmp_path / "space"))
