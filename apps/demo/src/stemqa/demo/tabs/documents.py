"""Documents tab: the PDFs the app retrieves from. Add, list, delete, search.

The index is the app's knowledge base, shared by everyone using this app instance (like a
team's document folder); uploads are refused unless they are PDFs under the size limit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from stemqa.demo.services import Services, excerpt, page_label
from stemqa.demo.tabs.common import require_index
from stemqa.demo.uploads import UploadError, accept_pdf

log = logging.getLogger(__name__)

DOC_HEADERS = ["document", "pages", "chunks", "added"]
HIT_HEADERS = ["score", "document", "page", "passage"]
SEARCH_MODES = ("hybrid", "dense", "bm25")


def _index(services: Services) -> Any:
    return require_index(services, sticky=True)


def documents_table(services: Services) -> tuple[pd.DataFrame, Any]:
    """The documents table and the delete dropdown's choices, from the index itself."""
    docs = _index(services).documents()
    rows = [
        [d.source, d.pages, d.chunks, str(getattr(d, "added", "") or "")[:19].replace("T", " ")]
        for d in docs
    ]
    names = [d.source for d in docs]
    return pd.DataFrame(rows, columns=DOC_HEADERS), gr.Dropdown(
        choices=names, value=names[0] if names else None
    )


def _upload_name(file: Any) -> tuple[str, str]:
    """(temp path, name the browser sent) for what gr.File hands over."""
    path = file if isinstance(file, str) else getattr(file, "name", None) or file.get("path")
    original = getattr(file, "orig_name", None) or Path(str(path)).name
    return str(path), str(original)


def add_documents(services: Services, files: list[Any] | None, progress: gr.Progress):
    if not files:
        raise gr.Error("Choose one or more PDF files first.")
    settings = services.settings
    max_bytes = settings.max_upload_mb * 1_000_000
    accepted, lines = [], []
    for file in files:
        temp, original = _upload_name(file)
        try:
            accepted.append(accept_pdf(temp, original, settings.uploads_dir, max_bytes=max_bytes))
        except UploadError as exc:
            lines.append(f"✗ {exc}")
    index = _index(services)
    if accepted:
        progress(0, desc="Reading and indexing PDFs")
        with services.index.write_lock:
            # Index.add calls progress(fraction, desc=...), gr.Progress's own signature.
            report = index.add([a.path for a in accepted], progress=progress)
        lines.extend(_describe_report(report, accepted))
    table, dropdown = documents_table(services)
    return "\n\n".join(lines), table, dropdown, None


def _describe_report(report: Any, accepted: list[Any]) -> list[str]:
    """One line per file from the IngestReport: added, unchanged, or why it was skipped."""
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    lines = []
    for a in accepted:
        if a.name in skipped:
            lines.append(f"✗ {a.name}: {skipped.pop(a.name)}")
        else:
            lines.append(f"✓ {a.name} added")
    lines.extend(f"✗ {name}: {reason}" for name, reason in skipped.items())
    lines.append(
        f"{report.files} file(s) indexed ({report.pages} pages, {report.chunks} new chunks), "
        f"{report.unchanged} already up to date, in {report.seconds:.1f} s."
    )
    return lines


def delete_document(services: Services, source: str | None):
    if not source:
        raise gr.Error("Choose a document to delete.")
    with services.index.write_lock:
        removed = _index(services).delete(source)
    uploaded = (services.settings.uploads_dir / Path(source).name).resolve()
    if uploaded.parent == services.settings.uploads_dir.resolve() and uploaded.is_file():
        uploaded.unlink()
    table, dropdown = documents_table(services)
    return f"Deleted {source} ({removed} chunks).", table, dropdown


def search(services: Services, query: str, k: float, mode: str) -> pd.DataFrame:
    if not (query or "").strip():
        raise gr.Error("Type something to search for.")
    hits = _index(services).query(query.strip(), k=int(k), mode=mode)
    rows = [[round(float(h.score), 3), h.source, page_label(h), excerpt(h.text)] for h in hits]
    return pd.DataFrame(rows, columns=HIT_HEADERS)


def build(services: Services, demo: gr.Blocks) -> None:
    with gr.Row():
        with gr.Column(scale=2):
            files = gr.File(
                label=f"PDFs to add (up to {services.settings.max_upload_mb} MB each)",
                file_count="multiple",
                file_types=[".pdf"],
                elem_id="docs-upload",
            )
            add = gr.Button("Add to index", variant="primary", elem_id="docs-add")
            status = gr.Markdown(elem_id="docs-status")
        with gr.Column(scale=3):
            table = gr.Dataframe(
                headers=DOC_HEADERS,
                label="Indexed documents",
                interactive=False,
                elem_id="docs-table",
            )
            with gr.Row():
                to_delete = gr.Dropdown(
                    label="Document", choices=[], scale=3, elem_id="docs-delete-choice"
                )
                delete = gr.Button("Delete", variant="stop", scale=1, elem_id="docs-delete")
                refresh = gr.Button("Refresh", scale=1, elem_id="docs-refresh")
    with gr.Row():
        query = gr.Textbox(
            label="Search", placeholder="e.g. Gauss's law", scale=4, elem_id="docs-query"
        )
        k = gr.Slider(1, 20, value=5, step=1, label="Hits (k)", scale=1)
        mode = gr.Radio(list(SEARCH_MODES), value="hybrid", label="Mode", scale=2)
        go = gr.Button("Search", scale=1, elem_id="docs-search")
    hits = gr.Dataframe(
        headers=HIT_HEADERS,
        label="Top hits",
        interactive=False,
        wrap=True,
        column_widths=["8%", "18%", "7%", "67%"],
        elem_id="docs-hits",
    )

    def on_add(files, progress=gr.Progress()):  # noqa: B008 (Gradio's documented idiom)
        return add_documents(services, files, progress)

    add.click(
        on_add,
        inputs=files,
        outputs=[status, table, to_delete, files],
        concurrency_id="index-write",
        concurrency_limit=1,
        api_visibility="private",
    )
    delete.click(
        lambda source: delete_document(services, source),
        inputs=to_delete,
        outputs=[status, table, to_delete],
        concurrency_id="index-write",
        concurrency_limit=1,
        api_visibility="private",
    )
    refresh.click(
        lambda: documents_table(services), outputs=[table, to_delete], api_visibility="private"
    )
    gr.on(
        [go.click, query.submit],
        lambda q, n, m: search(services, q, n, m),
        inputs=[query, k, mode],
        outputs=hits,
        api_name="search",
        concurrency_limit=4,
    )
    # Fill the table when a browser opens the app (each session gets the current list).
    demo.load(
        lambda: documents_table(services), outputs=[table, to_delete], api_visibility="private"
    )
