"""`rag-ingest --page-index` and retrieval mode "multi": the companion whole-page index.

One real index (Chroma + bm25s, the real embedder) over one course PDF, built once per module
through the CLI; the tests run in file order and the last ones replace and delete the file.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from stemqa.core.retrieval import open_retriever
from stemqa.rag.cli import eval_main, ingest_main, query_main
from stemqa.rag.index import Index
from stemqa.rag.retriever import NO_PAGE_INDEX, PAGE_INDEX_FOLDER, PageIndexMissingError, open_index

PDF = "PHY102_Electromagnetism.pdf"  # 5 pages; the Biot-Savart law is on 0-based page 2
PAGES = 5


@pytest.fixture(scope="module")
def built(tmp_path_factory, wordnet, pdf_dir: Path) -> dict:
    root = tmp_path_factory.mktemp("page_index")
    pdfs = root / "pdfs"
    pdfs.mkdir()
    shutil.copy(pdf_dir / PDF, pdfs / PDF)
    index = root / "index"
    argv = [str(pdfs), "--index", str(index), "--chunk-size", "500", "--chunk-overlap", "100"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = ingest_main([*argv, "--page-index", "--quiet"])
    return {"index": index, "pdfs": pdfs, "argv": argv, "status": status, "out": out.getvalue()}


def _sources(path: Path) -> dict[str, tuple[int, int, str]]:
    index = Index(path, create=False)
    return {d.source: (d.pages, d.chunks, d.sha256) for d in index.documents() if d.complete}


def test_ingest_with_page_index_builds_both(built: dict, capsys):
    assert built["status"] == 0
    lines = built["out"].splitlines()
    assert lines[0].startswith(f"1 file(s) ingested ({PAGES} pages")
    assert lines[1].startswith(f"page index: 1 file(s) ingested ({PAGES} pages, {PAGES} chunks)")
    main, pages = _sources(built["index"]), _sources(built["index"] / PAGE_INDEX_FOLDER)
    assert main[PDF][1] > PAGES  # 500-character chunks: several per page
    assert pages[PDF][:2] == (PAGES, PAGES)  # one entry per page
    assert main[PDF][2] == pages[PDF][2]  # the same file version in both
    assert Index(built["index"] / PAGE_INDEX_FOLDER, create=False).chunk_size == 4000
    assert ingest_main(["--list", "--index", str(built["index"])]) == 0
    listing = capsys.readouterr().out
    assert f"page index at {built['index'] / PAGE_INDEX_FOLDER}: 1 documents, 5 pages" in listing
    assert "not in step" not in listing


def test_query_multi_returns_pages(built: dict, capsys):
    argv = ["Biot-Savart law", "--index", str(built["index"]), "--mode", "multi", "--json"]
    assert query_main([*argv, "-k", "3"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert 1 <= len(rows) <= 3
    assert rows[0]["source"] == PDF and rows[0]["page"] == 2
    assert len({r["page"] for r in rows}) == len(rows)  # ranked at page level: one per page
    assert all(r["text"].strip() for r in rows)


def test_multi_through_the_entry_point_and_rag_eval(built: dict, tmp_path: Path, capsys):
    # eval-mcqa's path: core's open_retriever -> the "chroma" entry point, options as text.
    retriever = open_retriever(str(built["index"]), kind="chroma", mode="multi", k="2")
    hits = retriever.retrieve("Maxwell's equations with time dependence")
    assert retriever.k == 2 and 1 <= len(hits) <= 2 and hits[0].source == PDF
    questions = tmp_path / "q.json"
    questions.write_text(
        json.dumps(
            [
                {"question": "Biot-Savart law", "source": PDF, "pages": [2]},
                {
                    "question": "Maxwell's equations with time dependence",
                    "source": PDF,
                    "pages": [3],
                },
            ]
        )
    )
    argv = ["--index", str(built["index"]), "--questions", str(questions), "--json"]
    assert eval_main([*argv, "--mode", "multi"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["mode"] == "multi" and row["n"] == 2 and row["recall@5"] == 1.0


def test_multi_without_a_page_index_says_what_to_run(tmp_path: Path, capsys):
    plain = tmp_path / "plain"
    Index(plain).add_texts(
        ["Ampere's law relates the field to the current."], [{"source": "a"}], ["a:0:0"]
    )
    assert query_main(["Ampere", "--index", str(plain), "--mode", "multi"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and NO_PAGE_INDEX in err and "Traceback" not in err
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([{"question": "Ampere", "source": "a", "pages": [0]}]))
    argv = ["--index", str(plain), "--questions", str(questions), "--mode", "multi"]
    assert eval_main(argv) == 2
    assert NO_PAGE_INDEX in capsys.readouterr().err
    with pytest.raises(PageIndexMissingError, match="rerun rag-ingest with --page-index"):
        open_index(str(plain), mode="multi")
    assert not (plain / PAGE_INDEX_FOLDER).exists()  # asking did not create one


def test_unchanged_reingest_embeds_nothing_in_either(built: dict, capsys):
    assert ingest_main([*built["argv"], "--quiet"]) == 0  # the page index is kept without the flag
    main, pages = capsys.readouterr().out.splitlines()[:2]
    assert main.startswith("0 file(s) ingested (0 pages, 0 chunks), 1 unchanged")
    assert pages.startswith("page index: 0 file(s) ingested (0 pages, 0 chunks), 1 unchanged")


def test_a_replaced_file_is_replaced_in_both_and_deleted_from_both(built: dict, capsys):
    path = built["pdfs"] / PDF
    writer = PdfWriter()
    for page in PdfReader(path).pages[:3]:
        writer.add_page(page)
    with path.open("wb") as handle:
        writer.write(handle)  # the same name, new content: its first three pages
    assert ingest_main([*built["argv"], "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "page index: 1 file(s) ingested (3 pages, 3 chunks)" in out
    assert f"{PAGES} old chunks replaced" in out.splitlines()[1]
    main, pages = _sources(built["index"]), _sources(built["index"] / PAGE_INDEX_FOLDER)
    assert main[PDF][0] == pages[PDF][0] == 3 and main[PDF][2] == pages[PDF][2]

    assert ingest_main(["--delete", PDF, "--index", str(built["index"])]) == 0
    assert ", 3 from the page index" in capsys.readouterr().out
    assert _sources(built["index"]) == {} == _sources(built["index"] / PAGE_INDEX_FOLDER)
