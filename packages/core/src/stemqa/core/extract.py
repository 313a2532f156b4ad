"""Read the one option letter a model committed to in free text — or admit there is none.

Generated answers are messy: 'B)', '(B)', '**C**', 'Answer: B', 'The answer is C.', '$\\boxed{D}$',
'answer: b', fullwidth 'Ｃ', or a correct letter followed by a hallucinated next 'Question:'.
A wrong extraction silently turns a right answer into a wrong one (or worse, the reverse), so
when a response names several letters without committing, we return None instead of guessing.

How the common extractors fail, and what this one does instead
---------------------------------------------------------------
* lm-evaluation-harness (``mmlu_generative``): keeps the first line, strips whitespace and
  compares it to the gold letter with punctuation and case ignored. 'The answer is C.' and
  'Answer: B' never match; 'A car moves…' is not a letter but cannot be read either.
* openai/simple-evals (``ANSWER_PATTERN_MULTICHOICE = (?i)Answer[ \\t]*:[ \\t]*\\$?([A-D])\\$?``):
  needs the 'Answer:' anchor, so a bare 'B', '(B)', 'The answer is C.' or 'Answer: **C**' give
  nothing; being case-insensitive and boundary-free it reads 'Answer: A careful look…' as A and
  'Answer: Both' as B.
* lighteval (``IndicesExtractionConfig``): prioritised regexes (final answer is / answer: /
  start of text / start of line). The start-of-text rule takes the article of 'A ball is
  thrown…' as the answer A, '\\boxed{C}' is not understood, lowercase letters after an anchor and
  fullwidth letters are missed, and the lazy 'answer.{0,50}?' anchor reads 'The answer is not A,
  it is C' as A.
* OpenCompass (``first_option_postprocess``): a long list of (mostly Chinese) anchors, then
  'cushion' patterns ending with ``[ABCD]`` — any capital anywhere — so 'Because…' is B,
  'Deep learning…' is D, and an undecided 'A or B' is A.

This extractor: NFKC-normalises (fullwidth letters and colons), strips markdown emphasis and
LaTeX wrappers (``\\boxed``, ``\\text``, ``$``), cuts run-on text at a new 'Question:', then tries
in order (1) explicit commitments ('answer is/:', 'correct option', 'final answer', 'I choose',
``\\boxed{}``) — the last one wins, and lowercase is accepted only there and only as a lone
letter; (2) a response that is just a letter, decorated or not; (3) a leading letter followed
by a separator ('B) …', 'C. …', 'D is correct'); (4) otherwise the standalone letters mentioned:
exactly one distinct letter is the answer, several is None. Everywhere, a letter must stand
alone (never a capital inside a word), 'A'/'I' followed by an ordinary word are read as the
article/pronoun, and a letter outside ``options`` is rejected.
"""

from __future__ import annotations

import re
import unicodedata

_RUN_ON = re.compile(
    r"\n\s*(?:#+\s*)?(?:question|q\d*|problem|exercise)\s*\d*\s*[:.)]", re.IGNORECASE
)
_LATEX_WRAPPER = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|fbox)\s*\{([^{}]*)\}")
_LATEX_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")
_LATEX_DELIMITERS = re.compile(r"\\[()\[\]]|\$")
_MARKDOWN = re.compile(r"\*\*|__|\*|`+|~~")
# Words that can follow a letter used as an answer ('A is correct', 'B because…').
_LETTER_FOLLOWERS = {
    "is",
    "was",
    "because",
    "since",
    "as",
    "and",
    "or",
    "seems",
    "appears",
    "looks",
    "would",
    "should",
    "must",
    "could",
    "can",
    "will",
    "has",
    "only",
    "alone",
    "then",
    "here",
    "with",
    "from",
    "for",
}
# The pronoun 'I' is followed by verbs, so it gets a much shorter list.
_I_FOLLOWERS = {"is", "because", "since", "and", "or", "as", "alone", "only"}

_ANCHOR = (
    r"(?<![A-Za-z])(?:"
    r"(?:final|correct|right|best|true)\s+(?:answer|option|choice|response)"
    r"|answer(?:\s+choice)?"
    r"|I\s+(?:would\s+|will\s+|'d\s+|'ll\s+)?(?:choose|pick|select|go\s+with)"
    r")"
)
_CONNECT = (
    r"(?:\s*(?:is|was|would\s+be|should\s+be|will\s+be|must\s+be|=|:|-|–|—)){0,2}"
    r"\s*(?:therefore|thus|then|clearly|definitely|probably|likely)?"
    r"\s*(?:option|choice|letter)?\s*:?\s*"
)
_ANCHORED = re.compile(
    _ANCHOR
    + _CONNECT
    + r"(?P<open>[(\[])?\s*(?P<letter>[A-Za-z])\s*(?P<close>[)\]])?(?=(?P<after>.{0,20}))",
    re.IGNORECASE | re.DOTALL,
)
_LONE = re.compile(r"^\s*[(\[]?\s*(?P<letter>[A-Za-z])\s*[)\]]?\s*[.:!]?\s*$")
_LEADING = re.compile(
    r"^\s*(?:(?P<open>[(\[])\s*(?P<l1>[A-Z])\s*[)\]]|(?P<l2>[A-Z])(?P<sep>[.):,;\-–—]|\s|$))(?=(?P<after>.{0,20}))",
    re.DOTALL,
)
_MENTION = re.compile(
    r"(?<![A-Za-z0-9'’\\])(?P<letter>[A-Z])(?![A-Za-z0-9'’])(?=(?P<after>.{0,20}))", re.DOTALL
)
_LIST_AFTER = re.compile(r"^\s*(?:,|/|&|\band\b|\bor\b)\s*\(?[A-Z]\b")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    cut = _RUN_ON.search(text)
    if cut and cut.start() > 0:
        text = text[: cut.start()]
    for _ in range(3):  # nested wrappers: \boxed{\text{(C)}}
        text = _LATEX_WRAPPER.sub(r"\1", text)
        # \boxed{} is how models commit to a final answer: make it an explicit anchor.
        text = _LATEX_BOXED.sub(r"\nFinal answer: \1\n", text)
    text = _LATEX_DELIMITERS.sub(" ", text)
    return _MARKDOWN.sub("", text)


def _is_word(letter: str, after: str) -> bool:
    """True when 'A'/'I' reads as the article/pronoun: followed by an ordinary word or "'"."""
    if letter not in "AI":
        return False
    if after[:1] in ("'", "’"):
        return True
    match = re.match(r"\s+([a-z]+)", after)
    if not match:
        return False
    allowed = _I_FOLLOWERS if letter == "I" else _LETTER_FOLLOWERS
    return match.group(1) not in allowed


def _check_options(options: str) -> str:
    if not options or not options.isalpha() or not options.isupper():
        raise ValueError(f"options must be upper-case letters such as 'ABCD', got {options!r}")
    return options


def extract_letter(text: str, options: str = "ABCD") -> str | None:
    """The option letter the response commits to, or None (no letter, or several)."""
    options = _check_options(options)
    if not text:
        return None
    body = _normalise(text)

    anchored: list[str] = []
    for m in _ANCHORED.finditer(body):
        letter, after = m.group("letter"), m.group("after")
        bracketed = bool(m.group("open") and m.group("close"))
        if _LIST_AFTER.match(after):  # 'the answer is A or B': no commitment
            continue
        if letter.islower():
            # 'answer is a combination…': lowercase counts only as a lone letter.
            if not (bracketed or re.match(r"\s*(?:[.,;:!)]|$)", after)):
                continue
            letter = letter.upper()
        elif re.match(r"[A-Za-z0-9]", after) or (not bracketed and _is_word(letter, after)):
            continue
        anchored.append(letter)
    if anchored:
        return anchored[-1] if anchored[-1] in options else None

    lone = _LONE.match(body)
    if lone:
        letter = lone.group("letter").upper()
        return letter if letter in options else None

    lead = _LEADING.match(body)
    if lead:
        letter = lead.group("l1") or lead.group("l2")
        after = lead.group("after")
        listed = _LIST_AFTER.match(after) or (
            lead.group("sep") == "," and re.match(r"\s*\(?[A-Z]\b", after)
        )
        word = (
            lead.group("l2")
            and lead.group("sep") in (" ", "\n", "\t")
            and _is_word(letter, " " + after)
        )
        if not listed and not word and letter in options:
            return letter

    mentioned = {
        m.group("letter")
        for m in _MENTION.finditer(body)
        if m.group("letter") in options and not _is_word(m.group("letter"), m.group("after"))
    }
    return mentioned.pop() if len(mentioned) == 1 else None
