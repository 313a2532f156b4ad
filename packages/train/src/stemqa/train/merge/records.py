"""The one record type every schema normaliser produces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Pair:
    """One preference pair; `row` is its 0-based row in the source, for error messages."""

    prompt: str
    chosen: str
    rejected: str
    system: str = ""
    history: tuple[tuple[str, str], ...] = ()  # earlier (role, content) turns before `prompt`
    row: int = 0

    def prompt_key(self) -> tuple:
        """What the model sees before answering: the unit for per-prompt caps and splits."""
        return (self.system, self.history, self.prompt)

    def key(self) -> tuple:
        return (self.system, self.history, self.prompt, self.chosen, self.rejected)


@dataclass(slots=True)
class Dropped:
    """A candidate pair removed before merging, with the reason that goes into the stats."""

    reason: str
    row: int
    detail: str = ""


class MergeError(Exception):
    """Base of the errors `merge-datasets` reports as a one-line message instead of a traceback."""


class RowError(ValueError):
    """A row that does not follow its schema; it is skipped and counted as malformed."""
