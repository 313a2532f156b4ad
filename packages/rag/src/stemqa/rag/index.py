"""The document index: one store, Chroma (dense) plus a persistent bm25s index.

Invariants this module keeps:

- Chunk ids are `<sha256[:16]>:<page>:<chunk>`; upserts make re-runs idempotent, and a file is
  "done" only when Chroma holds exactly the `file_chunks` chunks its metadata promises, so an
  ingest killed midway is resumed (missing chunks only) by the next run.
- Readers see only complete generations of a file. The collection metadata holds the committed
  content hash of every file (`stemqa:files`); queries filter on it. A new or changed file's
  chunks are written first (invisible), then its hash is committed in one metadata write, then
  the old version's chunks are deleted. A kill at any point leaves the old version or the new
  one visible, never both and never a partial one.
- Chroma is the source of truth; the BM25 index is derived from the visible chunks and checked
  against the collection's generation token (bumped by every visible change) before use.
- Settings that shape stored data (`IndexConfig`) are recorded in the collection metadata when
  it is created and enforced when it is reopened.
- Every chunk records the text pipeline that made it (`text_pipeline`: extractor and cleaning
  version, see `text_pipeline_for`) and the file it came from (`path`). A file whose chunks were
  made by another pipeline (or by one from before the marker) is listed as outdated, and an
  unchanged re-ingest re-processes it: same content hash, so the same ids are overwritten in
  place and surplus ids are deleted after the commit.
- One writer at a time per index folder (an inter-process file lock, see locking.py); readers
  never take it. An embedded store that another process wrote to is reopened before use
  (`_follow_other_writers`): Chroma's in-process HNSW would otherwise serve a stale view.
- Nothing heavy loads before it is needed: the embedder on the first text to embed, the text
  splitter on the first file to chunk, langchain-chroma only for `store`.

Retrieval is composed in retrievers.py: `as_retriever(mode, k)` wraps this store.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import chromadb
import platformdirs
from chromadb.config import Settings as ChromaSettings

from stemqa.core.retrieval import Passage
from stemqa.rag import faults
from stemqa.rag.bm25 import Bm25Store
from stemqa.rag.config import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE, DISTANCES, IndexConfig
from stemqa.rag.embeddings import get_embeddings
from stemqa.rag.errors import (
    IndexConfigError,
    IndexLockedError,
    IndexNotFoundError,
    IndexWriteError,
    RagIndexError,
)
from stemqa.rag.locking import DEFAULT_LOCK_TIMEOUT, WriterLock
from stemqa.rag.preprocess import Preprocessor, parse_steps
from stemqa.rag.retrievers import (
    FUSION_DEPTH,
    FUSION_MIN_CANDIDATES,
    MODES,
    BaseRetriever,
    make_retriever,
)

if TYPE_CHECKING:
    from stemqa.rag.loading import LoadedPdf

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CHUNK_OVERLAP",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_COLLECTION",
    "DISTANCES",
    "FUSION_DEPTH",
    "FUSION_MIN_CANDIDATES",
    "MODES",
    "TEXT_PIPELINE_VERSION",
    "DocumentInfo",
    "Index",
    "IndexConfig",
    "IndexConfigError",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexWriteError",
    "IngestReport",
    "RagIndexError",
    "SkippedFile",
    "outdated_note",
    "text_pipeline_for",
]

DEFAULT_COLLECTION = "stemqa"
BM25_FOLDER = "stemqa-bm25"
SCHEMA = 2
WRITE_BATCH = 256
#: Collection metadata keys.
FILES_KEY = "stemqa:files"  # JSON {source: committed sha256}
GENERATION_KEY = "stemqa:generation"
#: sha256 recorded for chunks added with add_texts (no file behind them).
TEXTS_SHA = "texts"
#: Chunk metadata key: which text pipeline made the chunk (`text_pipeline_for`).
PIPELINE_KEY = "text_pipeline"
#: Version of page-text extraction + cleaning (loading.py, cleaning.py, formats.py). Bump it
#: when a change there alters the text of files already indexed: `documents()` then flags them
#: "re-ingest to update" and an unchanged re-ingest re-processes them. 1: pypdfium2 text,
#: cleaned (hyphen joins, one-glyph lines merged, debris runs dropped, ligatures normalized).
TEXT_PIPELINE_VERSION = 1
#: How documents() describes a file whose chunks carry no marker (indexed before it existed).
UNRECORDED_PIPELINE = "not recorded (an older text pipeline)"


def text_pipeline_for(source: str) -> str:
    """The marker the current code writes for a file named `source` ("pdfium clean-1").

    PDFs name the extractor (pypdf and pypdfium2 give different text); other formats name their
    parser kind, from the same suffix table load_document dispatches on.
    """
    from stemqa.rag.formats import TEXT_LOADERS
    from stemqa.rag.loading import DEFAULT_EXTRACTOR

    suffix = Path(source).suffix.lower()
    kind = TEXT_LOADERS[suffix][0] if suffix in TEXT_LOADERS else DEFAULT_EXTRACTOR
    return f"{kind} clean-{TEXT_PIPELINE_VERSION}"


ProgressFn = Callable[..., Any]


@dataclass
class SkippedFile:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class IngestReport:
    files: int = 0  # files written (new or changed)
    unchanged: int = 0  # files already indexed with the same content
    pages: int = 0  # pages with text in the written files
    ocr_pages: int = 0  # of those, pages whose text came from OCR (no text layer)
    chunks: int = 0  # chunks written (embedded) in this run
    replaced: int = 0  # stale chunks removed (older versions of changed files)
    updated: int = 0  # of `files`, unchanged files re-processed: an older text pipeline made them
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        line = (
            f"{self.files} file(s) ingested ({self.pages} pages"
            + (f", {self.ocr_pages} by OCR" if self.ocr_pages else "")
            + f", {self.chunks} chunks), "
            f"{self.unchanged} unchanged, {len(self.skipped)} skipped"
        )
        if self.replaced:
            line += f", {self.replaced} old chunks replaced"
        if self.updated:
            line += f", {self.updated} re-processed (made by an older text pipeline)"
        line += f" in {self.seconds:.1f}s"
        details = [f"  skipped {s}" for s in self.skipped] + [
            f"  warning {w}" for w in self.warnings
        ]
        return "\n".join([line, *details])


#: DocumentInfo.state values
COMPLETE, INCOMPLETE, REPLACING = "complete", "incomplete", "replacing"


@dataclass(frozen=True)
class DocumentInfo:
    source: str
    pages: int  # pages in the file
    chunks: int  # chunks of the version readers see (or, when incomplete, written so far)
    added: str  # ISO time of ingestion
    sha256: str
    #: complete; incomplete (interrupted before it was finished: not searchable yet);
    #: replacing (the previous version is served; a newer one is partly written)
    state: str = COMPLETE
    note: str = ""
    #: The text pipeline(s) that made the shown version's chunks, "; "-joined (UNRECORDED_PIPELINE
    #: for an index from before the marker); "" for add_texts chunks, which have no file.
    text_pipeline: str = ""
    #: Made by another text pipeline than the current one: re-ingest to update.
    outdated: bool = False

    @property
    def complete(self) -> bool:
        return self.state == COMPLETE


@dataclass
class _FileState:
    sha256: str | None
    expected: int
    ids: set[str]
    stale_ids: list[str]
    #: markers (PIPELINE_KEY) on the chunks of `sha256`; None for a chunk without one
    pipelines: set[str | None] = field(default_factory=set)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def outdated_note(document: DocumentInfo) -> str:
    """One line for a file made by an older text pipeline: which one, and what to do."""
    return (
        f"text made by {document.text_pipeline or UNRECORDED_PIPELINE}, not the current "
        f"{text_pipeline_for(document.source)}; re-ingest to update"
    )


class Index:
    """Document chunks in Chroma plus BM25: the one store every retriever wraps.

    `path` is the Chroma folder (embedded PersistentClient). With `chroma_host`, Chroma is a
    server and `path`, when given, only holds the BM25 index and the writer lock (default: the
    user cache). `config` fields left as None take the values recorded in an existing index,
    else the defaults; keyword `settings` are the same fields, for short calls
    (`Index(path, chunk_size=400)`).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        config: IndexConfig | None = None,
        chroma_host: str | None = None,
        chroma_port: int | None = None,
        collection: str = DEFAULT_COLLECTION,
        create: bool = True,
        device: str = "cpu",
        max_pages: int | None = None,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        write_batch: int = WRITE_BATCH,
        **settings: Any,
    ) -> None:
        if path is None and chroma_host is None:
            raise IndexConfigError("index: give a folder (path) or a Chroma server (chroma_host)")
        try:
            requested = (config or IndexConfig()).replace(
                **{k: v for k, v in settings.items() if v is not None}
            )
        except TypeError as exc:
            raise IndexConfigError(f"index: {exc}") from None
        requested.validate()  # before anything is created on disk or on a server
        self.path = Path(path) if path is not None else None
        self.collection_name = collection
        self.max_pages = max_pages
        self.device = device
        self.chroma_host = chroma_host
        self.chroma_port = (chroma_port or 8000) if chroma_host else None
        self._client = self._connect(chroma_host, chroma_port, create)
        existing = self._existing_collection()
        if existing is None and not create:
            raise IndexNotFoundError(
                f"no index named {collection!r} at {self.where}; build one with `rag-ingest "
                f"PDFS --index {self.path or 'DIR'}`"
            )
        recorded = dict(existing.metadata or {}) if existing is not None else {}
        self.config = requested.resolve(IndexConfig.from_metadata(recorded))
        self.preprocessor = Preprocessor(parse_steps(self.config.preprocess))
        metadata = recorded or {
            "stemqa:schema": SCHEMA,
            **self.config.to_metadata(),
            # the label, not the alias the user typed ("all"), so reopening compares equal
            "stemqa:preprocess": self.preprocessor.label,
            GENERATION_KEY: uuid.uuid4().hex,
            FILES_KEY: "{}",
            "stemqa:created": _now(),
        }
        if existing is None:
            self._collection = self._client.get_or_create_collection(
                collection,
                metadata=metadata,
                configuration={"hnsw": {"space": self.config.distance}},
                embedding_function=None,  # stemqa embeds itself; Chroma's default would download
            )
        else:
            self._collection = existing
        if self.path is not None:
            bm25_dir = self.path / BM25_FOLDER
        else:
            bm25_dir = (
                Path(platformdirs.user_cache_dir("stemqa"))
                / "bm25"
                / f"{chroma_host}_{self.chroma_port}_{collection}"
            )
        self.bm25 = Bm25Store(bm25_dir)
        self.lock = WriterLock(bm25_dir.parent / "stemqa-write.lock", self.where, lock_timeout)
        self._max_batch = max(1, min(write_batch, self._client.get_max_batch_size()))
        if self.chroma_host is None:
            _SEEN.setdefault(str(self.path), self._state())

    # -- settings, as attributes (older callers read these) -----------------------------------

    @property
    def embedding_model(self) -> str:
        return str(self.config.embedding_model)

    @property
    def distance(self) -> str:
        return str(self.config.distance)

    @property
    def chunk_size(self) -> int:
        return int(self.config.chunk_size or DEFAULT_CHUNK_SIZE)

    @property
    def chunk_overlap(self) -> int:
        return int(self.config.chunk_overlap or 0)

    @property
    def embed_preprocessed(self) -> bool:
        return bool(self.config.embed_preprocessed)

    @property
    def where(self) -> str:
        if self.chroma_host:
            return f"the Chroma server at {self.chroma_host}:{self.chroma_port}"
        return str(self.path)

    @functools.cached_property
    def embeddings(self):
        """The embedder, loaded on first use (seconds): BM25 and unchanged re-ingests skip it."""
        return get_embeddings(self.embedding_model, self.device)

    @functools.cached_property
    def store(self):
        """A langchain-chroma view of the collection (benchmarks compare against it)."""
        from langchain_chroma import Chroma

        return Chroma(
            collection_name=self.collection_name,
            embedding_function=self.embeddings,
            client=self._client,
        )

    @functools.cached_property
    def _splitter(self):
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        return RecursiveCharacterTextSplitter(
            chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap
        )

    # -- connection and metadata -------------------------------------------------------------

    def _connect(self, host: str | None, port: int | None, create: bool) -> chromadb.ClientAPI:
        settings = ChromaSettings(anonymized_telemetry=False)
        if host is not None:
            try:
                return chromadb.HttpClient(host=host, port=port or 8000, settings=settings)
            except Exception as exc:
                raise IndexNotFoundError(
                    f"cannot reach the Chroma server at {host}:{port or 8000} ({exc}); start it "
                    "with `chroma run --path DIR --host HOST --port PORT` or check --chroma-host/"
                    "--chroma-port"
                ) from exc
        assert self.path is not None
        if self.path.exists() and not self.path.is_dir():
            raise IndexConfigError(f"index: {self.path} exists and is not a folder")
        if not create and not (self.path / "chroma.sqlite3").exists():
            raise IndexNotFoundError(
                f"no index at {self.path}; build one with `rag-ingest PDFS --index {self.path}`"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(self.path), settings=settings)
        self._system = _system_of(str(self.path))
        return client

    def close(self) -> None:
        """Release Chroma's handles (the embedded client keeps the sqlite file open)."""
        closer = getattr(self._client, "close", None)
        if callable(closer):
            closer()

    def _state(self) -> tuple[Any, int]:
        return self._metadata().get(GENERATION_KEY), self._collection.count()

    def _follow_other_writers(self) -> None:
        """Reopen an embedded store that another process wrote to since we last looked.

        Chroma's embedded client keeps one System per folder per process, and its in-memory
        HNSW does not follow another process's writes (we measured stale dense scores and
        "Nothing found on disk" errors). The generation token and the count do change, so
        when they differ from what this object last saw, it gets a new System for the folder.
        """
        if self.chroma_host is not None:
            return
        key, state = str(self.path), self._state()
        if _SEEN.get(key) == state and self._system is _system_of(key):
            return
        if _SEEN.get(key) != state:  # another process wrote: a new System for the folder
            from chromadb.api.shared_system_client import SharedSystemClient

            SharedSystemClient._identifier_to_system.pop(key, None)
        self._client = self._connect(None, None, True)
        self._collection = self._client.get_collection(
            self.collection_name, embedding_function=None
        )
        self._system = _system_of(key)
        _SEEN[key] = self._state()

    def _existing_collection(self):
        try:
            return self._client.get_collection(self.collection_name, embedding_function=None)
        except chromadb.errors.NotFoundError:
            return None

    def _metadata(self) -> dict[str, Any]:
        """Fresh from Chroma: another process may have written since we opened it."""
        return dict(self._client.get_collection(self.collection_name).metadata or {})

    def _modify(self, meta: dict[str, Any]) -> None:
        meta[GENERATION_KEY] = uuid.uuid4().hex
        self._collection.modify(metadata=meta)

    @staticmethod
    def _files(meta: dict[str, Any]) -> dict[str, str] | None:
        """Committed {source: sha256}; None for an index built before commits (schema 1)."""
        raw = meta.get(FILES_KEY)
        return None if raw is None else dict(json.loads(raw))

    def count(self) -> int:
        """Chunks stored, including those of unfinished files (see `documents`)."""
        return self._collection.count()

    def _get_all(self, include: list[str], where: dict | None = None) -> dict[str, list]:
        """Collection.get in pages (servers cap the size of one answer)."""
        out: dict[str, list] = {"ids": [], **{key: [] for key in include}}
        offset = 0
        page = max(1, self._client.get_max_batch_size())
        while True:
            got = self._collection.get(where=where, include=include, limit=page, offset=offset)
            out["ids"].extend(got["ids"])
            for key in include:
                out[key].extend(got[key] or [])
            if len(got["ids"]) < page:
                return out
            offset += page

    # -- what readers may see -------------------------------------------------------------------

    @staticmethod
    def _visible_where(files: dict[str, str] | None) -> dict | None:
        if files is None:
            return None
        return {"sha256": {"$in": sorted(set(files.values()))}}

    def _visible(self) -> tuple[dict[str, Any], dict | None, bool]:
        """(metadata, Chroma filter, anything visible?) for one query, read once."""
        if not self.lock.held:
            self._follow_other_writers()
        meta = self._metadata()
        files = self._files(meta)
        return meta, self._visible_where(files), files is None or bool(files)

    # -- BM25 sync ------------------------------------------------------------------------------

    def _ensure_bm25(self, meta: dict[str, Any]) -> Bm25Store:
        """The BM25 index matching Chroma's current visible state (loaded, or rebuilt)."""
        generation = meta.get(GENERATION_KEY)
        if self.bm25.generation != generation:
            self.bm25.load()
        if self.bm25.generation == generation and self.bm25.chroma_count == self.count():
            return self.bm25
        log.info("BM25 index is behind Chroma; bringing it up to date")
        # Persist only when no writer is busy (a try, never a wait): readers never block.
        with self.lock.try_hold() as held:
            self._sync_bm25(persist=held)
        return self.bm25

    def _sync_bm25(self, added: dict[str, list[str]] | None = None, persist: bool = True) -> None:
        """Rebuild BM25 over exactly the chunks readers may see, reusing cached tokens.

        Ids are content hashes, so a cached token list is valid for as long as its id exists;
        only chunks nobody tokenized yet (another process wrote them) are fetched and tokenized.
        """
        if self.bm25.generation is None:
            self.bm25.load()
        cache = dict(zip(self.bm25.ids, self.bm25.tokens, strict=True))
        cache.update(added or {})
        meta = self._metadata()
        files = self._files(meta)
        total = self.count()
        if files is None:
            ids = sorted(self._get_all([])["ids"])
        else:
            shas = set(files.values())
            got = self._get_all(["metadatas"])
            ids = sorted(
                i
                for i, m in zip(got["ids"], got["metadatas"], strict=True)
                if m.get("sha256") in shas
            )
        missing = [i for i in ids if i not in cache]
        for start in range(0, len(missing), self._max_batch):
            batch = missing[start : start + self._max_batch]
            got = self._collection.get(ids=batch, include=["documents"])
            cache.update(zip(got["ids"], self.preprocessor.many(got["documents"]), strict=True))
        generation = meta.get(GENERATION_KEY) or uuid.uuid4().hex
        self.bm25.rebuild(ids, [cache[i] for i in ids], generation, total, persist=persist)

    # -- writing --------------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the writer lock; bring an index from before commits (schema 1) up to date."""
        with self.lock.hold():
            self._follow_other_writers()
            meta = self._metadata()
            if self._files(meta) is None:
                meta[FILES_KEY] = json.dumps(self._complete_files())
                self._modify(meta)
            try:
                yield
            finally:
                if self.chroma_host is None:  # our own writes are not "another writer"
                    _SEEN[str(self.path)] = self._state()

    def _complete_files(self) -> dict[str, str]:
        """{source: sha} of the files whose chunks are all present (migration from schema 1)."""
        got = self._get_all(["metadatas"])
        counts: dict[tuple[str, str], list[int]] = {}
        for meta in got["metadatas"]:
            key = (str(meta.get("source", "")), str(meta.get("sha256", TEXTS_SHA)))
            entry = counts.setdefault(key, [0, int(meta.get("file_chunks", 0))])
            entry[0] += 1
        return {source: sha for (source, sha), (n, expected) in counts.items() if n >= expected}

    def _commit(self, source: str, sha256: str | None) -> None:
        """Make `sha256` the version of `source` readers see (None: remove it), atomically."""
        meta = self._metadata()
        files = self._files(meta) or {}
        if sha256 is None:
            files.pop(source, None)
        else:
            files[source] = sha256
        meta[FILES_KEY] = json.dumps(files, sort_keys=True)
        self._modify(meta)
        faults.file_committed(source)

    def _file_state(self, source: str, sha256: str) -> _FileState:
        got = self._get_all(["metadatas"], where={"source": source})
        ids, stale, expected, current_sha = set(), [], 0, None
        pipelines: set[str | None] = set()
        for chunk_id, meta in zip(got["ids"], got["metadatas"], strict=True):
            if meta.get("sha256") == sha256:
                ids.add(chunk_id)
                expected = int(meta.get("file_chunks", 0))
                current_sha = sha256
                pipelines.add(meta.get(PIPELINE_KEY))
            else:
                stale.append(chunk_id)
        return _FileState(current_sha, expected, ids, stale, pipelines)

    def source_file(self, source: str) -> tuple[Path, str] | None:
        """(file `source` was ingested from, its sha256 then), from the served version's chunks.

        None when the index has no such document or recorded no path (indexed before paths
        were recorded). The path is what the ingesting process saw: it may have moved or
        changed since, which the caller checks.
        """
        files = self._files(self._metadata()) or {}
        where: dict[str, Any] = {"source": source}
        if source in files:
            where = {"$and": [where, {"sha256": files[source]}]}
        got = self._collection.get(where=where, include=["metadatas"], limit=1)
        meta = got["metadatas"][0] if got["ids"] else {}
        return (Path(meta["path"]), str(meta.get("sha256", ""))) if meta.get("path") else None

    def _source_with_content(self, sha256: str, source: str) -> str | None:
        got = self._collection.get(
            where={"$and": [{"sha256": sha256}, {"source": {"$ne": source}}]},
            include=["metadatas"],
            limit=1,
        )
        return got["metadatas"][0]["source"] if got["ids"] else None

    def _chunks(self, pdf: LoadedPdf, added: str) -> tuple[list[str], list[str], list[dict]]:
        ids, texts, metas = [], [], []
        pipeline = text_pipeline_for(pdf.source)
        path = str(Path(pdf.path).resolve())
        for page in pdf.pages:
            for n, text in enumerate(self._splitter.split_text(page.text)):
                ids.append(f"{pdf.sha256[:16]}:{page.page}:{n}")
                texts.append(text)
                meta = {
                    "source": pdf.source,
                    "page": page.page,
                    "chunk": n,
                    "sha256": pdf.sha256,
                    "file_pages": pdf.n_pages,
                    "added": added,
                    PIPELINE_KEY: pipeline,
                    "path": path,
                }
                # `page` stays 0-based (LangChain's convention); what a viewer opens is beside it.
                meta["page_number"] = page.page_number
                meta["page_label"] = page.display_label
                if page.ocr:
                    meta["ocr"] = True
                if page.section is not None:
                    meta["section"] = page.section
                metas.append(meta)
        for meta in metas:
            meta["file_chunks"] = len(ids)
        return ids, texts, metas

    def _write(
        self, ids: list[str], texts: list[str], metas: list[dict], on_batch: Callable[[int], None]
    ) -> None:
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            batch_texts = texts[start:end]
            inputs = (
                [self.preprocessor.text(t) for t in batch_texts]
                if self.embed_preprocessed
                else batch_texts
            )
            vectors = self.embeddings.embed_documents(inputs)
            self._collection.upsert(
                ids=ids[start:end],
                embeddings=vectors,
                documents=batch_texts,
                metadatas=metas[start:end],
            )
            on_batch(len(batch_texts))

    def add(
        self, paths: str | Path | Iterable[str | Path], progress: ProgressFn | None = None
    ) -> IngestReport:
        """Ingest documents (files or folders). Bad files are reported in `skipped`, never raised.

        `progress(fraction, desc=...)` matches gradio's gr.Progress; the CLI passes a tqdm adapter.
        Raises IndexLockedError when another writer holds the index past `lock_timeout`, and
        IndexWriteError when the Chroma server stops answering midway (rerun to resume).
        """
        from stemqa.rag.loading import discover  # pypdf: only when ingesting (a second cold)

        started = time.perf_counter()
        if isinstance(paths, (str, Path)):
            paths = [paths]
        files, problems = discover(paths)
        report = IngestReport(skipped=[SkippedFile(p.path, p.reason) for p in problems])
        seen: dict[str, Path] = {}
        unique: list[tuple[Path, str]] = []
        for path, source in files:
            if source in seen and seen[source].resolve() == path.resolve():
                continue  # the same file named twice (e.g. a file and its folder)
            if source in seen:
                report.skipped.append(
                    SkippedFile(
                        str(path),
                        f"same source name {source!r} as {seen[source]}; rename one of them",
                    )
                )
                continue
            seen[source] = path
            unique.append((path, source))

        def report_progress(fraction: float, desc: str) -> None:
            if progress is not None:
                progress(min(1.0, fraction), desc=desc)

        with self._writing():
            self._add_locked(unique, report, report_progress)
        report.seconds = time.perf_counter() - started
        report_progress(1.0, "done")
        return report

    def _add_locked(
        self,
        unique: list[tuple[Path, str]],
        report: IngestReport,
        report_progress: Callable[[float, str], None],
    ) -> None:
        from stemqa.rag.loading import PdfLoadError, file_sha256, load_document

        current = "checking the index"
        changed = False
        added_tokens: dict[str, list[str]] = {}
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stemqa-pdf")
        failed = False
        try:
            # Decide per file first (hashing is cheap), then parse in a background thread while
            # the main thread embeds: parsing is pure Python, embedding releases the GIL in torch.
            committed = self._files(self._metadata()) or {}
            todo: list[tuple[Path, str, str, _FileState]] = []
            updating: set[str] = set()  # complete and unchanged, but made by an older pipeline
            shas: dict[str, str] = {}
            for n, (path, source) in enumerate(unique):
                report_progress(n / max(1, len(unique)) * 0.05, f"checking {source}")
                try:
                    sha = file_sha256(path)
                except OSError as exc:
                    report.skipped.append(SkippedFile(str(path), f"cannot read file ({exc})"))
                    continue
                # Chunk ids come from the content hash, so one content can have one source only.
                twin = shas.get(sha) or self._source_with_content(sha, source)
                if twin is not None:
                    report.skipped.append(
                        SkippedFile(
                            str(path),
                            f"same content as {twin!r}, already in the index (if the file was "
                            "renamed, delete the old name first)",
                        )
                    )
                    continue
                shas[sha] = source
                state = self._file_state(source, sha)
                done = state.sha256 == sha and len(state.ids) == state.expected
                current_text = state.pipelines == {text_pipeline_for(source)}
                if done and not state.stale_ids and committed.get(source) == sha and current_text:
                    report.unchanged += 1
                    continue
                if not current_text and state.ids:
                    # Same content, older text: every chunk is rewritten (same ids, overwritten
                    # in place), and ids the new text no longer has go after the commit.
                    if committed.get(source) == sha:
                        updating.add(source)
                    state = _FileState(sha, 0, set(), [*state.stale_ids, *state.ids])
                todo.append((path, source, sha, state))

            total_files = max(1, len(todo))
            futures = [
                pool.submit(load_document, path, source, sha256=sha, max_pages=self.max_pages)
                for path, source, sha, _ in todo
            ]
            for n, ((path, source, sha, state), future) in enumerate(
                zip(todo, futures, strict=True)
            ):
                current = source
                report_progress(0.05 + 0.95 * n / total_files, f"reading {source}")
                try:
                    pdf = future.result()
                except PdfLoadError as exc:
                    report.skipped.append(SkippedFile(exc.path, exc.reason))
                    continue
                except Exception as exc:  # never let one file stop the batch (loaders wrap all)
                    reason = f"could not read it ({type(exc).__name__}: {exc})"
                    report.skipped.append(SkippedFile(str(path), reason))
                    continue
                report.warnings.extend(pdf.warnings)
                ids, texts, metas = self._chunks(pdf, _now())
                keep = [i for i, cid in enumerate(ids) if cid not in state.ids]
                if state.stale_ids:  # ids rewritten in place are not stale
                    new_ids = set(ids)
                    state.stale_ids = [i for i in state.stale_ids if i not in new_ids]
                changed = True

                on_batch = _CountingProgress(
                    report, _BatchProgress(report_progress, n, total_files, source, len(keep))
                )
                self._write(
                    [ids[i] for i in keep],
                    [texts[i] for i in keep],
                    [metas[i] for i in keep],
                    on_batch,
                )
                # The new version is complete: make it the one readers see, then drop the old.
                self._commit(source, sha)
                if state.stale_ids:
                    self._delete_ids(state.stale_ids)
                    report.replaced += len(state.stale_ids)
                added_tokens.update(zip(ids, self.preprocessor.many(texts), strict=True))
                report.files += 1
                report.updated += source in updating
                report.pages += len(pdf.pages)
                report.ocr_pages += pdf.ocr_pages
        except BaseException as exc:
            failed = True
            if (
                self.chroma_host
                and isinstance(exc, Exception)
                and not isinstance(exc, RagIndexError)
            ):
                raise IndexWriteError(
                    f"{self.where} stopped answering while ingesting {current} "
                    f"({type(exc).__name__}); written so far: {report.files} file(s) finished, "
                    f"{report.chunks} chunk(s) stored and kept; rerun the same command to resume"
                ) from exc
            raise
        finally:
            # On Ctrl-C, don't sit parsing the remaining PDFs before stopping.
            pool.shutdown(wait=False, cancel_futures=True)
            if changed:
                self._sync_bm25_after(added_tokens, failed)

    def _sync_bm25_after(self, added: dict[str, list[str]], failed: bool) -> None:
        """Bring BM25 up to date after writing; never raise over the error that stopped it."""
        try:
            self._sync_bm25(added)
        except Exception as exc:
            if not failed:
                raise
            # Readers rebuild BM25 from Chroma when they find it behind, so nothing is lost.
            log.debug("BM25 sync after a failed write also failed: %s", exc)

    def _delete_ids(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), self._max_batch):
            self._collection.delete(ids=list(ids[start : start + self._max_batch]))

    def add_texts(
        self,
        texts: Sequence[str],
        metadatas: Sequence[dict],
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]] | None = None,
    ) -> None:
        """Add ready-made chunks (benchmarks, evaluation variants). Metadata needs `source`.

        They have no file behind them, so they are committed together once all are written.
        """
        metas = [{"sha256": TEXTS_SHA, **m} for m in metadatas]
        with self._writing():
            failed = False
            try:
                if embeddings is None:
                    self._write(list(ids), list(texts), metas, lambda _n: None)
                else:
                    for start in range(0, len(ids), self._max_batch):
                        end = start + self._max_batch
                        self._collection.upsert(
                            ids=list(ids[start:end]),
                            embeddings=[list(map(float, e)) for e in embeddings[start:end]],
                            documents=list(texts[start:end]),
                            metadatas=metas[start:end],
                        )
                meta = self._metadata()
                files = self._files(meta) or {}
                files.update({str(m["source"]): str(m["sha256"]) for m in metas})
                meta[FILES_KEY] = json.dumps(files, sort_keys=True)
                self._modify(meta)
            except BaseException:
                failed = True
                raise
            finally:
                self._sync_bm25_after(
                    dict(zip(ids, self.preprocessor.many(texts), strict=True)), failed
                )

    def delete(self, source: str) -> int:
        """Remove every chunk of `source`; returns how many were removed (0: unknown source)."""
        with self._writing():
            ids = self._get_all([], where={"source": source})["ids"]
            if not ids:
                return 0
            failed = False
            try:
                self._commit(source, None)  # invisible first, then gone
                self._delete_ids(ids)
            except BaseException:
                failed = True
                raise
            finally:
                self._sync_bm25_after({}, failed)
        return len(ids)

    # -- management -----------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        """Every file in the index, with its state (an interrupted ingest shows as such)."""
        if not self.lock.held:
            self._follow_other_writers()
        files = self._files(self._metadata())
        data = self._get_all(["metadatas"])
        versions: dict[str, dict[str, dict[str, Any]]] = {}
        for meta in data["metadatas"]:
            source = str(meta.get("source", ""))
            sha = str(meta.get("sha256", TEXTS_SHA))
            info = versions.setdefault(source, {}).setdefault(
                sha,
                {
                    "pages": meta.get("file_pages", 0),
                    "chunks": 0,
                    "expected": int(meta.get("file_chunks", 0)),
                    "added": meta.get("added", ""),
                    "pipelines": set(),
                },
            )
            info["chunks"] += 1
            info["pipelines"].add(meta.get(PIPELINE_KEY) or UNRECORDED_PIPELINE)
            info["added"] = min(info["added"], meta.get("added", info["added"]))
        out = []
        for source, by_sha in sorted(versions.items()):
            if files is None:  # schema 1: complete when all promised chunks are there
                shown = max(by_sha, key=lambda s: by_sha[s]["chunks"])
                live = by_sha[shown]["chunks"] >= by_sha[shown]["expected"]
            else:
                live = source in files and files[source] in by_sha
                shown = files[source] if live else max(by_sha, key=lambda s: by_sha[s]["chunks"])
            info = by_sha[shown]
            # Other versions of the file: a newer one an interrupted ingest left partly written
            # (it started after the served one was added), or the older one a kill between the
            # commit and the delete left behind (invisible; the next ingest deletes it).
            pending = [s for s in by_sha if s != shown and by_sha[s]["added"] >= info["added"]]
            state, note = COMPLETE, ""
            if not live:
                state = INCOMPLETE
                note = (
                    f"interrupted: {info['chunks']} of {info['expected']} chunks written; not "
                    "searchable until the same rag-ingest is run again"
                )
            elif pending and files is not None:
                newer = by_sha[pending[0]]
                state = REPLACING
                note = (
                    f"a newer version was interrupted ({newer['chunks']} of {newer['expected']} "
                    "chunks written); the previous one is served until the same rag-ingest is "
                    "run again"
                )
            from_file = shown != TEXTS_SHA
            pipelines = sorted(info["pipelines"]) if from_file else []
            out.append(
                DocumentInfo(
                    source,
                    pages=info["pages"],
                    chunks=info["chunks"],
                    added=info["added"],
                    sha256=shown if from_file else "",
                    state=state,
                    note=note,
                    text_pipeline="; ".join(pipelines),
                    outdated=from_file and pipelines != [text_pipeline_for(source)],
                )
            )
        return out

    # -- retrieval (what retrievers.py composes) -----------------------------------------------

    def as_retriever(self, mode: str = "hybrid", k: int = 5, **options: Any) -> BaseRetriever:
        """A retriever over this store: `mode` is one of MODES (dense, bm25, hybrid)."""
        return make_retriever(self, mode=mode, k=k, **options)

    def query(self, question: str, k: int = 5, mode: str = "hybrid") -> list[Passage]:
        """Top-k passages. Scores: cosine similarity (dense), BM25 (bm25), RRF (hybrid)."""
        return self.as_retriever(mode=mode, k=k).retrieve(question)

    def retrieve(self, query: str, k: int | None = None) -> list[Passage]:
        """Hybrid retrieval (kept for callers of the old `Index.retrieve`)."""
        return self.as_retriever("hybrid", k=k or 5).retrieve(query)

    def _dense_score(self, distance: float) -> float:
        # cosine: 1 - d is the cosine similarity; Chroma's l2 is the squared distance, which for
        # unit vectors is 2 - 2cos, so 1 - d/2 puts both on the same similarity scale.
        return 1.0 - distance if self.distance == "cosine" else 1.0 - distance / 2.0

    def dense_search(self, question: str, n: int) -> list[Passage]:
        """Nearest visible chunks by embedding, best first (score: similarity)."""
        _meta, where, anything = self._visible()
        total = self.count()
        if not anything or total == 0:
            return []
        text = self.preprocessor.text(question) if self.embed_preprocessed else question
        vector = self.embeddings.embed_query(text)
        got = self._collection.query(
            query_embeddings=[vector],
            n_results=min(n, total),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            _passage(doc, meta, self._dense_score(dist), chunk_id)
            for chunk_id, doc, meta, dist in zip(
                got["ids"][0],
                got["documents"][0],
                got["metadatas"][0],
                got["distances"][0],
                strict=True,
            )
        ]

    def bm25_search(self, question: str, n: int) -> list[tuple[str, float]]:
        """Top visible (chunk id, BM25 score) pairs, best first; no shared term, no hit."""
        meta, _where, anything = self._visible()
        if not anything or self.count() == 0:
            return []
        return self._ensure_bm25(meta).search(self.preprocessor.tokens(question), n)

    def fetch(self, ids: Sequence[str]) -> dict[str, Passage]:
        """Passages by chunk id (score 0)."""
        if not ids:
            return {}
        got = self._collection.get(ids=list(ids), include=["documents", "metadatas"])
        return {
            i: _passage(doc, meta, 0.0, i)
            for i, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }

    def _dense(self, question: str, n: int) -> list[tuple[str, float, Passage]]:
        """(id, score, passage) triples: evaluation.py's view of dense_search."""
        return [(p.chunk_id or "", p.score, p) for p in self.dense_search(question, n)]

    def __repr__(self) -> str:
        return (
            f"Index({str(self.path)!r}, collection={self.collection_name!r}, "
            f"model={self.embedding_model!r}, distance={self.distance!r})"
        )


#: Embedded folders: the (generation, count) this process last saw or wrote, per folder; a
#: different value means another process wrote, and the cached Chroma System is stale.
_SEEN: dict[str, tuple[Any, int]] = {}


def _system_of(identifier: str) -> Any:
    from chromadb.api.shared_system_client import SharedSystemClient

    return SharedSystemClient._identifier_to_system.get(identifier)


@dataclass
class _BatchProgress:
    """Turns 'another batch of this file was embedded' into an overall fraction."""

    report: Callable[[float, str], None]
    file_index: int
    total_files: int
    source: str
    size: int
    done: int = 0

    def __call__(self, count: int) -> None:
        self.done += count
        fraction = (self.file_index + self.done / max(1, self.size)) / self.total_files
        self.report(
            0.05 + 0.95 * fraction, f"embedding {self.source} ({self.done}/{self.size} chunks)"
        )


@dataclass
class _CountingProgress:
    """Counts stored chunks into the report (what an error message says was written)."""

    report: IngestReport
    progress: _BatchProgress

    def __call__(self, count: int) -> None:
        self.report.chunks += count
        self.progress(count)
        faults.chunks_written(self.report.chunks)


def _passage(text: str, meta: dict, score: float, chunk_id: str | None = None) -> Passage:
    page = meta.get("page")
    label = meta.get("page_label")
    return Passage(
        text=text,
        source=str(meta.get("source", "")),
        page=int(page) if page is not None else None,
        page_label=str(label) if label is not None else None,
        score=score,
        chunk_id=chunk_id,
    )
