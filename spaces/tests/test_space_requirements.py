"""requirements.txt: exported from the real uv.lock, and every drift from it is caught."""

from __future__ import annotations

import pytest

from stemqa.space.requirements import (
    RequirementsError,
    export_requirements,
    parse_pins,
    requirement_problems,
)
from stemqa.space.workspace import Lock


def test_parse_pins_accepts_exact_pins_with_markers_and_comments() -> None:
    pins = parse_pins(
        "# header\nTorch==2.15.0\n    # via x\nnumpy==2.4.6 ; python_full_version < '3.12'\n"
    )
    assert [(p.name, p.version) for p in pins] == [("torch", "2.15.0"), ("numpy", "2.4.6")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("torch>=2.0", "not pinned with =="),
        ("torch", "not pinned with =="),
        ("-e ./packages/core", "pip options"),
        ("./wheels/x.whl", "not a requirement"),
        ("stemqa-core @ file:///tmp/x.whl", "not pinned with =="),
    ],
)
def test_parse_pins_names_the_line_that_is_not_a_pin(line: str, message: str) -> None:
    with pytest.raises(RequirementsError, match=f"requirements.txt:2: .*{message}"):
        parse_pins(f"gradio==6.31.0\n{line}\n")


def test_exported_requirements_match_the_lock(workspace_root, lock: Lock) -> None:
    text = export_requirements(workspace_root)
    pins = {p.name: p.version for p in parse_pins(text)}
    assert pins["gradio"] == lock.version_of("gradio")[0]
    assert pins["torch"] == lock.version_of("torch")[0]
    assert not any(name.startswith("stemqa") for name in pins)  # members travel as wheels
    assert requirement_problems(text, lock, {}) == []


def test_drift_from_the_lock_is_reported(lock: Lock) -> None:
    (gradio,) = lock.version_of("gradio")
    text = f"gradio==0.0.1\nnot-a-locked-package==1.0\nstemqa-core=={lock.version_of('stemqa-core')[0]}\n"
    problems = requirement_problems(text, lock, {})
    assert any(f"gradio==0.0.1 but uv.lock has {gradio}" in p for p in problems), problems
    assert any("not-a-locked-package is not in uv.lock" in p for p in problems), problems
    assert any("stemqa-core is a workspace member" in p for p in problems), problems


def test_a_wheel_dependency_missing_or_outside_its_range_is_reported(lock: Lock) -> None:
    (gradio,) = lock.version_of("gradio")
    text = f"gradio=={gradio}\n"
    requires = {
        "stemqa_demo-0.1.0-py3-none-any.whl": [
            "gradio>=99",
            "pandas>=2",
            "stemqa-core",  # a member: satisfied by its wheel, not by requirements.txt
            "pytest ; extra == 'test'",  # an extra the Space does not install
        ]
    }
    problems = requirement_problems(text, lock, requires)
    assert problems == [
        f"requirements.txt: stemqa_demo-0.1.0-py3-none-any.whl needs 'gradio>=99' but 'gradio=={gradio}' is pinned",
        "requirements.txt: stemqa_demo-0.1.0-py3-none-any.whl needs 'pandas>=2', which is not pinned",
    ]
