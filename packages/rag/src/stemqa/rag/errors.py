"""Index errors: each message names the setting, path or server at fault and what to do.

One base class, so that a command line needs a single `except RagIndexError` (exit 2).
"""

from __future__ import annotations


class RagIndexError(ValueError):
    """Base for index errors whose message names the setting or path at fault."""


class IndexConfigError(RagIndexError):
    """A setting is invalid or conflicts with what the index recorded."""


class IndexNotFoundError(RagIndexError, FileNotFoundError):
    """No index at the folder or server named."""


class IndexWriteError(RagIndexError):
    """Writing stopped midway (e.g. the Chroma server died); what was written is kept."""


class IndexLockedError(RagIndexError):
    """Another process is writing to this index and did not finish within the timeout."""
