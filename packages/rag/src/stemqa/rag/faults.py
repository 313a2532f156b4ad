"""Fault injection points for the crash tests (tests/test_rag_faults.py).

The crash-safety promises (docs/RELIABILITY.md) are about states between writes, so the tests
kill the ingest at exact points counted in chunks, not after a wall-clock delay that a loaded
machine would turn into a different point each run. Set ``STEMQA_FAULT`` in a subprocess:

- ``kill-after-chunks:N``: SIGKILL this process once N chunks have been stored;
- ``kill-after-commit:N``: SIGKILL it right after the N-th file commit (new version visible,
  the old version's chunks not yet deleted);
- ``kill-mid-export``: SIGKILL it when the ONNX export of the embedder is written to its
  temporary file but not yet moved into place (onnx_embedding.py);
- ``pause-mid-export:PATH``: at that same point, wait until PATH exists (the test starts a
  second exporter meanwhile, which must wait for this one instead of exporting too).

Unset (always, outside tests) the hooks cost one dict lookup per batch.
"""

from __future__ import annotations

import os
import signal
import time

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


def onnx_exported() -> None:
    """Called when an ONNX export is complete in its temporary file, before it is moved in place."""
    spec = os.environ.get(ENV, "")
    if spec == "kill-mid-export":
        _die()
    name, _, flag = spec.partition(":")
    if name == "pause-mid-export" and flag:
        while not os.path.exists(flag):
            time.sleep(0.05)
