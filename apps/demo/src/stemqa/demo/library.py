"""Who may change which documents: the shared library and each visitor's private one.

A public Space must not let one visitor delete or replace what every other visitor retrieves
from, so the shared library can be made read-only (`--read_only_library`). Each caller also has
a private library that only they retrieve from and can change: one `stemqa.rag.Index` in its
own folder under `<data-dir>/private/<owner>/`, queried beside the shared index and fused by
rank (`stemqa.core.fuse_rankings`), so scores of two indexes never need to be comparable.

The owner is the signed-in user when there is one (Gradio's `--auth`, or Hugging Face OAuth on a
Space): their library persists. Otherwise it is the browser session (`session_hash`): that
library is removed once unused for the session TTL, at start and periodically after.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemqa.core.retrieval import Passage, fuse_rankings
from stemqa.demo.index_service import IndexService
from stemqa.demo.settings import Settings
from stemqa.demo.uploads import CheckedUpload, UploadError, numbered_name, store

log = logging.getLogger(__name__)

SHARED, PRIVATE = "shared", "private"
KEEP_BOTH, REPLACE = "keep both", "replace"
SESSION_PREFIX = "session-"
LAST_USED = ".last_used"

ProgressFn = Callable[..., Any]


class LibraryError(ValueError):
    """An action on the library is refused; the message is meant for the user as is."""


@dataclass(frozen=True)
class Owner:
    """Whose private library: `key` is its folder name, `label` how the UI names it."""

    key: str
    label: str
    persistent: bool


@dataclass(frozen=True)
class LibraryDocument:
    source: str
    scope: str  # SHARED or PRIVATE
    pages: int
    chunks: int
    added: str
    sha256: str
    state: str = "complete"  # rag's DocumentInfo.state: complete, incomplete or replacing
    note: str = ""  # what the state means and what to do
    outdated: str = ""  # made by an older text pipeline: rag's note on it ("" when current)


def units(name: str, count: int | str) -> str:
    """'9 pages' for a PDF, '3 sections' for the formats without pages (rag's locator there)."""
    return f"{count} {'pages' if name.lower().endswith('.pdf') else 'sections'}"


def _slug(text: str) -> str:
    """A folder name for any string: readable prefix plus a hash, so distinct names never meet."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:40]
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def owner_for(request: Any, profile: Any = None) -> Owner:
    """The owner of the caller's private library: OAuth user, then `--auth` user, then session."""
    username = getattr(profile, "username", None)
    if username:
        return Owner(f"hf-{_slug(username)}", f"{username} (Hugging Face)", True)
    username = getattr(request, "username", None)
    if username:
        return Owner(f"user-{_slug(username)}", str(username), True)
    session = getattr(request, "session_hash", None) or "anonymous"
    return Owner(f"{SESSION_PREFIX}{_slug(session)}", "this browser session", False)


class _FusedRetriever:
    """`stemqa.core.Retriever` over the shared and one owner's private library."""

    def __init__(self, library: Library, owner: Owner) -> None:
        self.library, self.owner = library, owner

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        return self.library.query(self.owner, query, k=k)


class Library:
    def __init__(self, settings: Settings, shared: IndexService) -> None:
        self.settings = settings
        self.shared = shared
        self.root = settings.data_dir / "private"
        self.ttl = settings.session_ttl_minutes * 60.0
        self._open: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._janitor: threading.Thread | None = None

    # -- where things live ------------------------------------------------------------------
    @property
    def shared_writable(self) -> bool:
        return not self.settings.read_only_library

    def folder(self, owner: Owner) -> Path:
        return self.root / owner.key

    def uploads_dir(self, owner: Owner | None, scope: str) -> Path:
        if scope == SHARED:
            return self.settings.uploads_dir
        assert owner is not None
        return self.folder(owner) / "uploads"

    def write_lock(self, owner: Owner, scope: str) -> threading.Lock:
        if scope == SHARED:
            return self.shared.write_lock
        with self._lock:
            return self._locks.setdefault(owner.key, threading.Lock())

    def _touch(self, owner: Owner) -> None:
        folder = self.folder(owner)
        if folder.is_dir():
            (folder / LAST_USED).touch()

    def private_index(self, owner: Owner, *, create: bool = False) -> Any:
        """The owner's Index, opened once; None when they have none and `create` is False."""
        with self._lock:
            index = self._open.get(owner.key)
            if index is None:
                folder = self.folder(owner) / "index"
                if not create and not folder.is_dir():
                    return None
                from stemqa.rag import Index

                kwargs = {} if folder.is_dir() else self._new_index_config()
                folder.mkdir(parents=True, exist_ok=True)
                index = Index(folder, **kwargs)
                self._open[owner.key] = index
        self._touch(owner)
        return index

    def _new_index_config(self) -> dict[str, Any]:
        """A new private index is built like the shared one (same embedder, chunking and
        preprocessing), so both retrieve alike; once built, its recorded settings win."""
        try:
            shared = self.shared.get()
        except Exception:  # no shared index: the defaults
            model = self.settings.embedding_model
            return {"embedding_model": model} if model else {}
        return {
            "embedding_model": shared.embedding_model,
            "chunk_size": shared.chunk_size,
            "chunk_overlap": shared.chunk_overlap,
            "preprocess": shared.preprocessor.label,
        }

    def index(self, owner: Owner, scope: str, *, create: bool = False) -> Any:
        return self.shared.get() if scope == SHARED else self.private_index(owner, create=create)

    # -- reading ----------------------------------------------------------------------------
    def documents(self, owner: Owner) -> list[LibraryDocument]:
        """Shared documents then the owner's own; never another owner's."""
        from stemqa.rag.index import outdated_note

        out = []
        for scope in (SHARED, PRIVATE):
            index = self.index(owner, scope)
            for d in index.documents() if index is not None else []:
                out.append(
                    LibraryDocument(
                        d.source,
                        scope,
                        d.pages,
                        d.chunks,
                        str(d.added),
                        d.sha256,
                        d.state,
                        d.note,
                        outdated_note(d) if d.outdated else "",
                    )
                )
        return out

    def query(self, owner: Owner, question: str, k: int = 5, mode: str = "hybrid") -> list[Passage]:
        """Top-k over the shared library and the owner's, fused by rank when both have hits."""
        rankings = [self.shared.get().query(question, k=k, mode=mode)]
        private = self.private_index(owner)
        if private is not None and private.count():
            rankings.append(private.query(question, k=k, mode=mode))
        rankings = [r for r in rankings if r]
        if len(rankings) < 2:
            return rankings[0] if rankings else []
        return fuse_rankings(rankings, k)

    def retriever(self, owner: Owner) -> _FusedRetriever:
        return _FusedRetriever(self, owner)

    def locate(self, owner: Owner, source: str) -> Path | None:
        """The stored file of a cited source (see `source_file`), or None."""
        return self.source_file(owner, source)[0]

    def source_file(self, owner: Owner, source: str) -> tuple[Path | None, str]:
        """(the file of a cited source, "") or (None, one line saying why there is none).

        Uploads first: the owner's, then the shared ones. Then, for a shared document that
        `rag-ingest` indexed from a folder, the file its chunks recorded, if it is still there
        with the content that was indexed (else the page shown would not be the one cited).
        """
        for scope in (PRIVATE, SHARED):
            folder = self.uploads_dir(owner, scope).resolve()
            path = (folder / source).resolve()
            if path.parent == folder and path.is_file():
                return path, ""
        try:
            recorded = self.shared.get().source_file(source)
        except Exception:  # no shared index, or an index without the method: nothing recorded
            recorded = None
        if recorded is None:
            return None, (
                f"The source file of {source} is not available (not among the uploads, and the "
                "index recorded no file for it)."
            )
        path, sha256 = recorded
        if not path.is_file():
            return None, f"The source file of {source} is not available ({path} is gone)."
        from stemqa.rag.loading import file_sha256

        if sha256 and file_sha256(path) != sha256:
            return None, (
                f"The source file of {source} changed since it was indexed; re-ingest it to "
                "see the cited passage."
            )
        return path, ""

    # -- changing ---------------------------------------------------------------------------
    def _check_writable(self, scope: str) -> None:
        if scope == SHARED and not self.shared_writable:
            raise LibraryError(
                "The shared library is read-only on this app: add documents to your own "
                "library instead (only you retrieve from it)."
            )

    def delete(self, owner: Owner, scope: str, source: str) -> int:
        """Remove a document and its stored file; 0 when this owner has no such document."""
        self._check_writable(scope)
        index = self.index(owner, scope)
        if index is None:
            return 0
        with self.write_lock(owner, scope):
            removed = index.delete(source)
        folder = self.uploads_dir(owner, scope).resolve()
        stored = (folder / source).resolve()
        if removed and stored.parent == folder and stored.is_file():
            stored.unlink()
        return removed

    def clashes(
        self, owner: Owner, scope: str, uploads: Sequence[CheckedUpload]
    ) -> list[LibraryDocument]:
        """Documents that uploads would replace: same name, different content."""
        index = self.index(owner, scope)
        docs = {d.source: d for d in (index.documents() if index is not None else [])}
        out = []
        for upload in uploads:
            old = docs.get(upload.name)
            if old is not None and old.sha256 != upload.sha256:
                out.append(
                    LibraryDocument(old.source, scope, old.pages, old.chunks, "", old.sha256)
                )
        return out

    def add(
        self,
        owner: Owner,
        scope: str,
        uploads: Sequence[CheckedUpload],
        *,
        policy: str = KEEP_BOTH,
        progress: ProgressFn | None = None,
    ) -> list[str]:
        """Store and index uploads one by one; one line per file saying what happened.

        Each file sees the index as the previous one left it, so a batch that replaces X and
        then adds X's old content under another name handles both. A name taken by different
        content is kept under a numbered name unless `policy` is REPLACE (which the UI only
        passes after the user confirmed it).
        """
        self._check_writable(scope)
        index = self.index(owner, scope, create=True)
        folder = self.uploads_dir(owner, scope)
        lines: list[str] = []
        n = max(1, len(uploads))
        with self.write_lock(owner, scope):
            for i, upload in enumerate(uploads):

                def step(fraction: float, desc: str = "", i: int = i, name: str = upload.name):
                    if progress is not None:
                        progress((i + min(1.0, fraction)) / n, desc=f"{name}: {desc}".strip(": "))

                step(0.0, "checking")
                try:
                    lines.append(self._add_one(owner, scope, index, folder, upload, policy, step))
                except UploadError as exc:
                    lines.append(f"✗ {exc}")
        if progress is not None:
            progress(1.0, desc="done")
        return lines

    def _shared_documents(self) -> dict[str, Any]:
        """The shared library's documents, seen from a private upload: a private document never
        takes a shared name (so a citation names one file) nor repeats shared content."""
        try:
            return {d.source: d for d in self.shared.get().documents()}
        except Exception:  # the shared index failing to open must not block private uploads
            return {}

    def _add_one(
        self,
        owner: Owner,
        scope: str,
        index: Any,
        folder: Path,
        upload: CheckedUpload,
        policy: str,
        step: ProgressFn,
    ) -> str:
        docs = {d.source: d for d in index.documents()}  # as the previous file left it
        twin = next((d for d in docs.values() if d.sha256 == upload.sha256), None)
        if twin is not None and not (twin.source == upload.name and twin.outdated):
            if twin.source == upload.name:
                return f"= {upload.name}: already in the library, unchanged."
            return f"✗ {upload.name}: same content as {twin.source}, already in the library."
        if twin is not None:  # the same file, made by an older text pipeline: redo its text
            stored = store(upload, folder)
            report = index.add([stored.path], progress=step)
            if report.skipped:
                return f"✗ {upload.name}: {report.skipped[0].reason}"
            return f"✓ {upload.name}: unchanged, its text re-extracted with the current pipeline"
        shared = self._shared_documents() if scope == PRIVATE else {}
        twin = next((d for d in shared.values() if d.sha256 == upload.sha256), None)
        if twin is not None:
            return f"✗ {upload.name}: same content as {twin.source}, already in the shared library."
        name, old = upload.name, docs.get(upload.name)
        if (old is not None and policy != REPLACE) or name in shared:
            name = numbered_name(upload.name, set(docs) | set(shared))
            old = None
        backup = None
        target = folder / name
        if old is not None and target.is_file():  # keep the old file until the new one is in
            backup = target.with_name(f".{name}.replaced")
            target.replace(backup)
        stored = store(upload, folder, name)
        report = index.add([stored.path], progress=step)
        skipped = [s.reason for s in report.skipped]
        if skipped or (not report.files and not report.unchanged):
            stored.path.unlink(missing_ok=True)  # refused files don't stay in uploads/
            if backup is not None:
                backup.replace(target)
            return f"✗ {upload.name}: {skipped[0] if skipped else 'nothing could be indexed'}"
        if backup is not None:
            backup.unlink(missing_ok=True)
        warnings = "".join(f" ({w})" for w in report.warnings)
        if old is not None:
            new_pages = next((d.pages for d in index.documents() if d.source == name), "?")
            return f"✓ replaced {name} ({old.pages} → {units(name, new_pages)}){warnings}"
        if name != upload.name:
            return (
                f"✓ {upload.name} added as {name}: {upload.name} already exists with "
                f"different content, both are kept{warnings}"
            )
        return f"✓ {name} added ({units(name, report.pages)}){warnings}"

    # -- expiry -----------------------------------------------------------------------------
    def expire(self, now: float | None = None) -> list[str]:
        """Remove session libraries unused for longer than the TTL; returns their folders."""
        now = time.time() if now is None else now
        removed = []
        if not self.root.is_dir():
            return removed
        for folder in self.root.iterdir():
            if not folder.is_dir() or not folder.name.startswith(SESSION_PREFIX):
                continue
            marker = folder / LAST_USED
            last = (marker if marker.exists() else folder).stat().st_mtime
            if now - last <= self.ttl:
                continue
            with self._lock:
                index = self._open.pop(folder.name, None)
                self._locks.pop(folder.name, None)
            if index is not None:
                _close(index)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
        if removed:
            log.info("removed %d expired session libraries", len(removed))
        return removed

    def start_janitor(self) -> None:
        """Expire now, then every few minutes on a daemon thread."""
        if self._janitor is not None:
            return
        self.expire()
        interval = max(30.0, min(self.ttl / 2, 600.0))

        def loop() -> None:
            while True:
                time.sleep(interval)
                try:
                    self.expire()
                except Exception:  # a janitor must never take the app down
                    log.exception("expiring session libraries failed")

        self._janitor = threading.Thread(target=loop, name="stemqa-library-janitor", daemon=True)
        self._janitor.start()


def _close(index: Any) -> None:
    """Release an embedded Chroma client before its folder is removed."""
    close = getattr(index, "close", None)
    client = getattr(index, "_client", None)  # stemqa.rag.Index has no close() yet
    try:
        if callable(close):
            close()
        elif client is not None and hasattr(client, "close"):
            client.close()
    except Exception:
        log.warning("closing an expired session index failed", exc_info=True)
