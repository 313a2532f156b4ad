"""The text pipeline marker: files made by an older extraction/cleaning are found and redone.

An index built before the marker existed (pypdf text, no cleaning) is simulated on a real
index: the marker is removed from every chunk, the stored text replaced by "old" text, and one
surplus chunk added under the file's content hash (older text was chunked differently). Then
`documents()` and `rag-ingest --list` must flag the file, and an unchanged re-ingest must
rewrite it completely.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from stemqa.rag import Index
from stemqa.rag.cli import ingest_main
from stemqa.rag.index import (
    PIPELINE_KEY,
    TEXT_PIPELINE_VERSION,
    UNRECORDED_PIPELINE,
    text_pipeline_for,
)

OLD_TEXT = "zzoldpipeline debris 6p - V ' & $ %"


def test_marker_names_the_extractor_or_parser_and_the_version() -> None:
    assert text_pipeline_for("a.pdf") == f"pdfium clean-{TEXT_PIPELINE_VERSION}"
    assert text_pipeline_for("dir/Notes.MD").startswith("markdown clean-")
    assert text_pipeline_for("w.docx").startswith("docx ")
    assert text_pipeline_for("page.htm").startswith("html ")


def _age(index: Index, source: str, *, marker: str | None) -> str:
    """Make `source` look ingested by an older pipeline; returns the surplus chunk's id."""
    got = index._collection.get(where={"source": source}, include=["metadatas", "embeddings"])
    ids = got["ids"]
    old = {PIPELINE_KEY: marker, "path": None, "file_chunks": len(ids) + 1}
    index._collection.update(
        ids=ids,
        embeddings=[list(e) for e in got["embeddings"]],
        documents=[OLD_TEXT] * len(ids),
        metadatas=[old] * len(ids),
    )
    surplus = f"{got['metadatas'][0]['sha256'][:16]}:99:0"
    meta = {k: v for k, v in got["metadatas"][0].items() if k not in (PIPELINE_KEY, "path")}
    index._collection.add(
        ids=[surplus],
        embeddings=[list(got["embeddings"][0])],
        documents=[OLD_TEXT],
        metadatas=[{**meta, "page": 99, "file_chunks": len(ids) + 1}],
    )
    return surplus


def test_older_pipeline_is_flagged_and_an_unchanged_reingest_redoes_it(
    tmp_path: Path, pdf_dir: Path, wordnet, capsys
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    pdf = folder / "em.pdf"
    shutil.copy(pdf_dir / "PHY102_Electromagnetism.pdf", pdf)
    index = Index(tmp_path / "index", chunk_size=1500, chunk_overlap=100)
    first = index.add(folder)
    [fresh] = index.documents()
    assert not fresh.outdated and fresh.text_pipeline == text_pipeline_for("em.pdf")
    # the file the viewer opens, and the content it had
    assert index.source_file("em.pdf") == (pdf.resolve(), fresh.sha256)
    assert index.source_file("nope.pdf") is None

    surplus = _age(index, "em.pdf", marker=None)  # from before the marker existed
    index._sync_bm25()  # as an old index would be: its BM25 holds the old text
    [old] = index.documents()
    assert old.outdated and old.text_pipeline == UNRECORDED_PIPELINE
    assert old.state == "complete"  # still served; only its text is older
    assert index.source_file("em.pdf") is None  # nor did old indexes record the file's path
    ids = index._collection.get(where={"source": "em.pdf"})["ids"]
    index._collection.update(ids=ids, metadatas=[{PIPELINE_KEY: "pypdf clean-0"}] * len(ids))
    [old] = index.documents()  # a marker from an older version is flagged too
    assert old.outdated and old.text_pipeline == "pypdf clean-0"

    assert ingest_main(["--index", str(tmp_path / "index"), "--list"]) == 0
    listed = capsys.readouterr().out
    assert "em.pdf" in listed and "OUTDATED" in listed and "re-ingest to update" in listed

    again = index.add(folder)  # the same, unchanged file
    assert (again.files, again.updated, again.unchanged) == (1, 1, 0), again.summary()
    assert "re-processed (made by an older text pipeline)" in again.summary()
    assert again.replaced == 1  # the surplus chunk, not the ones rewritten in place
    assert index.count() == first.chunks
    stored = index._collection.get(include=["documents", "metadatas"])
    assert surplus not in stored["ids"]
    assert OLD_TEXT not in stored["documents"]
    assert {m[PIPELINE_KEY] for m in stored["metadatas"]} == {text_pipeline_for("em.pdf")}
    assert all("zzoldpipeline" not in h.text for h in index.query("zzoldpipeline", mode="bm25"))
    [redone] = index.documents()
    assert not redone.outdated and redone.chunks == first.chunks
    assert index.source_file("em.pdf") == (pdf.resolve(), fresh.sha256)

    third = index.add(folder)
    assert (third.files, third.unchanged, third.updated) == (0, 1, 0)
    assert ingest_main(["--index", str(tmp_path / "index"), "--list"]) == 0
    assert "OUTDATED" not in capsys.readouterr().out
