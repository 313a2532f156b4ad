"""The multiple-choice question record every stemqa package passes around.

Datasets, the app and users write MCQs in many layouts (options in a list, or embedded in the
question text as 'A. …', 'A) …', '(A) …', with or without an 'Options:' header). Parsing them once,
here, means prompts and scoring never have to guess where the options are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

LETTERS = "ABCDEFGHIJ"
MIN_CHOICES = 2
MAX_CHOICES = len(LETTERS)

# One option marker: '(A)' or 'A.' / 'A)' / 'A:' followed by whitespace. At a line start in
# the multi-line layout; after whitespace (or the text start) in the inline layout.
_MARKER = r"(?:\(\s*(?P<p>[A-J])\s*\)|(?P<l>[A-J])[.):])"
_LINE_MARKER = re.compile(rf"^[ \t]*(?:[-*•][ \t]*)?{_MARKER}[ \t]*", re.MULTILINE)
_INLINE_MARKER = re.compile(rf"(?:^|(?<=\s)){_MARKER}\s+")
_HEADER = re.compile(
    r"(?:(?:\n|^)[ \t]*(?:options|choices|answer choices|answers)[ \t]*:?"
    r"|[ \t]+(?:options|choices|answer choices|answers)[ \t]*:)[ \t]*$",
    re.IGNORECASE,
)
_TRAILING_ANSWER = re.compile(
    r"\n\s*(?:correct\s+)?answer\s*:\s*\(?(?P<letter>[A-J])?\)?[^\n]*$", re.IGNORECASE
)


def _answer_index(answer: int | str | None, n_choices: int, where: str) -> int | None:
    if answer is None:
        return None
    if isinstance(answer, bool):  # bool is an int: refuse it explicitly
        raise ValueError(f"{where}: answer must be an index or a letter, got {answer!r}")
    if isinstance(answer, str):
        letter = answer.strip().strip("().").upper()
        if letter.isdigit():
            answer = int(letter)
        elif len(letter) == 1 and letter in LETTERS[:n_choices]:
            return LETTERS.index(letter)
        else:
            raise ValueError(
                f"{where}: answer {answer!r} is not one of the letters {LETTERS[:n_choices]}"
            )
    if not isinstance(answer, int) or not 0 <= answer < n_choices:
        raise ValueError(
            f"{where}: answer index {answer!r} is out of range for {n_choices} choices (0..{n_choices - 1})"
        )
    return answer


@dataclass(frozen=True)
class MCQ:
    """A multiple-choice question: a stem, 2 to 10 options and optionally the right one."""

    question: str
    choices: tuple[str, ...]
    answer: int | None = None
    subject: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        where = f"MCQ from {self.source}" if self.source else "MCQ"
        if isinstance(self.choices, str):
            raise ValueError(f"{where}: choices must be a list of option texts, not one string")
        choices = tuple(str(c).strip() for c in self.choices)
        if not MIN_CHOICES <= len(choices) <= MAX_CHOICES:
            raise ValueError(
                f"{where}: needs {MIN_CHOICES} to {MAX_CHOICES} choices, got {len(choices)}"
            )
        question = str(self.question).strip()
        if not question:
            raise ValueError(f"{where}: the question text is empty")
        object.__setattr__(self, "question", question)
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "answer", _answer_index(self.answer, len(choices), where))

    @property
    def letters(self) -> str:
        return LETTERS[: len(self.choices)]

    @property
    def answer_letter(self) -> str | None:
        return None if self.answer is None else LETTERS[self.answer]

    @classmethod
    def from_text(
        cls,
        text: str,
        *,
        answer: int | str | None = None,
        subject: str | None = None,
        source: str | None = None,
    ) -> MCQ:
        """Parse a question whose options are embedded in the text.

        Accepts one option per line ('A. x', 'A) x', '(A) x', '- A. x') or all on one line
        ('… A) x B) y C) z'), with or without an 'Options:' header. A trailing 'Answer: B' line
        (as in a few-shot prompt) is removed and used as the answer when none is given.
        """
        where = f"question from {source}" if source else "question"
        body = text.replace("\r\n", "\n").strip()
        trailing = _TRAILING_ANSWER.search(body)
        if trailing:
            body = body[: trailing.start()].rstrip()
            if answer is None and trailing.group("letter"):
                answer = trailing.group("letter").upper()
        spans = _option_spans(body, _LINE_MARKER) or _option_spans(body, _INLINE_MARKER)
        if spans is None:
            raise ValueError(
                f"{where}: found no options. Write them as 'A. …', 'A) …' or '(A) …' (at least "
                f"'A' and 'B', in order), or pass the choices as a list. Text: {text[:120]!r}"
            )
        stem = _HEADER.sub("", body[: spans[0][0]].rstrip()).strip()
        choices = []
        for i, (_, start) in enumerate(spans):
            end = spans[i + 1][0] if i + 1 < len(spans) else len(body)
            choices.append(" ".join(body[start:end].split()))
        return cls(stem, tuple(choices), answer=answer, subject=subject, source=source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "choices": list(self.choices),
            "answer": self.answer,
            "subject": self.subject,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MCQ:
        """Inverse of to_dict; ``answer`` may be an index or a letter."""
        missing = [key for key in ("question", "choices") if key not in data]
        if missing:
            raise ValueError(f"MCQ record is missing {', '.join(missing)}: {data!r:.200}")
        return cls(
            question=data["question"],
            choices=tuple(data["choices"]),
            answer=data.get("answer"),
            subject=data.get("subject"),
            source=data.get("source"),
        )


def _option_spans(body: str, pattern: re.Pattern[str]) -> list[tuple[int, int]] | None:
    """(marker start, text start) of the options A, B, C… in order, or None.

    The longest chain wins, and among equals the one starting at the last 'A' marker, so a stem
    that mentions 'vitamin A.' or '(A)' before the real options does not derail the parse.
    """
    markers = [(m.group("p") or m.group("l"), m.start(), m.end()) for m in pattern.finditer(body)]
    best: list[tuple[int, int]] | None = None
    for i, (letter, start, end) in enumerate(markers):
        if letter != "A":
            continue
        chain = [(start, end)]
        expected = 1
        for other, o_start, o_end in markers[i + 1 :]:
            if expected < len(LETTERS) and other == LETTERS[expected]:
                chain.append((o_start, o_end))
                expected += 1
        if len(chain) >= MIN_CHOICES and (best is None or len(chain) >= len(best)):
            best = chain
    return best
