"""The document index shared by the app's users, opened in the background.

Opening the index loads the embedding model (seconds), so it starts with the app instead of
on the first click; handlers then wait for it. Failures (a Chroma server that does not answer,
a folder without write permission) become one message that says what to fix.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from stemqa.demo.settings import Settings

log = logging.getLogger(__name__)


class IndexUnavailableError(RuntimeError):
    """The index cannot be used; the message is meant for the user as is."""


class IndexService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._index: Any = None
        self._error: str | None = None
        self._ready = threading.Event()
        self._started = False
        self._start_lock = threading.Lock()
        self.write_lock = threading.Lock()  # one ingestion/deletion at a time

    def where(self) -> str:
        s = self.settings
        if s.chroma_host:
            return f"Chroma server {s.chroma_host}:{s.chroma_port or 8000}"
        return str(s.index_dir)

    def open_async(self) -> None:
        with self._start_lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._open, name="stemqa-index-opener", daemon=True).start()

    def _open(self) -> None:
        s = self.settings
        try:
            from stemqa.rag import Index

            if not s.chroma_host:
                s.index_dir.mkdir(parents=True, exist_ok=True)
            index = Index(
                None if s.chroma_host else s.index_dir,
                config=s.index_config(),
                chroma_host=s.chroma_host,
                chroma_port=s.chroma_port,
            )
        except BaseException as exc:  # any failure must reach the UI, not kill the app
            log.exception("index open failed")
            if isinstance(exc, ImportError):
                fix = "Install stemqa-rag (`uv sync --all-packages` in the repository)."
            elif s.chroma_host:
                fix = (
                    "Check that `chroma run` is serving there (--chroma_host/--chroma_port, "
                    "STEMQA_CHROMA_HOST/STEMQA_CHROMA_PORT), or drop --chroma_host to use the "
                    "embedded store."
                )
            else:
                fix = (
                    "Check that the folder is writable, or choose another with --index DIR "
                    "(STEMQA_INDEX) or --data_dir (STEMQA_DATA_DIR)."
                )
            self._error = f"Could not open the document index at {self.where()}: {type(exc).__name__}: {exc}. {fix}"
        else:
            self._index = index
        self._ready.set()

    def get(self, timeout: float = 300) -> Any:
        """The open Index, waiting for it if it is still opening."""
        self.open_async()
        if not self._ready.wait(timeout):
            raise IndexUnavailableError(
                f"The document index at {self.where()} is still opening after {timeout:.0f} s."
            )
        if self._index is None:
            raise IndexUnavailableError(self._error or "The document index could not be opened.")
        return self._index

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def ready(self) -> bool:
        return self._index is not None

    @property
    def opening(self) -> bool:
        return self._started and not self._ready.is_set()

    def state(self) -> str:
        """`opening`, `ready` or `failed`."""
        if not self._ready.is_set():
            return "opening"
        return "ready" if self._index is not None else "failed"

    def status(self) -> str:
        if not self._ready.is_set():
            return f"opening the index at {self.where()} …"
        if self._index is None:
            return self._error or "the index could not be opened."
        return f"index ready at {self.where()}."
