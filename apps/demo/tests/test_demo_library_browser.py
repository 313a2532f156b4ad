"""Private libraries and safe uploads in a real Chromium: two browser sessions, one server.

Session A adds a private document; session B can't see it in the table, find it by search or
pick it for deletion. A's uploads under a taken name keep both, a replace waits for a
confirmation and says what changed, and a delete asks first. Then one batch of other formats
(Markdown, a fake .docx, an HTML page without text): the good file goes in, each bad one gets
its own line, and nothing refused stays in uploads/.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

PDFS = Path(__file__).resolve().parents[3] / "tests" / "data" / "pdfs"
GEOMETRY = PDFS / "MTH201_Differential_Geometry.pdf"
TIMEOUT = 120_000
expect.set_options(timeout=TIMEOUT)


def documents_tab(open_app):
    context, page = open_app()
    page.get_by_role("tab", name="Documents").click()
    return context, page


def upload(page, name: str, data: bytes, *more: tuple[str, str, bytes]) -> None:
    """Choose files (name, bytes; `more`: (name, MIME type, bytes)) and click Add."""
    files = [(name, "application/pdf", data), *more]
    page.locator("#docs-upload input[type=file]").set_input_files(
        [{"name": n, "mimeType": mime, "buffer": b} for n, mime, b in files]
    )
    # Once uploaded, gr.File lists each file as stem, extension and size with a download
    # arrow (during the upload it shows the whole name): wait for one arrow per file.
    box = page.locator("#docs-upload")
    for n, _mime, _b in files:
        expect(box).to_contain_text(Path(n).stem)
    deadline = time.monotonic() + TIMEOUT / 1000
    while box.inner_text().count("⇣") < len(files) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    page.locator("#docs-add").click()


def search(page, text: str):
    page.locator("#docs-query textarea, #docs-query input").first.fill(text)
    page.locator("#docs-search").click()
    return page.locator("#docs-hits")


def delete_choices(page) -> str:
    page.locator("#docs-delete-choice input").click()
    options = page.get_by_role("listbox").inner_text()
    page.keyboard.press("Escape")
    return options


def test_two_sessions_private_documents_keep_both_replace_and_delete(
    open_app, demo_server, pdf_pages, doc_files
) -> None:
    ctx_a, a = documents_tab(open_app)
    ctx_b, b = documents_tab(open_app)
    try:
        status, table = a.locator("#docs-status"), a.locator("#docs-table")
        a.locator("#docs-scope").get_by_label("Only me").check()
        upload(a, "Übungen.pdf", pdf_pages(GEOMETRY, [0, 1]))
        expect(status).to_contain_text("✓ Übungen.pdf added (2 pages)")  # the name is kept
        expect(table).to_contain_text("Übungen.pdf")
        expect(table).to_contain_text("yours")
        hits = search(a, "curves and surfaces differential geometry")
        expect(hits).to_contain_text("Übungen.pdf")

        # B sees, finds and can delete none of it
        b.locator("#docs-refresh").click()
        b.wait_for_timeout(1500)
        assert "Übungen" not in b.locator("#docs-table").inner_text()
        hits_b = search(b, "curves and surfaces differential geometry")
        b.wait_for_timeout(3000)  # the search answered (or there is nothing to show)
        assert "Übungen" not in hits_b.inner_text()
        assert "Übungen" not in delete_choices(b)

        # the same name with other content: both kept, said so
        upload(a, "Übungen.pdf", pdf_pages(GEOMETRY, [2, 3]))
        expect(status).to_contain_text("✓ Übungen.pdf added as Übungen (2).pdf")
        expect(status).to_contain_text("both are kept")
        expect(table).to_contain_text("Übungen (2).pdf")

        # replace only after confirming, and say what changed
        a.locator("#docs-policy").get_by_label("Replace it").check()
        upload(a, "Übungen.pdf", pdf_pages(GEOMETRY, [4]))
        expect(a.locator("#docs-replace-question")).to_contain_text(
            "Replace Übungen.pdf (2 pages)?"
        )
        assert "replaced" not in status.inner_text()
        a.locator("#docs-replace-yes").click()
        expect(status).to_contain_text("✓ replaced Übungen.pdf (2 → 1 pages)")
        expect(a.locator("#docs-replace-confirm")).to_be_hidden()

        # delete asks first; Cancel keeps the document
        a.locator("#docs-delete-choice input").click()
        a.get_by_role("option", name="Übungen (2).pdf (yours)").click()
        a.locator("#docs-delete").click()
        expect(a.locator("#docs-delete-question")).to_contain_text("Delete Übungen (2).pdf")
        a.locator("#docs-delete-no").click()
        expect(a.locator("#docs-delete-confirm")).to_be_hidden()
        expect(table).to_contain_text("Übungen (2).pdf")
        a.locator("#docs-delete").click()
        a.locator("#docs-delete-yes").click()
        expect(a.locator("#docs-delete-status")).to_contain_text("Deleted Übungen (2).pdf")
        expect(table).not_to_contain_text("Übungen (2).pdf")

        # other formats in one batch: each file gets its line, the bad ones don't stop the rest
        upload(
            a,
            "wave notes.md",
            doc_files["md"].read_bytes(),
            ("broken.docx", "application/octet-stream", doc_files["bad_docx"].read_bytes()),
            ("scripts.html", "text/html", doc_files["bad_html"].read_bytes()),
        )
        expect(status).to_contain_text("✓ wave notes.md added (3 sections)")
        expect(status).to_contain_text("✗ broken.docx: not a Word document")
        expect(status).to_contain_text("✗ scripts.html: no text in this html file")
        expect(table).to_contain_text("wave notes.md")
        hits = search(a, "double slit fringes path difference wavelengths")
        expect(hits).to_contain_text("wave notes.md")

        # nothing refused or temporary piled up: A's uploads hold exactly A's documents
        private = demo_server.data_dir / "private"
        (folder,) = {p.parent for p in private.glob("session-*/uploads/Übungen*")}
        assert sorted(p.name for p in folder.iterdir()) == ["wave notes.md", "Übungen.pdf"]
        assert not list((demo_server.data_dir / "cache").rglob("Übungen*.pdf"))
        assert not list((demo_server.data_dir / "cache").rglob("broken.docx"))
    finally:
        ctx_a.close()
        ctx_b.close()
