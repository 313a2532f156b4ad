"""Staging with the real uv (export + build) gives a valid Space; each way to break it is caught."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from stemqa.space.requirements import parse_pins
from stemqa.space.staging import StagedSpace, StagingError, stage
from stemqa.space.validation import space_problems
from stemqa.space.workspace import Lock


def test_staged_space_layout(staged_space: StagedSpace, lock: Lock) -> None:
    folder = staged_space.folder
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "app.py",
        "packages.txt",
        "requirements.txt",
        "wheels",
    ]
    assert staged_space.members == (
        "stemqa-core",
        "stemqa-demo",
        "stemqa-rag",
        "stemqa-space",
        "stemqa-train",
    )
    names = sorted(p.name for p in (folder / "wheels").iterdir())
    assert names == [
        f"{m.replace('-', '_')}-{lock.version_of(m)[0]}-py3-none-any.whl"
        for m in staged_space.members
    ]
    with zipfile.ZipFile(folder / "wheels" / names[0]) as core:
        assert "stemqa/core/loading.py" in core.namelist()
        assert not any(n == "stemqa/__init__.py" for n in core.namelist())  # PEP 420 namespace
    pins = {p.name: p.version for p in parse_pins((folder / "requirements.txt").read_text())}
    for name, version in pins.items():
        assert version in lock.version_of(name), name
    assert {"torch", "transformers", "gradio", "chromadb", "peft"} <= set(pins)


def test_staged_space_is_valid_without_the_import_check(
    staged_space: StagedSpace, lock: Lock
) -> None:
    assert space_problems(staged_space.folder, lock, check_imports=False) == []


@pytest.mark.slow
def test_staged_app_imports_from_its_wheels(staged_space: StagedSpace, lock: Lock) -> None:
    # The workspace venv also has stemqa installed (editable); the check proves app.py puts the
    # staged wheels first, metadata (entry points) included.
    assert space_problems(staged_space.folder, lock, check_imports=True) == []


def test_staging_refuses_a_non_empty_folder(
    tmp_path: Path, workspace_root: Path, lock: Lock
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(StagingError, match="not empty"):
        stage(tmp_path, root=workspace_root, lock=lock)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_drifted_sdk_version_is_caught(staged_copy: Path, lock: Lock) -> None:
    readme = staged_copy / "README.md"
    readme.write_text(
        re.sub(r"sdk_version: .*", "sdk_version: 5.0.0", readme.read_text()), encoding="utf-8"
    )
    problems = space_problems(staged_copy, lock, check_imports=False)
    assert len(problems) == 1 and problems[0].startswith(
        "README.md: sdk_version: '5.0.0' differs"
    ), problems


def test_missing_wheel_is_caught(staged_copy: Path, lock: Lock) -> None:
    next((staged_copy / "wheels").glob("stemqa_rag-*.whl")).unlink()
    problems = space_problems(staged_copy, lock, check_imports=False)
    assert problems == ["wheels/: no wheel for stemqa-rag (the app needs it; re-run staging)"]


def test_edited_requirements_are_caught(staged_copy: Path, lock: Lock) -> None:
    requirements = staged_copy / "requirements.txt"
    text = requirements.read_text()
    (torch,) = lock.version_of("torch")
    requirements.write_text(text.replace(f"torch=={torch}", "torch==2.0.0"), encoding="utf-8")
    problems = space_problems(staged_copy, lock, check_imports=False)
    assert any(f"torch==2.0.0 but uv.lock has {torch}" in p for p in problems), problems
    # And a pin removed outright: a staged wheel (core) needs torch.
    requirements.write_text(re.sub(r"(?m)^torch==.*\n", "", text), encoding="utf-8")
    problems = space_problems(staged_copy, lock, check_imports=False)
    assert any(
        "stemqa_core-" in p and "needs 'torch" in p and "not pinned" in p for p in problems
    ), problems


def test_missing_app_and_requirements_are_caught(staged_copy: Path, lock: Lock) -> None:
    (staged_copy / "app.py").unlink()
    (staged_copy / "requirements.txt").unlink()
    problems = space_problems(staged_copy, lock, check_imports=True)
    assert "README.md: app_file: 'app.py' does not exist in " + str(staged_copy) in problems
    assert "requirements.txt: missing" in problems


@pytest.mark.slow
def test_broken_app_fails_the_import_check(staged_copy: Path, lock: Lock) -> None:
    app = staged_copy / "app.py"
    app.write_text(
        app.read_text().replace("use_staged_wheels()\n\nif", "import stemqa_no_such_module\n\nif")
    )
    problems = space_problems(staged_copy, lock, check_imports=True)
    assert len(problems) == 1 and "app.py: the app does not import" in problems[0], problems
    assert "stemqa_no_such_module" in problems[0]
