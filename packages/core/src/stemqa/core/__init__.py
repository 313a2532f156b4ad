"""stemqa.core: MCQ records, prompts, letter extraction and scoring, model loading, retrieval contract.

The light contracts (records, prompts, extraction, the retrieval protocol) import nothing heavy.
The model half (loading, scoring, tiny_model) pulls in torch, transformers, peft and
bitsandbytes, which costs tens of seconds cold on a small CPU; so every public name is resolved
lazily through the module ``__getattr__`` (PEP 562): ``from stemqa.core import Passage`` loads
retrieval.py only, and ``from stemqa.core import load_model`` loads loading.py when asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stemqa.core.lazy import lazy_exports

#: public name -> submodule of stemqa.core that defines it
_EXPORTS: dict[str, str] = {
    "extract_letter": "extract",
    "QUANTIZATIONS": "loading",
    "ModelLoadError": "loading",
    "bnb_config": "loading",
    "load_model": "loading",
    "load_tokenizer": "loading",
    "phi2_config_path": "loading",
    "RAG_TEMPLATE": "prompts",
    "PromptTooLongError": "prompts",
    "build_mcq_prompt": "prompts",
    "chat_prompt": "prompts",
    "format_question": "prompts",
    "mmlu_prompt": "prompts",
    "rag_prompt": "prompts",
    "LETTERS": "records",
    "MCQ": "records",
    "Passage": "retrieval",
    "Retriever": "retrieval",
    "available_retrievers": "retrieval",
    "cite": "retrieval",
    "display_page": "retrieval",
    "fuse_rankings": "retrieval",
    "open_retriever": "retrieval",
    "LetterScore": "scoring",
    "generate_letters": "scoring",
    "letter_token_ids": "scoring",
    "score_letters": "scoring",
    "make_tiny_model": "tiny_model",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # static checkers and IDEs see the eager imports
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
