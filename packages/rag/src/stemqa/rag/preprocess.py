"""Text preprocessing (lowercase, stop words, lemmatization) shared by chunks and queries.

The same `Preprocessor` must see both sides: a query lemmatized differently from the chunks
matches nothing in BM25. That is why lemmatization runs on data shipped with the package
(WordNet 3.0's noun lemmas and exceptions, see data/NOTICE.md) and never depends on what a
machine has installed: every machine lemmatizes every index and query the same way, offline.
The stored and displayed text is never touched; only the tokens fed to BM25 (and, optionally,
the text fed to the embedder) are.
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from stemqa.rag.nltk_data import stopwords_english

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


#: WordNet's noun rules (NLTK's WordNetCorpusReader.MORPHOLOGICAL_SUBSTITUTIONS["n"]).
NOUN_RULES = (
    ("s", ""),
    ("ses", "s"),
    ("ves", "f"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
)
LEMMATIZER = "wordnet-3.0-noun"  # what the shipped data is: recorded with every index's steps


@functools.lru_cache(maxsize=1)
def _noun_data() -> tuple[frozenset[str], dict[str, list[str]]]:
    """WordNet 3.0's noun lemmas and noun exceptions, shipped with stemqa-rag (531 KB gzip).

    Lemmatization used to need NLTK's WordNet corpus at run time (Debian's wordnet-base or a
    download), so an offline machine without it could not open an index. Nouns are all the
    lemmatizer uses (no POS tagger), so the noun index and exception list are all it needs.
    """
    folder = resources.files("stemqa.rag").joinpath("data/wordnet")
    lemmas = gzip.decompress(folder.joinpath("noun_lemmas.txt.gz").read_bytes()).decode()
    exceptions: dict[str, list[str]] = {}
    for line in gzip.decompress(folder.joinpath("noun.exc.gz").read_bytes()).decode().splitlines():
        terms = line.split()
        if terms:
            exceptions[terms[0]] = terms[1:]
    return frozenset(lemmas.split()), exceptions


@functools.lru_cache(maxsize=500_000)
def _lemma(word: str) -> str:
    """NLTK's `WordNetLemmatizer().lemmatize(word)` (noun), computed from the shipped data.

    Same algorithm as nltk's `_morphy`: the exception list, else each suffix rule applied once;
    keep the candidates (and the word itself) that are WordNet nouns; return the shortest.
    Without a POS tagger (which would need more NLTK data), a noun reading is the safe default:
    plurals are what hurts term matching most in technical text.
    """
    lemmas, exceptions = _noun_data()
    if word in exceptions:
        forms = exceptions[word]
    else:
        forms = [word[: -len(old)] + new for old, new in NOUN_RULES if word.endswith(old)]
    found: list[str] = []
    for form in [word, *forms]:
        if form in lemmas and form not in found:
            found.append(form)
    return min(found, key=len) if found else word


@dataclass(frozen=True)
class Preprocessor:
    steps: tuple[str, ...] = DEFAULT_STEPS

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", parse_steps(self.steps))

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
