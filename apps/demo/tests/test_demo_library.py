"""The shared and private libraries on real PDFs and real Chroma indexes (no server, no browser).

One module-scoped data folder: embedding the two small course PDFs is the slow part, so the
steps below build on each other in order, as a user's session would.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from stemqa.demo.index_service import IndexService
from stemqa.demo.library import (
    KEEP_BOTH,
    PRIVATE,
    REPLACE,
    SHARED,
    Library,
    LibraryError,
    owner_for,
)
from stemqa.demo.settings import Settings
from stemqa.demo.uploads import check_upload

pytestmark = pytest.mark.slow

PDFS = Path(__file__).resolve().parents[3] / "tests" / "data" / "pdfs"
SMALL = PDFS / "PHY102_Electromagnetism.pdf"  # 5 pages
OTHER = PDFS / "PHY202_Statistical_Mechanics.pdf"  # 9 pages


class Request:  # what the handlers read from gr.Request
    def __init__(self, session_hash: str, username: str | None = None) -> None:
        self.session_hash, self.username = session_hash, username


def upload(tmp: Path, pdf: Path, name: str):
    """A browser upload: a temporary copy plus the name the browser sent."""
    temp = tmp / "gradio" / str(time.monotonic_ns()) / pdf.name
    temp.parent.mkdir(parents=True)
    shutil.copyfile(pdf, temp)
    return check_upload(temp, name, max_bytes=50_000_000)


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Library:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), load_model_on_start=False)
    return Library(settings, IndexService(settings))


def test_owner_is_user_then_session_and_never_a_path() -> None:
    assert owner_for(Request("abc", "alice")).persistent
    assert owner_for(Request("abc", "alice")).key != owner_for(Request("xyz", "alice ")).key
    session = owner_for(Request("../../etc"))
    assert not session.persistent and "/" not in session.key and ".." not in session.key
    assert owner_for(Request("a_b")).key != owner_for(Request("a b")).key  # no slug collision


def test_shared_uploads_keep_both_replace_and_see_the_index_after_each_file(
    lib: Library, tmp_path: Path
) -> None:
    me = owner_for(Request("s1"))
    lines = lib.add(me, SHARED, [upload(tmp_path, SMALL, "Übungen.pdf")])
    assert lines == ["✓ Übungen.pdf added (5 pages)"], lines
    # same name, other content: kept both under a numbered name, nothing silently replaced
    lines = lib.add(me, SHARED, [upload(tmp_path, OTHER, "Übungen.pdf")], policy=KEEP_BOTH)
    assert lines[0].startswith("✓ Übungen.pdf added as Übungen (2).pdf"), lines
    docs = {d.source: d for d in lib.documents(me)}
    assert docs["Übungen.pdf"].pages == 5 and docs["Übungen (2).pdf"].pages == 9
    assert (lib.settings.uploads_dir / "Übungen (2).pdf").is_file()
    # the same content again under its own name: unchanged, not a third copy
    assert lib.add(me, SHARED, [upload(tmp_path, OTHER, "Übungen (2).pdf")])[0].startswith("=")
    lib.delete(me, SHARED, "Übungen (2).pdf")
    # one batch: replace Übungen.pdf (5 pages) by OTHER, then add the old content as old.pdf.
    # The second file's duplicate check must see the index after the first file: old content
    # is gone from the index by then, so it goes in instead of being refused.
    batch = [upload(tmp_path, OTHER, "Übungen.pdf"), upload(tmp_path, SMALL, "old.pdf")]
    progress: list[float] = []
    lines = lib.add(
        me, SHARED, batch, policy=REPLACE, progress=lambda f, desc="": progress.append(f)
    )
    assert lines == ["✓ replaced Übungen.pdf (5 → 9 pages)", "✓ old.pdf added (5 pages)"], lines
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) > 4
    assert {d.source for d in lib.documents(me)} == {"Übungen.pdf", "old.pdf"}
    assert lib.settings.uploads_dir.joinpath("Übungen.pdf").read_bytes() == OTHER.read_bytes()
    assert not list(lib.settings.uploads_dir.glob(".*"))  # no backup left behind


def test_refused_files_do_not_stay_in_uploads(lib: Library, tmp_path: Path) -> None:
    me = owner_for(Request("s1"))
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + os.urandom(2000))  # passes the magic check only
    refused = [
        upload(tmp_path, broken, "broken.pdf"),
        upload(tmp_path, SMALL, "twin.pdf"),  # content already there as old.pdf
    ]
    lines = lib.add(me, SHARED, refused)
    assert lines[0].startswith("✗ broken.pdf:"), lines
    assert lines[1] == "✗ twin.pdf: same content as old.pdf, already in the library.", lines
    names = {p.name for p in lib.settings.uploads_dir.iterdir()}
    assert names == {"Übungen.pdf", "old.pdf"}, names


def test_private_libraries_are_isolated_and_expire(lib: Library, tmp_path: Path, pdf_pages) -> None:
    alice, bob = owner_for(Request("alice-session")), owner_for(Request("bob-session"))
    # a private upload under a shared name gets its own name, so a citation names one file
    lines = lib.add(alice, PRIVATE, [upload(tmp_path, OTHER, "notes.pdf")])
    assert lines == ["✗ notes.pdf: same content as Übungen.pdf, already in the shared library."]
    mine = tmp_path / "mine.pdf"  # two real pages of the analysis notes: quick to embed
    mine.write_bytes(pdf_pages(PDFS / "MTH102_Real_Analysis.pdf", [0, 1]))
    assert lib.add(alice, PRIVATE, [upload(tmp_path, mine, "old.pdf")])[0].startswith(
        "✓ old.pdf added as old (2).pdf"
    )
    assert {(d.source, d.scope) for d in lib.documents(alice)} >= {("old (2).pdf", PRIVATE)}
    assert all(d.scope == SHARED for d in lib.documents(bob))
    question = "real analysis sequences convergence"
    assert any(p.source == "old (2).pdf" for p in lib.query(alice, question, k=5))
    assert all(p.source != "old (2).pdf" for p in lib.query(bob, question, k=5))
    assert lib.delete(bob, PRIVATE, "old (2).pdf") == 0  # bob can't delete alice's
    assert lib.locate(bob, "old (2).pdf") is None
    assert lib.locate(alice, "old (2).pdf") == lib.folder(alice) / "uploads" / "old (2).pdf"
    # expiry: alice's session library goes once unused for longer than the TTL
    assert lib.expire() == []
    assert lib.expire(now=time.time() + lib.ttl + 5) == [alice.key]
    assert not lib.folder(alice).exists()
    assert all(d.scope == SHARED for d in lib.documents(alice))


def test_read_only_shared_library(lib: Library, tmp_path: Path) -> None:
    me = owner_for(Request("s3"))
    lib.settings.read_only_library = True
    try:
        with pytest.raises(LibraryError, match="read-only"):
            lib.add(me, SHARED, [upload(tmp_path, SMALL, "x.pdf")])
        with pytest.raises(LibraryError, match="read-only"):
            lib.delete(me, SHARED, "old.pdf")
        assert "old.pdf" in {d.source for d in lib.documents(me)}
    finally:
        lib.settings.read_only_library = False


def test_documents_table_flags_files_that_are_not_fully_searchable() -> None:
    """An ingest killed midway leaves a file `incomplete` (rag's DocumentInfo.state): the
    table says so, with the index's note, instead of listing it like any other."""
    from types import SimpleNamespace

    from stemqa.demo.library import PRIVATE, LibraryDocument
    from stemqa.demo.tabs.documents import DOC_HEADERS, documents_table

    docs = [
        LibraryDocument("a.pdf", PRIVATE, 5, 12, "2026-12-01T10:00:00", "x"),
        LibraryDocument(
            "b.pdf", PRIVATE, 9, 4, "2026-12-01T10:01:00", "y", "incomplete", "add it again"
        ),
    ]
    library = SimpleNamespace(documents=lambda owner: docs, shared_writable=False)
    table, _ = documents_table(SimpleNamespace(library=library), owner=None)
    assert list(table.columns) == DOC_HEADERS
    assert list(table["status"]) == ["ready", "incomplete: add it again"]


def test_a_batch_of_every_format_one_line_per_file(lib: Library, tmp_path: Path, doc_files) -> None:
    """Good and bad files of each format in one batch, as the Documents tab hands them over:
    the good ones go in, each bad one gets one line naming it, none stays in uploads/."""
    from types import SimpleNamespace

    from stemqa.demo.tabs.documents import add_documents

    me = owner_for(Request("s-formats"))
    names = ["md", "bad_docx", "bad_html", "docx", "bad_txt", "html"]
    files = [str(doc_files[n]) for n in names]  # gr.File hands over temporary paths
    services = SimpleNamespace(library=lib, settings=lib.settings)
    status, table, *_ = add_documents(services, me, files, PRIVATE, KEEP_BOTH)
    lines = status.split("\n\n")
    assert lines[0].startswith("✗ broken.docx: not a Word document"), lines  # refused at upload
    assert lines[1:] == [
        "✓ optics.md added (3 sections)",
        "✗ scripts.html: no text in this html file",
        "✓ laplace.docx added (2 sections)",
        "✗ latin1.txt: not UTF-8 text (invalid byte 0xe4 at offset 2); save the file as UTF-8 "
        "and ingest it again",
        "✓ thermo.html added (2 sections)",
    ], lines
    assert set(table["document"]) >= {"optics.md", "laplace.docx", "thermo.html"}
    stored = sorted(p.name for p in (lib.folder(me) / "uploads").iterdir())
    assert stored == ["laplace.docx", "optics.md", "thermo.html"]
    hits = lib.query(me, "Malus law transmitted intensity polarisation", k=3)
    assert ("optics.md", "§ Polarisation") in {(h.source, h.page_label) for h in hits}, hits


def test_an_older_text_pipeline_is_flagged_and_redone_by_uploading_again(
    lib: Library, tmp_path: Path, doc_files
) -> None:
    from types import SimpleNamespace

    from stemqa.demo.tabs.documents import documents_table

    me = owner_for(Request("s-outdated"))
    assert lib.add(me, PRIVATE, [upload(tmp_path, doc_files["docx"], "laplace.docx")]) == [
        "✓ laplace.docx added (2 sections)"
    ]
    index = lib.private_index(me)
    ids = index._collection.get(where={"source": "laplace.docx"})["ids"]
    # as an index built before the marker existed: its chunks don't say which text made them
    index._collection.update(ids=ids, metadatas=[{"text_pipeline": None}] * len(ids))
    [doc] = [d for d in lib.documents(me) if d.source == "laplace.docx"]
    assert doc.outdated.endswith("re-ingest to update")
    table, _ = documents_table(SimpleNamespace(library=lib), me)
    status = table.loc[table["document"] == "laplace.docx", "status"].item()
    assert status.startswith("ready; text made by not recorded") and "docx clean-" in status
    again = lib.add(me, PRIVATE, [upload(tmp_path, doc_files["docx"], "laplace.docx")])
    assert again == ["✓ laplace.docx: unchanged, its text re-extracted with the current pipeline"]
    assert not [d for d in lib.documents(me) if d.outdated]
    third = lib.add(me, PRIVATE, [upload(tmp_path, doc_files["docx"], "laplace.docx")])
    assert third == ["= laplace.docx: already in the library, unchanged."]


def test_shared_documents_indexed_from_a_folder_open_from_their_recorded_file(
    lib: Library, tmp_path: Path, doc_files
) -> None:
    """`rag-ingest --index <shared> FOLDER` records each file's path: the viewer opens it while
    it is there with the indexed content, and says in one line when it is not."""
    from stemqa.demo.viewer import open_passage, passage_records

    me = owner_for(Request("s-folder"))
    course = tmp_path / "course"
    course.mkdir()
    notes = course / "waves.md"
    shutil.copy(doc_files["md"], notes)
    assert lib.shared.get().add(course).files == 1  # what rag-ingest does
    assert lib.source_file(me, "waves.md") == (notes.resolve(), "")
    hits = [p for p in lib.query(me, "double slit fringes path difference", k=5)]
    records = passage_records([next(p for p in hits if p.source == "waves.md")])
    image, shown, message = open_passage(lib, me, records, 0)
    assert image is None and "<mark>" in shown and "highlighted in its section" in message, message
    assert records[0]["cite"] == "waves.md p. § Young's double slit"

    notes.write_text(notes.read_text() + "\nAn added line.\n")
    message = open_passage(lib, me, records, 0)[2]
    assert message == (
        "✗ The source file of waves.md changed since it was indexed; re-ingest it to see the "
        "cited passage."
    )
    notes.unlink()
    message = open_passage(lib, me, records, 0)[2]
    assert message == f"✗ The source file of waves.md is not available ({notes.resolve()} is gone)."
    assert lib.source_file(me, "never-indexed.md")[1].startswith(
        "The source file of never-indexed.md is not available (not among the uploads"
    )
