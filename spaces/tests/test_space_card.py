"""The Space README's front matter: the committed one is valid, broken ones name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemqa.space.card import CardError, card_problems, read_card
from stemqa.space.workspace import Lock

SPACE_DIR = Path(__file__).resolve().parents[1]


def test_committed_readme_is_a_valid_space_card_pinned_to_the_locked_gradio(lock: Lock) -> None:
    card = read_card(SPACE_DIR / "README.md")
    (gradio,) = lock.version_of("gradio")
    assert card["sdk"] == "gradio"
    assert card["sdk_version"] == gradio
    assert card["app_file"] == "app.py"
    assert "microsoft/phi-2" in card["models"]
    assert (
        card_problems(
            card, gradio_version=gradio, requires_python=lock.requires_python, folder=SPACE_DIR
        )
        == []
    )


def _card(**changes: object) -> dict[str, object]:
    card = read_card(SPACE_DIR / "README.md")
    card.update(changes)
    return {k: v for k, v in card.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"sdk_version": "5.0.0"},
            "sdk_version: '5.0.0' differs from the gradio in uv.lock (9.9.9)",
        ),
        ({"sdk": "docker"}, "sdk: must be 'gradio'"),
        ({"colorFrom": "teal"}, "colorFrom: 'teal' is not one of"),
        ({"python_version": 3.1}, "python_version: quote it"),
        (
            {"python_version": "3.10"},
            "python_version: '3.10' is outside the workspace's requires-python >=3.11",
        ),
        ({"python_version": "three"}, "python_version: 'three' is not a version"),
        ({"models": []}, "models: must be a non-empty list of strings"),
        ({"tags": "stem"}, "tags: must be a non-empty list of strings"),
        ({"license": None}, "license: missing"),
        ({"app_file": "main.py"}, "app_file: 'main.py' does not exist"),
    ],
)
def test_each_bad_key_is_named(changes: dict[str, object], expected: str) -> None:
    card = _card(**{"sdk_version": "9.9.9", **changes})
    problems = card_problems(
        card, gradio_version="9.9.9", requires_python=">=3.11", folder=SPACE_DIR
    )
    assert any(expected in p for p in problems), problems
    assert len(problems) == 1, problems


def test_readme_without_front_matter_or_with_bad_yaml_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "README.md"
    plain.write_text("# stemqa\n", encoding="utf-8")
    with pytest.raises(CardError, match="does not start with '---'"):
        read_card(plain)
    plain.write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    with pytest.raises(CardError, match="not valid YAML"):
        read_card(plain)
    with pytest.raises(CardError, match="missing"):
        read_card(tmp_path / "nope.md")
