"""The Space README's YAML front matter: what the Hub reads to build and show the Space.

Parsed with huggingface_hub's SpaceCard (the Hub's own reader) so that a README the Hub would
reject fails here first, before any upload. The checks below are the keys the Spaces
configuration reference documents and that a Gradio Space of this project needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import SpaceCard
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

# From the Spaces configuration reference (docs/hub/spaces-config-reference.md).
THUMBNAIL_COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
REQUIRED_KEYS = (
    "title",
    "emoji",
    "colorFrom",
    "colorTo",
    "sdk",
    "sdk_version",
    "app_file",
    "python_version",
    "models",
    "license",
    "tags",
)


class CardError(ValueError):
    """The front matter is missing or invalid; the message names the key and the fix."""


def read_card(readme: Path) -> dict[str, Any]:
    """The front matter of `readme` as a dict; CardError when there is none or it isn't YAML."""
    if not readme.is_file():
        raise CardError(f"{readme} is missing: the Space needs a README.md with YAML front matter")
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise CardError(
            f"{readme} does not start with '---': the Space config must be its first block"
        )
    try:
        card = SpaceCard(text)
    except Exception as exc:  # the Hub's reader raises ValueError/yaml errors on bad YAML
        raise CardError(f"{readme}: front matter is not valid YAML ({exc})") from None
    return card.data.to_dict()


def card_problems(
    data: dict[str, Any],
    *,
    gradio_version: str | None,
    requires_python: str | None,
    folder: Path | None = None,
) -> list[str]:
    """Every problem with the front matter, each naming its key; empty when it is valid.

    gradio_version: the locked gradio, which `sdk_version` must equal (the Space builder installs
    gradio from `sdk_version`, not from requirements.txt). requires_python: the lock's range,
    which `python_version` must fall in. folder: where `app_file` must exist.
    """
    problems = [
        f"{key}: missing (see the Spaces configuration reference)"
        for key in REQUIRED_KEYS
        if key not in data
    ]

    for key in ("title", "emoji", "app_file", "license"):
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            problems.append(f"{key}: must be a non-empty string, got {data[key]!r}")
    for key in ("colorFrom", "colorTo"):
        if key in data and data[key] not in THUMBNAIL_COLORS:
            problems.append(f"{key}: {data[key]!r} is not one of {', '.join(THUMBNAIL_COLORS)}")
    if "sdk" in data and data["sdk"] != "gradio":
        problems.append(f"sdk: must be 'gradio' (the app is a Gradio app), got {data['sdk']!r}")
    if (
        "sdk_version" in data
        and gradio_version is not None
        and str(data["sdk_version"]) != gradio_version
    ):
        problems.append(
            f"sdk_version: {data['sdk_version']!r} differs from the gradio in uv.lock ({gradio_version}); "
            f"set sdk_version: {gradio_version} in spaces/README.md"
        )
    if "python_version" in data:
        problems.extend(_python_version_problems(data["python_version"], requires_python))
    for key in ("models", "tags"):
        value = data.get(key)
        if key in data and (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v for v in value)
        ):
            problems.append(f"{key}: must be a non-empty list of strings, got {value!r}")
    app_file = data.get("app_file")
    if (
        folder is not None
        and isinstance(app_file, str)
        and app_file.strip()
        and not (folder / app_file).is_file()
    ):
        problems.append(f"app_file: {data['app_file']!r} does not exist in {folder}")
    return problems


def _python_version_problems(value: object, requires_python: str | None) -> list[str]:
    # YAML reads 3.10 as the float 3.1: insist on a quoted string.
    if not isinstance(value, str):
        return [
            f'python_version: quote it (python_version: "{value}"); YAML reads {value!r} as a number'
        ]
    try:
        version = Version(value)
    except InvalidVersion:
        return [f'python_version: {value!r} is not a version like "3.11"']
    if version.major != 3 or len(version.release) not in (2, 3):
        return [f"python_version: {value!r} must be 3.x or 3.x.y"]
    if requires_python:
        try:
            spec = SpecifierSet(requires_python)
        except InvalidSpecifier:
            return []
        # "3.11" stands for the newest 3.11.x: check the minor series against the range.
        candidate = value if len(version.release) == 3 else f"{value}.99"
        if not spec.contains(candidate):
            return [
                f"python_version: {value!r} is outside the workspace's requires-python {requires_python}"
            ]
    return []
