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

This extractor: NFKC-normalises (fullwidth letters, colons and brackets) and maps the CJK
punctuation NFKC keeps ('。', '、', '【】'; '，' ends a clause, as in Chinese writing), strips
markdown emphasis and LaTeX wrappers (``\\boxed``, ``\\text``, ``$``), cuts run-on text at a new
'Question:', and rewrites the answer markers, negations and list words of Chinese, Japanese,
Korean, German, French, Spanish and Russian ('答案是', '正解は', '정답은', 'die Antwort ist',
'la bonne réponse est', 'ответ —'; '不是A', 'Aではなく', 'A가 아니라', 'nicht A', "n'est pas A",
'не A'; 'A还是B', 'AかB', 'A 또는 B') into the English words the grammar below reads. Then:

* negation scopes: a letter, or a list of them ('A or B', 'A, B and C'), is rejected when a
  negation stands right before it ('not A', "can't be A or B", "I don't think it's A", 'rule
  out A', 'C rather than A', 'neither A nor B') or right after it ('A is wrong', 'A and B are
  both incorrect', 'A can be ruled out', 'A ist falsch', 'A неверно', 'A不对'); 'and so is B'
  carries the verdict on. 'not sure' or "can't decide between B and D" negate nothing.
* (1) explicit commitments, before the letter ('answer is/:', 'correct option', 'final answer',
  'I choose', "I'd say", ``\\boxed{}``) or after it ('(b) is correct', 'C is the answer', 'B ist
  richtig'; not after 'whether'/'if', nor with '?') — the last one wins unless a later negation
  withdraws it ('The answer is A. Wait, A is wrong…'); lowercase is accepted after an anchor only
  as a lone letter, after the letter only in brackets; (2) a response that is just a letter,
  decorated or not; (3) a leading letter followed by a separator ('B) …', 'C. …', 'D is
  correct'), unless negated; (4) otherwise the standalone letters mentioned and never negated:
  exactly one distinct letter is the answer, none or several is None ('either A or B', 'not A;
  B or C', '不确定是A还是B'). Everywhere, a letter must stand alone (never a capital inside a word),
  'A'/'I' followed by an ordinary word are read as the article/pronoun, and a letter outside
  ``options`` is rejected.

On the 162-case table in tests/test_core_extract.py this scores 100%, simple-evals' regex 27.8%
and lm-evaluation-harness' filter 37.0% (the version before this one: 70.4%).
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
# CJK punctuation that NFKC leaves alone: the ideographic full stop and comma, lenticular and
# corner brackets. Fullwidth '（）：；？！' are already ASCII after NFKC. The fullwidth comma '，'
# separates clauses in Chinese (lists take '、'), so it becomes ';': in '是C，A和B都是错的' C is
# not part of the list that is negated.
_CJK_PUNCTUATION = str.maketrans(
    {
        "，": "; ",
        "。": ". ",
        "、": ", ",
        "【": "[",
        "】": "]",
        "〔": "[",
        "〕": "]",
        "〖": "[",
        "〗": "]",
        "「": " ",
        "」": " ",
        "『": " ",
        "』": " ",
        "《": " ",
        "》": " ",
    }
)
# Cyrillic capitals that look like option letters; read as letters only right after an answer marker.
_CYRILLIC_LOOKALIKES = str.maketrans("АВСЕ", "ABCE")

# Words that can follow a letter used as an answer ('A is correct', 'B because…', 'A ist falsch').
_LETTER_FOLLOWERS = {
    "is",
    "was",
    "because",
    "since",
    "as",
    "and",
    "or",
    "nor",
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
    "rather",
    # German, French, Spanish copulas and conjunctions after a letter
    "ist",
    "wäre",
    "scheint",
    "und",
    "oder",
    "noch",
    "est",
    "semble",
    "et",
    "ou",
    "ni",
    "soit",
    "ne",
    "n",
    "es",
    "parece",
    "y",
    "o",
    "no",
}
# The pronoun 'I' is followed by verbs, so it gets a much shorter list.
_I_FOLLOWERS = {"is", "because", "since", "and", "or", "as", "alone", "only"}

# A letter that stands alone: not part of a word, a number, a contraction or a LaTeX command.
_ALONE_BEFORE = r"(?<![A-Za-z0-9'’\\])"
_ALONE_AFTER = r"(?![A-Za-z0-9'’])"
# Where a CJK rewrite may apply: right after a standalone letter or its closing bracket ...
_AFTER_LETTER = r"(?:(?<=" + _ALONE_BEFORE + r"[A-Za-z])|(?<=[)\]]))"
# ... or right before one.
_BEFORE_LETTER = r"(?=\s*[(\[]?\s*[A-Za-z]" + _ALONE_AFTER + r")"

# Commitment, negation and list vocabulary of other languages, rewritten into the English words
# the grammar below understands (' answer: ', ' not ', ' is wrong; ', ' is correct ', ' or ').
# Order matters: negations before the positive words they contain ('不正确' before '正确').
_CJK_REWRITES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\[\s*(?:正确答案|正確答案|答案|正解|答え|정답|answer)\s*\]\s*:?"),
        " answer: ",
    ),
    # after the letter: Chinese, Japanese and Korean negations ...
    (
        re.compile(
            _AFTER_LETTER + r"\s*(?:选项|選項|项|項)?\s*(?:都|也|均|亦)?\s*"
            r"(?:不对|不對|不正确|不正確|是错的|是錯的|错误|錯誤|错了|錯了"
            r"|不是正确答案|不是正確答案|不是答案|可以排除|被排除)"
        ),
        " is wrong; ",
    ),
    (
        re.compile(
            _AFTER_LETTER
            + r"\s*(?:は|も)?\s*(?:ではなく|ではない|ではありません|でもなく|でもない|じゃなく|じゃない"
            r"|正しくない|正しくありません|間違い|誤り|不正解|違います|違う)"
        ),
        " is wrong; ",
    ),
    (
        re.compile(
            _AFTER_LETTER
            + r"\s*(?:[가이는은도]\s*)?(?:아니|아닙|아닌|틀리|틀렸|틀린|틀립|틀려|오답)\w*"
        ),
        " is wrong; ",
    ),
    # ... and commitments
    (
        re.compile(
            _AFTER_LETTER + r"\s*(?:选项|選項|项|項)?\s*(?:(?:才|就)?是|为|為)?\s*"
            r"(?:(?:正确|正確|对|對|最佳)的?(?:答案|选项|選項)?|(?<=是)答案)"
        ),
        " is correct ",
    ),
    (re.compile(_AFTER_LETTER + r"\s*(?:が|は|こそ)\s*(?:正解|正しい|答え)"), " is correct "),
    (re.compile(_AFTER_LETTER + r"\s*(?:[가이는은]\s*)?(?:정답|맞|옳)\w*"), " is correct "),
    # lists between two letters: 'A还是B', 'AかB', 'A와 B', 'A인지 B인지'
    (
        re.compile(
            _AFTER_LETTER
            + r"\s*(?:还是|還是|或者|或是|或|和|与|與|跟|以及|及|または|それとも|でも|か|と|や"
            r"|또는|혹은|아니면|이나|인지|와|과|나)\s*" + _BEFORE_LETTER
        ),
        " or ",
    ),
    # before the letter: negations, answer markers, choosing
    (
        re.compile(
            r"(?:而不是|并不是|並不是|不是|并非|並非|而非|不会是|不會是|不可能是|不选|不選|排除了?)"
        ),
        " not ",
    ),
    (
        re.compile(
            r"(?:正确|正確|最终|最終|最佳)?的?(?:答案|(?<=[确確终終佳的])(?:选项|選項))\s*"
            r"(?:应该|應該|应|應|就|则|則)?\s*(?:是|为|為)?"
        ),
        " answer: ",
    ),
    (re.compile(r"选项|選項"), " option "),
    (re.compile(r"(?:选择|選擇|选|選)\s*:?" + _BEFORE_LETTER), " I choose "),
    (re.compile(r"(?:正しい答え|正しいの|正解|答え|解答)\s*(?:は|:)"), " answer: "),
    (re.compile(r"(?<![가-힣])(?:정답|답)\s*(?:은|는|:)"), " answer: "),
]
# Only texts with CJK characters need the rewrites above (they are most of the cost).
_CJK_TEXT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_WESTERN_REWRITES: list[tuple[re.Pattern[str], str]] = [
    # German, French, Spanish, Russian answer markers and choosing verbs
    (
        re.compile(
            r"(?<![^\W\d_])(?:(?:die\s+)?(?:richtige|korrekte|beste)\s+(?:antwort|option|wahl)"
            r"|antwort|l[öo]sung)(?:\s+(?:ist|lautet|wäre))?"
            r"|(?:(?:la\s+)?(?:bonne|meilleure)\s+(?:r[ée]ponse|option)|r[ée]ponse"
            r"(?:\s+(?:correcte|juste|exacte|finale))?|option\s+correcte)(?:\s+(?:est|serait))?"
            r"|(?:(?:la\s+)?(?:respuesta|opci[óo]n)(?:\s+(?:correcta|final))?|la\s+correcta)"
            r"(?:\s+(?:es|ser[íi]a))?"
            r"|(?:(?:правильный|верный)\s+(?:ответ|вариант)|ответ)(?:\s*(?:[—–-]|это|будет))?"
            r"(?![^\W\d_])",
            re.IGNORECASE,
        ),
        " answer: ",
    ),
    (
        re.compile(
            r"(?<![^\W\d_])(?:ich\s+(?:wähle|nehme)|je\s+(?:choisis|prends|dirais)"
            r"|elijo|escojo|me\s+quedo\s+con|dir[íi]a|(?:я\s+)?выбираю)(?![^\W\d_])",
            re.IGNORECASE,
        ),
        " I choose ",
    ),
]

_ANCHOR = (
    r"(?<![A-Za-z])(?:"
    r"(?:final|correct|right|best|true)\s+(?:answer|option|choice|response)"
    r"|answer(?:\s+choice)?"
    r"|I(?:\s+would|\s+will|['’]d|['’]ll)?\s+(?:choose|pick|select|go\s+(?:with|for)|say)"
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
    + r"(?P<open>[(\[])?\s*(?P<letter>[A-Za-zАВСЕ])\s*(?P<close>[)\]])?(?=(?P<after>.{0,20}))",
    re.IGNORECASE | re.DOTALL,
)
# A commitment after the letter: '(b) is correct', 'C is the answer', 'B ist richtig', 'B — верно'.
_COMMITTED = re.compile(
    _ALONE_BEFORE
    + r"(?P<open>[(\[])?\s*(?P<letter>[A-Za-z])\s*(?P<close>[)\]])?"
    + _ALONE_AFTER
    + r"(?=\s*(?:is|must\s+be|has\s+to\s+be|should\s+be|ist|est|es|[—–-])\s+"
    r"(?:(?:definitely|clearly|certainly|obviously|surely|indeed|probably|likely|eindeutig"
    r"|sicher|bien|clairement|claramente|definitivamente|точно|явно)\s+)?"
    r"(?:(?:the\s+)?(?:(?:only\s+)?(?:correct|right|true|best)(?:\s+(?:answer|option|choice|one))?"
    r"|answer)|richtig|korrekt|die\s+(?:richtige|korrekte)\s+antwort|correcte?|juste|vraie?"
    r"|la\s+bonne(?:\s+r[ée]ponse)?|la\s+r[ée]ponse|correct[ao]|verdader[ao]"
    r"|la\s+(?:respuesta\s+)?correcta|la\s+respuesta(?:\s+correcta)?|верн\w*|правильн\w*)"
    r"(?![A-Za-z])(?P<after>.{0,20}))",
    re.IGNORECASE | re.DOTALL,
)
# A commitment inside a condition or a question is not one: 'not sure whether (b) is correct'.
_HEDGED_BEFORE = re.compile(r"(?:whether|if|unless|suppose|assuming|ob|si|wenn)\s+(?:option\s+)?$")
_LONE = re.compile(r"^\s*[(\[]?\s*(?P<letter>[A-Za-z])\s*[)\]]?\s*[.:!]?\s*$")
_LEADING = re.compile(
    r"^\s*(?:(?P<open>[(\[])\s*(?P<l1>[A-Z])\s*[)\]]|(?P<l2>[A-Z])(?P<sep>[.):,;\-–—]|\s|$))(?=(?P<after>.{0,20}))",
    re.DOTALL,
)
_MENTION = re.compile(
    _ALONE_BEFORE + r"(?P<letter>[A-Z])" + _ALONE_AFTER + r"(?=(?P<after>.{0,20}))"
)
_CONNECTOR = (
    r"(?:,?\s*\b(?:and|or|nor|und|oder|noch|et|ou|soit|y|o|ni|и|или|либо|ни)\b|,|/|&)"
    r"(?:\s+(?:maybe|perhaps|possibly|even|also|vielleicht|peut-être|quizás|tal\s+vez))?"
)
_LIST_AFTER = re.compile(
    r"^\s*[)\]]?\s*" + _CONNECTOR + r"\s*(?:option\s+)?[(\[]?\s*[A-Z]" + _ALONE_AFTER, re.IGNORECASE
)
# What may stand between two letters of one list: 'A, B and C', 'A or maybe (C)', 'A/B'.
_JOINER = re.compile(r"^\s*[)\]]?\s*" + _CONNECTOR + r"\s*(?:option\s+)?[(\[]?\s*$", re.IGNORECASE)
# A negation whose scope starts at the next letter: 'not A', "can't be A or B", 'nicht A',
# "n'est pas A", 'no es A', 'не A', 'rule out A', "I don't think it's A", 'C rather than A'.
_NEGATION_BEFORE = re.compile(
    r"(?:(?<![^\W\d_])(?:not|never|neither|nor|cannot|nicht|weder|noch|pas|jamais|ni|no|не|ни"
    r"|rule\s+out|ruled\s+out|ruling\s+out|eliminate|eliminating|exclude|excluding"
    r"|rather\s+than|instead\s+of|statt|anstatt|plutôt\s+que|en\s+lugar\s+de|вместо)|n['’]t)"
    r"\s+(?:(?:be|is|it|it's|it’s|its|that|this|the|option|choice|answer|letter|just|simply|even"
    r"|necessarily|really|quite|think|believe|say|ist|es|est|c'est|la|le|l'option|die|der|das|el"
    r"|opción|opcion|вариант|это)\s+){0,3}[(\[]?\s*$",
    re.IGNORECASE,
)
# An ellipsis that repeats the previous letter's verdict: 'A is wrong, and so is B'.
_SO_TOO = re.compile(
    r"\b(?:and\s+)?(?:so|neither|nor)\s+(?:is|are|can|does|do|was|would)\s+(?:option\s+)?[(\[]?\s*$",
    re.IGNORECASE,
)
# A negation right after the letter (or a list of them): 'A is wrong', 'A and B are both wrong',
# 'A can be ruled out', 'A ist falsch', "A n'est pas correcte", 'A es incorrecta', 'A неверно',
# and the CJK forms rewritten to ' is wrong; '. 'A is not wrong' is not one.
_NEGATION_AFTER = re.compile(  # used with .match(body, pos)
    r"\s*[)\]]?\s*(?:(?:is|are|was|were|seems|seem|looks|can\s+be|could\s+be|must\s+be"
    r"|should\s+be|ist|sind|est|sont|es|son|[—–:-])\s+)?"
    r"(?:(?:also|both|all|clearly|definitely|obviously|certainly|surely|simply|just|alle|beide"
    r"|auch|eindeutig|aussi|clairement|también|ambas|ambos|claramente|тоже|также|оба|явно)\s+)?"
    r"(?:(?:not|isn['’]t|aren['’]t|wasn['’]t|can['’]t\s+be|cannot\s+be)(?!\s+(?:wrong|incorrect|false)\b)"
    r"|wrong|incorrect|false|out|ruled\s+out|eliminated|excluded|impossible|unlikely|doubtful"
    r"|implausible|a\s+(?:distractor|trap)|fails|doesn['’]t\s+(?:work|fit|hold|apply)"
    r"|falsch|nicht|ausgeschlossen|faux|fausse|incorrecte?|exclue?|n['’]est\s+pas"
    r"|incorrect[ao]|fals[ao]|erróne[ao]|descartad[ao]|no\s+es"
    r"|неверн\w*|неправильн\w*|ошибочн\w*|исключ\w*|не)(?![^\W\d_])",
    re.IGNORECASE,
)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text.translate(_CJK_PUNCTUATION))
    cut = _RUN_ON.search(text)
    if cut and cut.start() > 0:
        text = text[: cut.start()]
    for _ in range(3):  # nested wrappers: \boxed{\text{(C)}}
        text = _LATEX_WRAPPER.sub(r"\1", text)
        # \boxed{} is how models commit to a final answer: make it an explicit anchor.
        text = _LATEX_BOXED.sub(r"\nFinal answer: \1\n", text)
    text = _LATEX_DELIMITERS.sub(" ", text)
    text = _MARKDOWN.sub("", text)
    rewrites = _CJK_REWRITES + _WESTERN_REWRITES if _CJK_TEXT.search(text) else _WESTERN_REWRITES
    for pattern, english in rewrites:
        text = pattern.sub(english, text)
    return text


def _is_word(letter: str, after: str) -> bool:
    """True when 'A'/'I' reads as the article/pronoun: followed by an ordinary word or "'"."""
    if letter not in "AI":
        return False
    if after[:1] in ("'", "’"):
        return True
    match = re.match(r"\s+([a-zäöüßéèêàçñóíú]+)", after)
    if not match:
        return False
    allowed = _I_FOLLOWERS if letter == "I" else _LETTER_FOLLOWERS
    return match.group(1) not in allowed


def _check_options(options: str) -> str:
    if not options or not options.isalpha() or not options.isupper():
        raise ValueError(f"options must be upper-case letters such as 'ABCD', got {options!r}")
    return options


def _mentions(body: str) -> list[re.Match[str]]:
    """Standalone capital letters, without the article 'A' and the pronoun 'I'."""
    return [m for m in _MENTION.finditer(body) if not _is_word(m.group("letter"), m.group("after"))]


def _negated(body: str, mentions: list[re.Match[str]]) -> list[bool]:
    """Per mention: is it inside a negation's scope?

    Letters joined by list words form one group ('A or B', 'A, B and C'; commas alone do not,
    so 'So B, A is wrong' negates only A), and a negation just before a group's first letter or
    just after its last one covers the whole group: "can't be A or B", 'A and B are wrong'.
    """
    groups: list[list[int]] = []
    for i in range(len(mentions)):
        if i and _joins(body, mentions, i):
            groups[-1].append(i)
        else:
            groups.append([i])
    negated = [False] * len(mentions)
    for group in groups:
        first, last = mentions[group[0]], mentions[group[-1]]
        if _NEGATION_BEFORE.search(body[max(0, first.start() - 60) : first.start()]) or (
            _NEGATION_AFTER.match(body, last.end())
        ):
            for i in group:
                negated[i] = True
    for i in range(1, len(mentions)):
        if negated[i - 1] and _SO_TOO.search(body[mentions[i - 1].end() : mentions[i].start()]):
            negated[i] = True
    return negated


def _joins(body: str, mentions: list[re.Match[str]], i: int) -> bool:
    """Whether mention i continues the list of mention i-1.

    A list word ('or', 'and', 'oder', 'или', …) or '/' joins; a bare comma joins only when a
    list word follows later in the same run: 'A, B or C' is a list, 'So B, A is wrong' is not.
    """
    for j in range(i, len(mentions)):
        between = body[mentions[j - 1].end() : mentions[j].start()]
        if not _JOINER.match(between):
            return False
        if between.strip(" ()[]") != ",":
            return True
    return False


def _committed(body: str) -> list[tuple[int, str]]:
    """(position, letter) of every explicit commitment, before or after the letter."""
    found: list[tuple[int, str]] = []
    for m in _ANCHORED.finditer(body):
        letter, after = m.group("letter"), m.group("after")
        bracketed = bool(m.group("open") and m.group("close"))
        if _LIST_AFTER.match(after):  # 'the answer is A or B': no commitment
            continue
        if re.match(r"[A-Za-z0-9\u0400-\u04ff]", after):
            continue
        if letter in "АВСЕ":
            letter = letter.translate(_CYRILLIC_LOOKALIKES)
        elif letter.islower():
            # 'answer is a combination…': lowercase counts only as a lone letter.
            if not (bracketed or re.match(r"\s*(?:[.,;:!)]|$)", after)):
                continue
            letter = letter.upper()
        elif not bracketed and _is_word(letter, after):
            continue
        found.append((m.start("letter"), letter))
    for m in _COMMITTED.finditer(body):
        letter = m.group("letter")
        if letter.islower() and not (m.group("open") or m.group("close")):
            continue  # 'a is …' in prose; lowercase only as '(b)' or 'b)'
        if _HEDGED_BEFORE.search(body[max(0, m.start() - 20) : m.start()]):
            continue
        if re.match(r"[^.;!\n]*\?", m.group("after")) or _LIST_AFTER.match(m.group("after")):
            continue
        found.append((m.start("letter"), letter.upper()))
    return sorted(found)


def extract_letter(text: str, options: str = "ABCD") -> str | None:
    """The option letter the response commits to, or None (no letter, or several)."""
    options = _check_options(options)
    if not text:
        return None
    body = _normalise(text)
    mentions = _mentions(body)
    negated = _negated(body, mentions)
    rejected = {m.group("letter") for m, neg in zip(mentions, negated, strict=True) if neg}

    committed = _committed(body)
    # A commitment withdrawn later ('The answer is A. Wait, A is wrong…') no longer counts.
    kept = [
        letter
        for pos, letter in committed
        if not any(
            neg and m.group("letter") == letter and m.start() > pos
            for m, neg in zip(mentions, negated, strict=True)
        )
    ]
    if kept:
        return kept[-1] if kept[-1] in options else None

    lone = _LONE.match(body)
    if lone:
        letter = lone.group("letter").upper()
        return letter if letter in options else None

    lead = _LEADING.match(body)
    if lead:
        letter = lead.group("l1") or lead.group("l2")
        after = lead.group("after")
        listed = _LIST_AFTER.match(after) or (
            lead.group("sep") == "," and re.match(r"\s*\(?[A-Z]" + _ALONE_AFTER, after)
        )
        word = (
            lead.group("l2")
            and lead.group("sep") in (" ", "\n", "\t")
            and _is_word(letter, " " + after)
        )
        if not listed and not word and letter not in rejected and letter in options:
            return letter

    # Otherwise: the one letter mentioned and never negated; none or several is no answer.
    left = {m.group("letter") for m in mentions if m.group("letter") in options} - rejected
    return left.pop() if len(left) == 1 else None
