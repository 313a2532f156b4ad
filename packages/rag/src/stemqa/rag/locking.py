"""One writer per index folder, across processes (filelock), and readers that never wait.

Two `rag-ingest` runs on one folder would each embed every file and interleave their commits.
The writer lock is a real file lock (filelock: fcntl on Linux, released by the kernel when a
process dies, so a kill -9 never leaves it stuck). A second writer prints one line saying who
holds it and waits up to `timeout` seconds, then fails with a message saying what to do.
Readers never take it; they only *try* it (no wait) to decide whether they may save a rebuilt
BM25 index.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from filelock import FileLock, Timeout

from stemqa.rag.errors import IndexLockedError

log = logging.getLogger(__name__)

#: Seconds a second writer waits before giving up (rag-ingest --lock-timeout).
DEFAULT_LOCK_TIMEOUT = 600.0


class WriterLock:
    def __init__(self, path: Path, where: str, timeout: float | None = DEFAULT_LOCK_TIMEOUT):
        self.path = path
        self.where = where
        self.timeout = timeout
        self._lock = FileLock(str(path), thread_local=False)
        self._owner = path.with_name(path.name + ".owner")

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now (this process is the writer)."""
        return self._lock.is_locked

    def holder(self) -> str:
        """Who holds the lock, as recorded by the holder (best effort)."""
        try:
            info = json.loads(self._owner.read_text())
        except (OSError, ValueError):
            return "another process"
        return f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')}, since {info.get('since')})"

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            wait = "no limit" if self.timeout is None or self.timeout < 0 else f"{self.timeout:g} s"
            log.warning(
                "waiting for another writer on %s to finish: %s (up to %s)",
                self.where,
                self.holder(),
                wait,
            )
            try:
                self._lock.acquire(timeout=-1 if self.timeout is None else self.timeout)
            except Timeout:
                raise IndexLockedError(
                    f"another process is writing to {self.where} ({self.holder()}; lock file "
                    f"{self.path}) and did not finish within {self.timeout:g} s; wait for it "
                    "and run the same command again, or raise --lock-timeout"
                ) from None
        try:
            if self._lock.lock_counter == 1:
                self._record()
            yield
        finally:
            self._lock.release()

    @contextmanager
    def try_hold(self) -> Iterator[bool]:
        """Hold the lock if it is free right now; never waits. Yields whether it is held."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire(timeout=0)
        except (Timeout, OSError):
            yield False
            return
        try:
            yield True
        finally:
            self._lock.release()

    def _record(self) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))[
                :200
            ],
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with suppress(OSError):
            self._owner.write_text(json.dumps(info))
