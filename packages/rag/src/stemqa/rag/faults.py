"""Fault injection points for the crash tests (tests/test_rag_faults.py).

The crash-safety promises (docs/RELIABILITY.md) are about states between writes, so the tests
kill the ingest at exact points counted in chunks, not after a wall-clock delay that a loaded
machine would turn into a different point each run. Set ``STEMQA_FAULT`` in a subprocess:

- ``kill-after-chunks:N``: SIGKILL this process once N chunks have been stored;
- ``kill-after-commit:N``: SIGKILL it right after the N-th file commit (new version visible,
  the old version's chunks not yet deleted).

Unset (always, outside tests) the hooks cost one dict lookup per batch.
"""

from __future__ import annotations

import os
import signal

ENV = "STEMQA_FAULT"
_commits = 0


def _planned(kind: str) -> int | None:
    spec = os.environ.get(ENV, "")
    name, _, count = spec.partition(":")
    return int(count) if name == kind and count.isdigit() else None


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def chunks_written(total: int) -> None:
    """Called after every stored batch with the chunks stored so far in this run."""
    limit = _planned("kill-after-chunks")
    if limit is not None and total >= limit:
        _die()


def file_committed(source: str) -> None:
    """Called after a file's new version became the visible one."""
    global _commits
    limit = _planned("kill-after-commit")
    if limit is None:
        return
    _commits += 1
    if _commits >= limit:
        _die()
