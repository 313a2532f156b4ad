"""Documents tab: what the app retrieves from. Add, list, delete (after a confirmation), search.

Uploads take every format rag ingests (PDF, .docx, Markdown, HTML, text: uploads.py checks
them); each file of a batch gets one line saying what happened to it.

Two libraries show here: the shared one (everyone retrieves from it; visitors may not change it
when the app runs with --read-only-library) and the caller's own (library.py). Every handler
works out the caller from the request, never from a value the page sends, so one session can't
list, search or delete another's documents. Problems are written into the status line next to
the button that caused them, not into toasts that fade.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from stemqa.core.retrieval import display_page
from stemqa.demo.index_service import IndexUnavailableError
from stemqa.demo.library import (
    KEEP_BOTH,
    PRIVATE,
    REPLACE,
    SHARED,
    LibraryError,
    Owner,
    owner_for,
    units,
)
from stemqa.demo.services import Services, excerpt
from stemqa.demo.uploads import (
    FORMATS_TEXT,
    CheckedUpload,
    UploadError,
    check_upload,
    discard_temp,
    document_suffixes,
)
from stemqa.rag.retrievers import DEFAULT_MODE, MODES

log = logging.getLogger(__name__)

DOC_HEADERS = ["document", "library", "pages", "chunks", "added", "status"]
HIT_HEADERS = ["score", "document", "page", "passage"]
SCOPE_LABELS = {SHARED: "shared", PRIVATE: "yours"}
POLICIES = [("Keep both (the new one gets a number)", KEEP_BOTH), ("Replace it", REPLACE)]


def _problem(exc: Exception) -> str:
    return f"✗ {exc}"


def status_text(document: Any) -> str:
    """'ready', or the index's word for a file that is not (fully) searchable and why; a file
    made by an older text pipeline says so, with what to do ("re-ingest to update")."""
    if document.state == "complete":
        text = "ready"
    else:
        text = f"{document.state}: {document.note}" if document.note else document.state
    outdated = getattr(document, "outdated", "")
    return f"{text}; {outdated}" if outdated else text


def documents_table(services: Services, owner: Owner) -> tuple[pd.DataFrame, Any]:
    """The documents table and the delete dropdown: what this caller may delete, nothing more."""
    docs = services.library.documents(owner)
    rows = [
        [
            d.source,
            SCOPE_LABELS[d.scope],
            d.pages,
            d.chunks,
            d.added[:19].replace("T", " "),
            status_text(d),
        ]
        for d in docs
    ]
    deletable = [
        (f"{d.source} ({SCOPE_LABELS[d.scope]})", f"{d.scope}:{d.source}")
        for d in docs
        if d.scope == PRIVATE or services.library.shared_writable
    ]
    return pd.DataFrame(rows, columns=DOC_HEADERS), gr.Dropdown(
        choices=deletable, value=deletable[0][1] if deletable else None
    )


def _table_or_empty(services: Services, owner: Owner) -> tuple[pd.DataFrame, Any]:
    try:
        return documents_table(services, owner)
    except IndexUnavailableError:
        return pd.DataFrame(columns=DOC_HEADERS), gr.Dropdown(choices=[], value=None)


def _upload_name(file: Any) -> tuple[str, str]:
    """(temp path, name the browser sent) for what gr.File hands over."""
    path = file if isinstance(file, str) else getattr(file, "name", None) or file.get("path")
    original = getattr(file, "orig_name", None) or Path(str(path)).name
    return str(path), str(original)


def _check(services: Services, files: list[Any]) -> tuple[list[CheckedUpload], list[str]]:
    """Checked uploads and one line per refused file (whose temporary copy is removed)."""
    max_bytes = services.settings.max_upload_mb * 1_000_000
    checked, lines = [], []
    for file in files:
        temp, original = _upload_name(file)
        try:
            checked.append(check_upload(temp, original, max_bytes=max_bytes))
        except (UploadError, OSError) as exc:
            lines.append(_problem(exc))
            discard_temp(temp, services.settings.cache_dir)
    return checked, lines


def _hide() -> Any:
    return gr.Row(visible=False)


def add_documents(
    services: Services,
    owner: Owner,
    files: list[Any] | None,
    scope: str,
    policy: str,
    progress: Any = None,
    *,
    confirmed: bool = False,
):
    """Handler: (status, table, delete choices, files, confirm row, confirm text).

    With "replace" and a name that holds different content, nothing is changed yet: the
    confirmation row asks first, and its button calls this again with `confirmed`.
    """
    if not files:
        table, dropdown = _table_or_empty(services, owner)
        return "✗ Choose one or more files first.", table, dropdown, None, _hide(), ""
    library = services.library
    checked, lines = _check(services, files)
    try:
        if checked and policy == REPLACE and not confirmed:
            clashes = library.clashes(owner, scope, checked)
            if clashes:
                names = ", ".join(f"{d.source} ({units(d.source, d.pages)})" for d in clashes)
                question = (
                    f"**Replace {names}?** The new upload takes its place for everyone who "
                    "retrieves from this library."
                    if scope == SHARED
                    else f"**Replace {names}?** The new upload takes its place."
                )
                table, dropdown = documents_table(services, owner)
                return "\n\n".join(lines), table, dropdown, files, gr.Row(visible=True), question
        if checked:
            lines += library.add(owner, scope, checked, policy=policy, progress=progress)
    except (IndexUnavailableError, LibraryError) as exc:
        lines.append(_problem(exc))
    for upload in checked:
        discard_temp(upload.temp, services.settings.cache_dir)  # don't let cache/ fill up
    table, dropdown = _table_or_empty(services, owner)
    return "\n\n".join(lines), table, dropdown, None, _hide(), ""


def cancel_replace(services: Services, files: list[Any] | None):
    for file in files or []:
        discard_temp(_upload_name(file)[0], services.settings.cache_dir)
    return "Nothing was replaced.", None, _hide(), ""


def ask_delete(services: Services, owner: Owner, choice: str | None):
    """First click on Delete: say what will go, and show the confirmation buttons."""
    if not choice:
        return "✗ Choose a document to delete.", _hide(), ""
    scope, _, source = choice.partition(":")
    where = "the shared library (for everyone)" if scope == SHARED else "your documents"
    return "", gr.Row(visible=True), f"**Delete {source} from {where}?** This cannot be undone."


def delete_document(services: Services, owner: Owner, choice: str | None):
    """Confirmed: delete it. Returns (status, table, delete choices, confirm row, text)."""
    table, dropdown = _table_or_empty(services, owner)
    if not choice:
        return "✗ Choose a document to delete.", table, dropdown, _hide(), ""
    scope, _, source = choice.partition(":")
    try:
        removed = services.library.delete(owner, scope, source)
    except (IndexUnavailableError, LibraryError) as exc:
        return _problem(exc), table, dropdown, _hide(), ""
    table, dropdown = _table_or_empty(services, owner)
    if not removed:
        return f"✗ {source} is not in your libraries.", table, dropdown, _hide(), ""
    return f"Deleted {source} ({removed} chunks).", table, dropdown, _hide(), ""


def search(services: Services, owner: Owner, query: str, k: float, mode: str):
    """Handler: (hits, message under the search box)."""
    empty = pd.DataFrame(columns=HIT_HEADERS)
    if not (query or "").strip():
        return empty, "✗ Type something to search for."
    try:
        hits = services.library.query(owner, query.strip(), k=int(k), mode=mode)
    except IndexUnavailableError as exc:
        return empty, _problem(exc)
    rows = [[round(float(h.score), 3), h.source, display_page(h), excerpt(h.text)] for h in hits]
    return pd.DataFrame(rows, columns=HIT_HEADERS), "" if rows else "No documents to search yet."


def build(services: Services, demo: gr.Blocks) -> None:
    library = services.library
    scopes = [("Only me", PRIVATE)]
    if library.shared_writable:
        scopes.insert(0, ("Shared library (everyone)", SHARED))
    with gr.Row():
        with gr.Column(scale=2):
            files = gr.File(
                label=f"Documents to add: {FORMATS_TEXT} (up to "
                f"{services.settings.max_upload_mb} MB each)",
                file_count="multiple",
                file_types=list(document_suffixes()),
                elem_id="docs-upload",
            )
            scope = gr.Radio(
                scopes,
                value=scopes[0][1],
                label="Add to",
                info=None
                if library.shared_writable
                else "The shared library is read-only here; your documents are yours only.",
                elem_id="docs-scope",
            )
            policy = gr.Radio(
                POLICIES,
                value=KEEP_BOTH,
                label="If a document of that name has other content",
                elem_id="docs-policy",
            )
            add = gr.Button("Add to index", variant="primary", elem_id="docs-add")
            with gr.Row(visible=False, elem_id="docs-replace-confirm") as replace_row:
                replace_text = gr.Markdown(elem_id="docs-replace-question")
                replace_yes = gr.Button("Replace", variant="stop", elem_id="docs-replace-yes")
                replace_no = gr.Button("Cancel", elem_id="docs-replace-no")
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
            with gr.Row(visible=False, elem_id="docs-delete-confirm") as delete_row:
                delete_text = gr.Markdown(elem_id="docs-delete-question")
                delete_yes = gr.Button("Delete", variant="stop", elem_id="docs-delete-yes")
                delete_no = gr.Button("Cancel", elem_id="docs-delete-no")
            delete_status = gr.Markdown(elem_id="docs-delete-status")
    with gr.Row():
        query = gr.Textbox(
            label="Search", placeholder="e.g. Gauss's law", scale=4, elem_id="docs-query"
        )
        k = gr.Slider(1, 20, value=5, step=1, label="Hits (k)", scale=1)
        mode = gr.Radio(list(MODES), value=DEFAULT_MODE, label="Mode", scale=2)
        go = gr.Button("Search", scale=1, elem_id="docs-search")
    search_status = gr.Markdown(elem_id="docs-search-status")
    hits = gr.Dataframe(
        headers=HIT_HEADERS,
        label="Top hits",
        interactive=False,
        wrap=True,
        column_widths=["8%", "18%", "7%", "67%"],
        elem_id="docs-hits",
    )

    # Handlers take the caller from the request (and the HF profile when signed in): the page
    # cannot name another owner.
    def on_add(
        files,
        scope,
        policy,
        request: gr.Request,
        profile: gr.OAuthProfile | None,
        progress=gr.Progress(),  # noqa: B008 (Gradio's documented idiom)
    ):
        return add_documents(services, owner_for(request, profile), files, scope, policy, progress)

    def on_replace(
        files,
        scope,
        request: gr.Request,
        profile: gr.OAuthProfile | None,
        progress=gr.Progress(),  # noqa: B008
    ):
        owner = owner_for(request, profile)
        return add_documents(services, owner, files, scope, REPLACE, progress, confirmed=True)

    def on_ask_delete(choice, request: gr.Request, profile: gr.OAuthProfile | None):
        return ask_delete(services, owner_for(request, profile), choice)

    def on_delete(choice, request: gr.Request, profile: gr.OAuthProfile | None):
        return delete_document(services, owner_for(request, profile), choice)

    def on_table(request: gr.Request, profile: gr.OAuthProfile | None):
        return _table_or_empty(services, owner_for(request, profile))

    def on_search(q, n, m, request: gr.Request, profile: gr.OAuthProfile | None):
        return search(services, owner_for(request, profile), q, n, m)

    write = {"concurrency_id": "index-write", "concurrency_limit": 1, "api_visibility": "private"}
    add_outputs = [status, table, to_delete, files, replace_row, replace_text]
    # The progress bar is drawn on the status line only, not on every output.
    add.click(on_add, [files, scope, policy], add_outputs, show_progress_on=[status], **write)
    replace_yes.click(on_replace, [files, scope], add_outputs, show_progress_on=[status], **write)
    replace_no.click(
        lambda f: cancel_replace(services, f),
        inputs=files,
        outputs=[status, files, replace_row, replace_text],
        api_visibility="private",
    )
    delete.click(
        on_ask_delete,
        inputs=to_delete,
        outputs=[delete_status, delete_row, delete_text],
        api_visibility="private",
    )
    delete_yes.click(
        on_delete,
        inputs=to_delete,
        outputs=[delete_status, table, to_delete, delete_row, delete_text],
        **write,
    )
    delete_no.click(
        lambda: ("", _hide(), ""),
        outputs=[delete_status, delete_row, delete_text],
        api_visibility="private",
    )
    # A confirmation is for the document it names: choosing another one withdraws it. `.input`
    # (the user's choice), not `.change`: a delete updates the choices itself, and `.change`
    # would then wipe its own "Deleted …" message.
    to_delete.input(
        lambda: ("", _hide(), ""),
        outputs=[delete_status, delete_row, delete_text],
        queue=False,
        api_visibility="private",
    )
    refresh.click(on_table, outputs=[table, to_delete], api_visibility="private")
    gr.on(
        [go.click, query.submit],
        on_search,
        inputs=[query, k, mode],
        outputs=[hits, search_status],
        api_name="search",
        concurrency_limit=4,
    )
    # Fill the table when a browser opens the app (each session gets its own view).
    demo.load(on_table, outputs=[table, to_delete], api_visibility="private")
