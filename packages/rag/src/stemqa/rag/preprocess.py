"""Text preprocessing (lowercase, stop words, lemmatization) shared by chunks and queries.

The same `Preprocessor` must see both sides: a query lemmatized differently from the chunks
matches nothing in BM25. The stored and displayed text is never touched; only the tokens fed to
BM25 (and, optionally, the text fed to the embedder) are.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stemqa.rag.nltk_data import ensure_wordnet, stopwords_english

STEPS = ("lowercase", "stopwords", "lemmatize")
DEFAULT_STEPS = STEPS
_TOKEN = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)


def parse_steps(value: str | bool | Sequence[str] | None) -> tuple[str, ...]:
    """Normalize a user's preprocessing choice to an ordered tuple of step names.

    Accepts "lowercase,stopwords", ["lemmatize"], "none", "all", True (all) or False/None (none).
    """
    if value is None or value is False:
        return ()
    if value is True:
        return STEPS
    items = value.split(",") if isinstance(value, str) else list(value)
    names = {item.strip().lower() for item in items if item.strip()}
    if names <= {"none", ""}:
        return ()
    if names == {"all"}:
        return STEPS
    unknown = sorted(names - set(STEPS))
    if unknown:
        raise ValueError(
            f"preprocess: unknown step(s) {', '.join(unknown)}; choose from "
            f"{', '.join(STEPS)}, 'all' or 'none'"
        )
    return tuple(step for step in STEPS if step in names)


@functools.lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return stopwords_english()


@functools.lru_cache(maxsize=1)
def _lemmatizer():
    ensure_wordnet()
    from nltk.stem import WordNetLemmatizer

    return WordNetLemmatizer()


@functools.lru_cache(maxsize=500_000)
def _lemma(word: str) -> str:
    # Without a POS tagger (which would need more NLTK data), a noun reading is the safe default:
    # plurals are what hurts term matching most in technical text.
    return _lemmatizer().lemmatize(word)


@dataclass(frozen=True)
class Preprocessor:
    steps: tuple[str, ...] = DEFAULT_STEPS

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", parse_steps(self.steps))
        if "lemmatize" in self.steps:
            _lemmatizer()  # fail early with NltkDataError, not in the middle of an ingest

    @property
    def label(self) -> str:
        return ",".join(self.steps) or "none"

    def tokens(self, text: str) -> list[str]:
        words = _TOKEN.findall(text)
        if "lowercase" in self.steps:
            words = [w.lower() for w in words]
        if "stopwords" in self.steps:
            stop = _stopwords()
            words = [w for w in words if w.lower() not in stop]
        if "lemmatize" in self.steps:
            words = [_lemma(w) for w in words]
        return words

    def text(self, text: str) -> str:
        """The preprocessed text for an embedder (tokens joined by spaces)."""
        if not self.steps:
            return text
        return " ".join(self.tokens(text))

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.tokens(t) for t in texts]
