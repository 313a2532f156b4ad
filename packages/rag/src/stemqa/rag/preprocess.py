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
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from stemqa.rag.nltk_data import stopwords_english

STEPS = ("lowercase", "stopwords", "lemmatize")
#: Steps a user may add by name but that "all" does not include (measured, not defaults).
EXTRA_STEPS = ("bigrams",)
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
    if "all" in names:  # "all" is the three default steps; extras are named beside it
        names = (names - {"all"}) | set(STEPS)
    known = (*STEPS, *EXTRA_STEPS)
    unknown = sorted(names - set(known))
    if unknown:
        raise ValueError(
            f"preprocess: unknown step(s) {', '.join(unknown)}; choose from "
            f"{', '.join(known)}, 'all' or 'none'"
        )
    return tuple(step for step in known if step in names)


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
        if "bigrams" in self.steps:
            # Adjacent pairs as extra terms ("partition_function"): phrase matches score higher.
            words = words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]
        return words

    def text(self, text: str) -> str:
        """The preprocessed text for an embedder (tokens joined by spaces)."""
        if not self.steps:
            return text
        return " ".join(self.tokens(text))

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.tokens(t) for t in texts]


#: Question boilerplate that names no topic (MCQ and exam phrasing); general phrases only.
_BOILERPLATE = re.compile(
    r"|".join(
        (
            r"\bwhich (?:one )?of the following(?: (?:statements?|options?|answers?))?",
            r"\b(?:is|are) (?:called|known as|referred to as|termed)\b",
            r"\baccording to the (?:text|passage|notes|lecture|document|course)\b",
            r"\b(?:best|correctly) (?:describes?|explains?)\b",
            r"\b(?:is|are) (?:true|correct|false|incorrect)\b",
            r"^\s*(?:please\s+)?(?:state|explain|describe|give)\b",
        )
    ),
    re.IGNORECASE,
)


def strip_boilerplate(query: str) -> str:
    """The query without question boilerplate ("Which of the following", "is called", ...).

    For both retrieval sides: the phrases carry no topic, so they only add noise to the query
    vector and BM25 terms ("following", "called") that match unrelated chunks. A query that
    is nothing but boilerplate is returned unchanged.
    """
    cleaned = " ".join(_BOILERPLATE.sub(" ", query).split())
    return cleaned if _TOKEN.search(cleaned) else query


#: What `context_header` may put before a chunk: the document's title, the page's first line.
CONTEXT_PARTS = ("title", "heading")


def document_title(source: str) -> str:
    """A readable title from a file name: "PHY202_Statistical_Mechanics.pdf" ->
    "PHY202 Statistical Mechanics" (course PDFs carry no usable Title metadata)."""
    stem = source.rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return " ".join(re.split(r"[_\s]+", stem.replace("-", " "))).strip()


def context_header(source: str, page_text: str, parts: Sequence[str] = CONTEXT_PARTS) -> str:
    """A short prefix for what is embedded/BM25-indexed for a chunk ("contextual retrieval").

    A 500-character chunk of a derivation often names neither the subject nor the topic; the
    document title and the page's first line (usually its heading) put them back. Only the
    embedded and tokenized input gets it; the stored, shown and prompted chunk stays plain.
    """
    out = []
    if "title" in parts:
        out.append(document_title(source))
    if "heading" in parts:
        first = next((line.strip() for line in page_text.splitlines() if line.strip()), "")
        if first:
            out.append(first[:80])
    return (". ".join(out) + "\n") if out else ""
