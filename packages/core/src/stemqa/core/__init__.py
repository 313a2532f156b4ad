"""stemqa.core: MCQ records, prompts, letter extraction and scoring, model loading, retrieval contract.

Heavy libraries (torch, transformers) are imported inside the functions that need them, so
importing this package (e.g. for ``MCQ`` or ``Passage``) stays fast.
"""

from stemqa.core.extract import extract_letter
from stemqa.core.loading import (
    QUANTIZATIONS,
    ModelLoadError,
    bnb_config,
    load_model,
    load_tokenizer,
    phi2_config_path,
)
from stemqa.core.prompts import (
    RAG_TEMPLATE,
    PromptTooLongError,
    build_mcq_prompt,
    chat_prompt,
    format_question,
    mmlu_prompt,
    rag_prompt,
)
from stemqa.core.records import LETTERS, MCQ
from stemqa.core.retrieval import (
    Passage,
    Retriever,
    available_retrievers,
    cite,
    display_page,
    fuse_rankings,
    open_retriever,
)
from stemqa.core.scoring import LetterScore, generate_letters, letter_token_ids, score_letters
from stemqa.core.tiny_model import make_tiny_model

__all__ = [
    "LETTERS",
    "MCQ",
    "QUANTIZATIONS",
    "RAG_TEMPLATE",
    "LetterScore",
    "ModelLoadError",
    "Passage",
    "PromptTooLongError",
    "Retriever",
    "available_retrievers",
    "bnb_config",
    "build_mcq_prompt",
    "chat_prompt",
    "cite",
    "display_page",
    "extract_letter",
    "format_question",
    "fuse_rankings",
    "generate_letters",
    "letter_token_ids",
    "load_model",
    "load_tokenizer",
    "make_tiny_model",
    "mmlu_prompt",
    "open_retriever",
    "phi2_config_path",
    "rag_prompt",
    "score_letters",
]
