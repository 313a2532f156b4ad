"""Index: ingest, query modes, persistence, BM25 sync, idempotency, crash safety, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import chromadb
import pytest

from stemqa.core.retrieval import Passage, open_retriever
from stemqa.rag import Index, IndexConfigError, IndexNotFoundError


def test_ingest_report_and_documents(small_index: Index):
    docs = {d.source: d for d in small_index.documents()}
    assert set(docs) == {"PHY102_Electromagnetism.pdf", "PHY202_Statistical_Mechanics.pdf"}
    assert docs["PHY102_Electromagnetism.pdf"].pages == 5
    assert docs["PHY202_Statistical_Mechanics.pdf"].pages == 9
    assert sum(d.chunks for d in docs.values()) == small_index.count() > 10
    assert docs["PHY102_Electromagnetism.pdf"].added.startswith("20")


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_query_modes_find_the_right_document(small_index: Index, mode: str):
    hits = small_index.query("partition function of an ideal gas of identical particles", 3, mode)
    assert 1 <= len(hits) <= 3
    assert all(isinstance(h, Passage) for h in hits)
    assert hits[0].source == "PHY202_Statistical_Mechanics.pdf"
    assert hits[0].page is not None and 0 <= hits[0].page < 9
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    if mode == "dense":
        assert all(-1.0 <= s <= 1.0 for s in scores)


def test_hybrid_is_the_retriever_protocol(small_index: Index):
    hits = small_index.retrieve("Maxwell's equations for the electric and magnetic field", k=2)
    assert hits[0].source == "PHY102_Electromagnetism.pdf"
    # Maxwell's equations span 0-based pages 3 and 4; their chunks tie exactly under RRF
    # (dense ranks 4 first, BM25 ranks 3 first), and a tie keeps the dense order.
    assert [h.page for h in hits] == [4, 3]


def test_bm25_ignores_documents_without_shared_terms(small_index: Index):
    assert small_index.query("zyzzyva quokka", k=5, mode="bm25") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"question": "  "}, "question is empty"),
        ({"question": "entropy", "k": 0}, "k must be a positive integer"),
        ({"question": "entropy", "mode": "sparse"}, "mode='sparse'"),
    ],
)
def test_bad_queries_are_rejected_clearly(small_index: Index, kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_index.query(**kwargs)


def test_reopen_uses_saved_bm25_and_recorded_settings(small_index: Index):
    reopened = Index(small_index.path, create=False)
    assert reopened.distance == "cosine" and reopened.chunk_size == 1000
    assert reopened.preprocessor.label == "lowercase,stopwords,lemmatize"
    hits = reopened.query("Boltzmann distribution probability", k=2, mode="bm25")
    assert hits and hits[0].source == "PHY202_Statistical_Mechanics.pdf"
    # loaded from disk, not rebuilt: same generation as Chroma, one token list per chunk
    assert reopened.bm25.generation == reopened._metadata()["stemqa:generation"]
    assert len(reopened.bm25) == reopened.count()
    with pytest.raises(IndexConfigError, match=r"distance='l2' does not match.*distance='cosine'"):
        Index(small_index.path, distance="l2")
    with pytest.raises(IndexConfigError, match="chunk_size=500"):
        Index(small_index.path, chunk_size=500)


def test_missing_index_is_reported(tmp_path: Path):
    with pytest.raises(IndexNotFoundError, match="rag-ingest"):
        Index(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_entry_point_opens_the_index(small_index: Index):
    retriever = open_retriever(str(small_index.path))
    assert (retriever.mode, retriever.k) == ("hybrid", 5)  # a retriever over the store
    assert retriever.retrieve("divergence and curl", k=1)[0].source == "PHY102_Electromagnetism.pdf"


def test_reingest_is_idempotent_and_changed_file_replaces(tmp_path: Path, pdf_dir: Path, wordnet):
    doc = tmp_path / "docs" / "notes.pdf"
    doc.parent.mkdir()
    shutil.copy(pdf_dir / "PHY102_Electromagnetism.pdf", doc)
    index = Index(tmp_path / "index", chunk_size=1500, chunk_overlap=100)
    first = index.add(doc.parent)
    assert first.files == 1 and first.chunks == index.count() > 0
    again = index.add(doc.parent)
    assert (again.files, again.unchanged, again.chunks) == (0, 1, 0)
    assert index.count() == first.chunks

    shutil.copy(pdf_dir / "PHY202_Statistical_Mechanics.pdf", doc)  # same name, new content
    changed = index.add(doc)
    assert changed.files == 1 and changed.replaced == first.chunks
    assert index.count() == changed.chunks
    [info] = index.documents()
    assert info.source == "notes.pdf" and info.pages == 9 and info.chunks == changed.chunks
    hits = index.query("Maxwell equations", k=3, mode="bm25")
    assert all("Maxwell’s equation" not in h.text for h in hits)  # old content is gone from BM25

    assert index.delete("notes.pdf") == changed.chunks
    assert index.count() == 0 and index.documents() == []
    assert index.delete("notes.pdf") == 0
    assert index.query("entropy", k=2, mode="hybrid") == []


def test_bad_files_are_skipped_and_the_rest_ingested(tmp_path: Path, pdf_dir: Path, bad_pdfs):
    folder = next(iter(bad_pdfs.values())).parent
    shutil.copy(pdf_dir / "PHY102_Electromagnetism.pdf", folder / "good.pdf")
    index = Index(tmp_path / "index")
    report = index.add([folder, tmp_path / "missing.pdf"])
    assert report.files == 1
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(skipped) == {p.name for p in bad_pdfs.values()} | {"missing.pdf"}
    assert "encrypted" in skipped["encrypted.pdf"] and "no text layer" in skipped["scanned.pdf"]
    assert [d.source for d in index.documents()] == ["good.pdf"]
    assert index.count() == report.chunks
    summary = report.summary()
    assert "1 file(s) ingested" in summary and "skipped" in summary and "notes.pdf" in summary


def test_interrupted_ingest_resumes_without_duplicates(tmp_path: Path, pdf_dir: Path, wordnet):
    index = Index(tmp_path / "index", chunk_size=400, chunk_overlap=50)
    index._max_batch = 4  # several writes per file, and proof that writes respect the cap
    sizes: list[int] = []
    real_upsert = index._collection.upsert

    def upsert_then_die(**kwargs):
        sizes.append(len(kwargs["ids"]))
        if len(sizes) == 3:
            raise KeyboardInterrupt  # as if the user hit Ctrl-C midway through the file
        return real_upsert(**kwargs)

    index._collection.upsert = upsert_then_die
    with pytest.raises(KeyboardInterrupt):
        index.add(pdf_dir / "PHY102_Electromagnetism.pdf")
    assert index.count() == 8  # two batches landed
    assert max(sizes) <= 4

    resumed = Index(tmp_path / "index")
    report = resumed.add(pdf_dir / "PHY102_Electromagnetism.pdf")
    total = resumed.count()
    assert report.files == 1 and report.chunks == total - 8  # only the missing chunks embedded
    ids = resumed._get_all([])["ids"]
    assert len(ids) == len(set(ids)) == total
    [info] = resumed.documents()
    assert info.chunks == total
    assert resumed.add(pdf_dir / "PHY102_Electromagnetism.pdf").unchanged == 1
    hits = resumed.query("Biot-Savart law magnetic field of a moving charge", k=3, mode="bm25")
    assert hits and len(resumed.bm25) == total


def test_bm25_catches_up_with_changes_made_behind_its_back(tmp_path: Path, pdf_dir: Path, wordnet):
    index = Index(tmp_path / "index")
    index.add(pdf_dir / "PHY102_Electromagnetism.pdf")
    before = index.count()
    # Another process deletes chunks straight through Chroma (no generation bump).
    client = chromadb.PersistentClient(path=str(tmp_path / "index"))
    collection = client.get_collection("stemqa")
    gone = collection.get(where={"page": 3})["ids"]
    assert gone
    collection.delete(ids=gone)
    fresh = Index(tmp_path / "index")
    hits = fresh.query("Maxwell equations divergence of the magnetic field", k=10, mode="bm25")
    assert all(h.page != 3 for h in hits)
    assert len(fresh.bm25) == fresh.count() == before - len(gone)


def test_l2_distance_is_recorded(tmp_path: Path, pdf_dir: Path, wordnet):
    index = Index(
        tmp_path / "index", distance="l2", preprocess="lowercase", embed_preprocessed=True
    )
    index.add(pdf_dir / "PHY102_Electromagnetism.pdf")
    assert index._collection.configuration["hnsw"]["space"] == "l2"
    reopened = Index(tmp_path / "index", create=False)
    assert reopened.distance == "l2" and reopened.embed_preprocessed
    hits = reopened.query("Biot-Savart law", k=2, mode="dense")
    assert hits and all(-1.0 <= h.score <= 1.0 for h in hits)


def test_same_content_under_two_names_is_indexed_once(tmp_path: Path, pdf_dir: Path, wordnet):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(pdf_dir / "PHY102_Electromagnetism.pdf", folder / "a.pdf")
    shutil.copy(pdf_dir / "PHY102_Electromagnetism.pdf", folder / "b.pdf")
    index = Index(tmp_path / "index")
    report = index.add([folder, folder / "a.pdf"])  # a.pdf also named twice: no complaint
    assert report.files == 1
    assert [(Path(s.path).name, "same content as 'a.pdf'" in s.reason) for s in report.skipped] == [
        ("b.pdf", True)
    ]
    again = index.add(folder / "b.pdf")
    assert again.files == 0 and "already in the index" in again.skipped[0].reason
    assert [d.source for d in index.documents()] == ["a.pdf"]
