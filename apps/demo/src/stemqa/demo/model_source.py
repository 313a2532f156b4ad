"""Before loading a model: is it a folder that exists, or a Hub id we can actually reach?

Without this check a mistyped folder reaches the Hub client, which answers "Repo id must be in
the form 'repo_name' or 'namespace/repo_name'", and phi-2 on an offline machine spends about 70 s
in Hub retries before failing. Both are decided here in well under a second, in the words of
the Model tab.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_TRUE = ("1", "true", "yes", "on")
HUB_TIMEOUT_S = 3.0
OFFLINE_HINT = (
    "For an offline smoke run, make a tiny model with `uv run make-tiny-model DIR` and load "
    "that folder."
)


class ModelSourceError(ValueError):
    """The model or adapter named can't be loaded; the message says why, for the UI."""


def looks_like_path(name: str) -> bool:
    """A folder was meant: absolute, home- or dot-relative, Windows-style, deeper than a/b, or
    an a/b whose a is a folder here (runs/adapter)."""
    if name.startswith(("/", "~", ".")) or "\\" in name or name.count("/") > 1:
        return True
    return "/" in name and Path(name).parent.is_dir()


def hub_offline() -> bool:
    """HF_HUB_OFFLINE is set, or the Hub's host does not answer within a few seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE:
        return True
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), HUB_TIMEOUT_S):
            return False
    except OSError:
        return True


def _cached(repo_id: str) -> bool:
    """The Hub repo is in the local Hugging Face cache (so no network is needed)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in ("config.json", "adapter_config.json"):
        try:
            if isinstance(try_to_load_from_cache(repo_id, filename), str):
                return True
        except Exception:  # an invalid id: not cached
            return False
    return False


def check_model_source(model: str, adapter: str | None = None) -> None:
    """Raise ModelSourceError when `model` or `adapter` can't be loaded from here and now."""
    hub_names = []
    for what, name in (("model", model), ("adapter", adapter)):
        if not name:
            continue
        path = Path(name).expanduser()
        if path.is_dir():
            continue
        if path.exists():
            raise ModelSourceError(f"The {what} {name} is a file; give its folder.")
        if looks_like_path(name):
            raise ModelSourceError(f"The {what} folder {name} was not found.")
        if not _HUB_ID.fullmatch(name):
            raise ModelSourceError(
                f"The {what} {name!r} is neither a folder here nor a Hub id like microsoft/phi-2."
            )
        if not _cached(name):
            hub_names.append((what, name))
    if hub_names and hub_offline():
        what, name = hub_names[0]
        raise ModelSourceError(
            f"The {what} {name} is not downloaded here and the Hugging Face Hub can't be "
            f"reached (offline). {OFFLINE_HINT}"
        )
