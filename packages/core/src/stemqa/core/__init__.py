"""stemqa.core: MCQ records, prompts, letter extraction and scoring, model loading, retrieval contract."""

from stemqa.core.loading import (
    QUANTIZATIONS,
    ModelLoadError,
    bnb_config,
    load_model,
    load_tokenizer,
    phi2_config_path,
)
from stemqa.core.retrieval import Passage, Retriever, available_retrievers, open_retriever
from stemqa.core.tiny_model import make_tiny_model

__all__ = [
    "QUANTIZATIONS",
    "ModelLoadError",
    "Passage",
    "Retriever",
    "available_retrievers",
    "bnb_config",
    "load_model",
    "load_tokenizer",
    "make_tiny_model",
    "open_retriever",
    "phi2_config_path",
]
