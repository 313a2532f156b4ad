"""The PDF index: Chroma (dense, via langchain-chroma) plus a persistent bm25s index.

Invariants this module keeps:

- Chunk ids are `<sha256[:16]>:<page>:<chunk>`; upserts make re-runs idempotent, and a file is
  "done" only when Chroma holds exactly the `file_chunks` chunks its metadata promises, so an
  ingest killed midway is resumed (missing chunks only) by the next run.
- A changed file's new chunks are written before its old ones are deleted.
- Chroma is the source of truth; the BM25 index is derived from it and checked against the
  collection's generation token before use (see bm25.py).
- Settings that shape stored data (embedding model, distance, chunking, preprocessing) are
  recorded in the collection metadata when it is created and enforced when it is reopened.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chromadb
import platformdirs
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_text_splitters import RecursiveCharacterTextSplitter

from stemqa.core.retrieval import Passage
from stemqa.rag.bm25 import Bm25Store
from stemqa.rag.embeddings import DEFAULT_EMBEDDING_MODEL, get_embeddings
from stemqa.rag.fusion import reciprocal_rank_fusion
from stemqa.rag.loading import LoadedPdf, PdfLoadError, discover, file_sha256, load_document
from stemqa.rag.preprocess import DEFAULT_STEPS, Preprocessor, parse_steps

log = logging.getLogger(__name__)

MODES = ("dense", "bm25", "hybrid")
DISTANCES = ("cosine", "l2")
DEFAULT_COLLECTION = "stemqa"
DEFAULT_CHUNK_SIZE = 1000
DEFAULT_CHUNK_OVERLAP = 200
BM25_FOLDER = "stemqa-bm25"
SCHEMA = 1
#: How many candidates each retriever contributes to the fusion, per requested hit.
FUSION_DEPTH = 4
FUSION_MIN_CANDIDATES = 40
WRITE_BATCH = 256

ProgressFn = Callable[..., Any]


class RagIndexError(ValueError):
    """Base for index errors whose message names the setting or path at fault."""


class IndexConfigError(RagIndexError):
    pass


class IndexNotFoundError(RagIndexError, FileNotFoundError):
    pass


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
        line += f" in {self.seconds:.1f}s"
        details = [f"  skipped {s}" for s in self.skipped] + [
            f"  warning {w}" for w in self.warnings
        ]
        return "\n".join([line, *details])


@dataclass(frozen=True)
class DocumentInfo:
    source: str
    pages: int  # pages in the file
    chunks: int
    added: str  # ISO time of ingestion
    sha256: str


@dataclass
class _FileState:
    sha256: str | None
    expected: int
    ids: set[str]
    stale_ids: list[str]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _resolve(explicit: Any, recorded: Any, default: Any, key: str) -> Any:
    if recorded is None:
        return default if explicit is None else explicit
    if explicit is not None and explicit != recorded:
        raise IndexConfigError(
            f"{key}={explicit!r} does not match this index, which was built with "
            f"{key}={recorded!r}; omit {key} or build a new index (another folder or collection)"
        )
    return recorded


class Index:
    """PDF chunks in Chroma with hybrid (BM25 + dense, RRF) retrieval.

    `path` is the Chroma folder (embedded PersistentClient). With `chroma_host`, Chroma is a
    server and `path`, when given, only holds the BM25 index (default: the user cache).
    Settings left as None take the values recorded in an existing index, else the defaults.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        chroma_host: str | None = None,
        chroma_port: int | None = None,
        collection: str = DEFAULT_COLLECTION,
        embedding_model: str | None = None,
        distance: str | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        preprocess: str | bool | Sequence[str] | None = None,
        embed_preprocessed: bool | None = None,
        create: bool = True,
        device: str = "cpu",
        max_pages: int | None = None,
    ) -> None:
        if path is None and chroma_host is None:
            raise IndexConfigError("index: give a folder (path) or a Chroma server (chroma_host)")
        self.path = Path(path) if path is not None else None
        self.collection_name = collection
        self.max_pages = max_pages
        self._client = self._connect(chroma_host, chroma_port, create)
        existing = self._existing_collection()
        if existing is None and not create:
            where = self.path if chroma_host is None else f"{chroma_host}:{chroma_port or 8000}"
            raise IndexNotFoundError(
                f"no index named {collection!r} at {where}; build one with `rag-ingest PDFS "
                f"--index {self.path or 'DIR'}`"
            )
        recorded = dict(existing.metadata or {}) if existing is not None else {}
        get = recorded.get
        self.embedding_model = _resolve(
            embedding_model,
            get("stemqa:embedding_model"),
            DEFAULT_EMBEDDING_MODEL,
            "embedding_model",
        )
        self.distance = _resolve(distance, get("stemqa:distance"), "cosine", "distance")
        if self.distance not in DISTANCES:
            raise IndexConfigError(f"distance={self.distance!r}: choose one of {DISTANCES}")
        self.chunk_size = int(
            _resolve(chunk_size, get("stemqa:chunk_size"), DEFAULT_CHUNK_SIZE, "chunk_size")
        )
        self.chunk_overlap = int(
            _resolve(
                chunk_overlap, get("stemqa:chunk_overlap"), DEFAULT_CHUNK_OVERLAP, "chunk_overlap"
            )
        )
        if self.chunk_size <= 0 or not 0 <= self.chunk_overlap < self.chunk_size:
            raise IndexConfigError(
                f"chunk_size={self.chunk_size}, chunk_overlap={self.chunk_overlap}: need "
                "chunk_size > 0 and 0 <= chunk_overlap < chunk_size"
            )
        steps_explicit = None if preprocess is None else ",".join(parse_steps(preprocess)) or "none"
        steps = _resolve(
            steps_explicit, get("stemqa:preprocess"), ",".join(DEFAULT_STEPS), "preprocess"
        )
        self.embed_preprocessed = bool(
            _resolve(
                embed_preprocessed, get("stemqa:embed_preprocessed"), False, "embed_preprocessed"
            )
        )
        self.preprocessor = Preprocessor(parse_steps(steps))
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap
        )
        self.embeddings = get_embeddings(self.embedding_model, device)
        metadata = recorded or {
            "stemqa:schema": SCHEMA,
            "stemqa:embedding_model": self.embedding_model,
            "stemqa:distance": self.distance,
            "stemqa:chunk_size": self.chunk_size,
            "stemqa:chunk_overlap": self.chunk_overlap,
            "stemqa:preprocess": self.preprocessor.label,
            "stemqa:embed_preprocessed": self.embed_preprocessed,
            "stemqa:generation": uuid.uuid4().hex,
            "stemqa:created": _now(),
        }
        self.store = Chroma(
            collection_name=collection,
            embedding_function=self.embeddings,
            client=self._client,
            collection_metadata=metadata,
            collection_configuration={"hnsw": {"space": self.distance}},
        )
        self._collection = self._client.get_collection(collection)
        if self.path is not None:
            bm25_dir = self.path / BM25_FOLDER
        else:
            bm25_dir = (
                Path(platformdirs.user_cache_dir("stemqa"))
                / "bm25"
                / f"{chroma_host}_{chroma_port or 8000}_{collection}"
            )
        self.bm25 = Bm25Store(bm25_dir)
        self._max_batch = max(1, min(WRITE_BATCH, self._client.get_max_batch_size()))

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
        return chromadb.PersistentClient(path=str(self.path), settings=settings)

    def _existing_collection(self):
        try:
            return self._client.get_collection(self.collection_name)
        except chromadb.errors.NotFoundError:
            return None

    def _metadata(self) -> dict[str, Any]:
        """Fresh from Chroma: another process may have written since we opened it."""
        return dict(self._client.get_collection(self.collection_name).metadata or {})

    def _new_generation(self) -> str:
        """Mark the collection as changing before writing, so a crash leaves BM25 'stale'."""
        meta = self._metadata()
        meta["stemqa:generation"] = uuid.uuid4().hex
        self._collection.modify(metadata=meta)
        return meta["stemqa:generation"]

    def count(self) -> int:
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

    # -- BM25 sync ------------------------------------------------------------------------------

    def _ensure_bm25(self) -> Bm25Store:
        """The BM25 index matching Chroma's current state (loaded, or brought up to date)."""
        generation = self._metadata().get("stemqa:generation")
        if self.bm25.generation != generation:
            self.bm25.load()
        if self.bm25.generation == generation and len(self.bm25) == self.count():
            return self.bm25
        log.info("BM25 index is behind Chroma; bringing it up to date")
        self._sync_bm25(generation or uuid.uuid4().hex)
        return self.bm25

    def _sync_bm25(self, generation: str, added: dict[str, list[str]] | None = None) -> None:
        """Rebuild BM25 over exactly the ids Chroma holds, reusing cached tokens.

        Ids are content hashes, so a cached token list is valid for as long as its id exists;
        only chunks nobody tokenized yet (another process wrote them) are fetched and tokenized.
        """
        if self.bm25.generation is None:
            self.bm25.load()
        cache = dict(zip(self.bm25.ids, self.bm25.tokens, strict=True))
        cache.update(added or {})
        ids = sorted(self._get_all([])["ids"])
        missing = [i for i in ids if i not in cache]
        for start in range(0, len(missing), self._max_batch):
            batch = missing[start : start + self._max_batch]
            got = self._collection.get(ids=batch, include=["documents"])
            cache.update(zip(got["ids"], self.preprocessor.many(got["documents"]), strict=True))
        self.bm25.rebuild(ids, [cache[i] for i in ids], generation)

    # -- ingest ---------------------------------------------------------------------------------

    def _file_state(self, source: str, sha256: str) -> _FileState:
        got = self._get_all(["metadatas"], where={"source": source})
        ids, stale, expected, current_sha = set(), [], 0, None
        for chunk_id, meta in zip(got["ids"], got["metadatas"], strict=True):
            if meta.get("sha256") == sha256:
                ids.add(chunk_id)
                expected = int(meta.get("file_chunks", 0))
                current_sha = sha256
            else:
                stale.append(chunk_id)
        return _FileState(current_sha, expected, ids, stale)

    def _source_with_content(self, sha256: str, source: str) -> str | None:
        got = self._collection.get(
            where={"$and": [{"sha256": sha256}, {"source": {"$ne": source}}]},
            include=["metadatas"],
            limit=1,
        )
        return got["metadatas"][0]["source"] if got["ids"] else None

    def _chunks(self, pdf: LoadedPdf, added: str) -> tuple[list[str], list[str], list[dict]]:
        ids, texts, metas = [], [], []
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
        """Ingest PDFs (files or folders). Bad files are reported in `skipped`, never raised.

        `progress(fraction, desc=...)` matches gradio's gr.Progress; the CLI passes a tqdm adapter.
        """
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

        # Decide per file first (hashing is cheap), then parse PDFs in a background thread while
        # the main thread embeds: parsing is pure Python, embedding releases the GIL in torch.
        todo: list[tuple[Path, str, str, _FileState]] = []
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
            if state.sha256 == sha and len(state.ids) == state.expected and not state.stale_ids:
                report.unchanged += 1
                continue
            todo.append((path, source, sha, state))

        generation: str | None = None
        added_tokens: dict[str, list[str]] = {}
        total_files = max(1, len(todo))
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stemqa-pdf")
        try:
            futures = [
                pool.submit(load_document, path, source, sha256=sha, max_pages=self.max_pages)
                for path, source, sha, _ in todo
            ]
            for n, ((_path, source, _sha, state), future) in enumerate(
                zip(todo, futures, strict=True)
            ):
                report_progress(0.05 + 0.95 * n / total_files, f"reading {source}")
                try:
                    pdf = future.result()
                except PdfLoadError as exc:
                    report.skipped.append(SkippedFile(exc.path, exc.reason))
                    continue
                except Exception as exc:  # never let one file stop the batch (loaders wrap all)
                    reason = f"could not read it ({type(exc).__name__}: {exc})"
                    report.skipped.append(SkippedFile(str(_path), reason))
                    continue
                report.warnings.extend(pdf.warnings)
                ids, texts, metas = self._chunks(pdf, _now())
                keep = [i for i, cid in enumerate(ids) if cid not in state.ids]
                if generation is None:
                    generation = self._new_generation()
                on_batch = _BatchProgress(report_progress, n, total_files, source, len(keep))

                self._write(
                    [ids[i] for i in keep],
                    [texts[i] for i in keep],
                    [metas[i] for i in keep],
                    on_batch,
                )
                if state.stale_ids:
                    self._delete_ids(state.stale_ids)
                    report.replaced += len(state.stale_ids)
                added_tokens.update(zip(ids, self.preprocessor.many(texts), strict=True))
                report.files += 1
                report.pages += len(pdf.pages)
                report.ocr_pages += pdf.ocr_pages
                report.chunks += len(keep)
        finally:
            # On Ctrl-C, don't sit parsing the remaining PDFs before stopping.
            pool.shutdown(wait=False, cancel_futures=True)
            if generation is not None:
                self._sync_bm25(generation, added_tokens)
            report.seconds = time.perf_counter() - started
        report_progress(1.0, "done")
        return report

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
        """Add ready-made chunks (benchmarks, evaluation variants). Metadata needs `source`."""
        generation = self._new_generation()
        try:
            if embeddings is None:
                self._write(list(ids), list(texts), [dict(m) for m in metadatas], lambda _n: None)
            else:
                for start in range(0, len(ids), self._max_batch):
                    end = start + self._max_batch
                    self._collection.upsert(
                        ids=list(ids[start:end]),
                        embeddings=[list(map(float, e)) for e in embeddings[start:end]],
                        documents=list(texts[start:end]),
                        metadatas=[dict(m) for m in metadatas[start:end]],
                    )
        finally:
            self._sync_bm25(generation, dict(zip(ids, self.preprocessor.many(texts), strict=True)))

    # -- management -----------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        data = self._get_all(["metadatas"])
        by_source: dict[str, dict[str, Any]] = {}
        for meta in data["metadatas"]:
            info = by_source.setdefault(
                meta["source"],
                {
                    "pages": meta.get("file_pages", 0),
                    "chunks": 0,
                    "added": meta.get("added", ""),
                    "sha256": meta.get("sha256", ""),
                },
            )
            info["chunks"] += 1
            info["added"] = min(info["added"], meta.get("added", info["added"]))
        return [DocumentInfo(source, **info) for source, info in sorted(by_source.items())]

    def delete(self, source: str) -> int:
        """Remove every chunk of `source`; returns how many were removed (0: unknown source)."""
        ids = self._get_all([], where={"source": source})["ids"]
        if not ids:
            return 0
        generation = self._new_generation()
        try:
            self._delete_ids(ids)
        finally:
            self._sync_bm25(generation)
        return len(ids)

    # -- retrieval ------------------------------------------------------------------------------

    def _dense_score(self, distance: float) -> float:
        # cosine: 1 - d is the cosine similarity; Chroma's l2 is the squared distance, which for
        # unit vectors is 2 - 2cos, so 1 - d/2 puts both on the same similarity scale.
        return 1.0 - distance if self.distance == "cosine" else 1.0 - distance / 2.0

    def _dense(self, question: str, n: int) -> list[tuple[str, float, Passage]]:
        text = self.preprocessor.text(question) if self.embed_preprocessed else question
        vector = self.embeddings.embed_query(text)
        hits = self.store.similarity_search_by_vector_with_relevance_scores(vector, k=n)
        return [
            (doc.id, self._dense_score(dist), _passage(doc.page_content, doc.metadata, 0.0))
            for doc, dist in hits
        ]

    def _bm25(self, question: str, n: int) -> list[tuple[str, float]]:
        return self._ensure_bm25().search(self.preprocessor.tokens(question), n)

    def _fetch(self, ids: Sequence[str]) -> dict[str, Passage]:
        if not ids:
            return {}
        got = self._collection.get(ids=list(ids), include=["documents", "metadatas"])
        return {
            i: _passage(doc, meta, 0.0)
            for i, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }

    def query(self, question: str, k: int = 5, mode: str = "hybrid") -> list[Passage]:
        """Top-k passages. Scores: cosine similarity (dense), BM25 (bm25), RRF (hybrid)."""
        if not isinstance(question, str) or not question.strip():
            raise ValueError("query: the question is empty")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"query: k must be a positive integer, got {k!r}")
        if mode not in MODES:
            raise ValueError(f"query: mode={mode!r}; choose one of {', '.join(MODES)}")
        total = self.count()
        if total == 0:
            return []
        if mode == "dense":
            return [_replace_score(p, s) for _i, s, p in self._dense(question, min(k, total))]
        if mode == "bm25":
            hits = self._bm25(question, k)
            found = self._fetch([i for i, _ in hits])
            return [_replace_score(found[i], s) for i, s in hits if i in found]
        depth = min(total, max(FUSION_MIN_CANDIDATES, FUSION_DEPTH * k))
        dense = self._dense(question, depth)
        sparse = self._bm25(question, depth)
        fused = reciprocal_rank_fusion([[i for i, _s, _p in dense], [i for i, _ in sparse]])[:k]
        known = {i: p for i, _s, p in dense}
        found = self._fetch([i for i, _ in fused if i not in known])
        known.update(found)
        return [_replace_score(known[i], s) for i, s in fused if i in known]

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        """`stemqa.core.retrieval.Retriever` protocol: hybrid retrieval."""
        return self.query(query, k=k, mode="hybrid")

    def __repr__(self) -> str:
        return (
            f"Index({str(self.path)!r}, collection={self.collection_name!r}, "
            f"model={self.embedding_model!r}, distance={self.distance!r})"
        )


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


def _passage(text: str, meta: dict, score: float) -> Passage:
    page = meta.get("page")
    return Passage(
        text=text,
        source=str(meta.get("source", "")),
        page=int(page) if page is not None else None,
        page_label=meta.get("page_label"),
        score=score,
    )


def _replace_score(passage: Passage, score: float) -> Passage:
    from dataclasses import replace

    return replace(passage, score=float(score) if math.isfinite(score) else 0.0)
