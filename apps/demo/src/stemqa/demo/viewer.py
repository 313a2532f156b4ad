"""The page viewer: a cited passage shown on its rendered PDF page, or in its section, highlighted.

Users would rather look at the page than read a table of excerpts. pypdfium2 renders the page
to an image and its text page finds where the passage sits. A chunk's text is not always a
verbatim run of the page's text (cleaning joins hyphenated words and merges lines), so the
passage is searched as consecutive runs of a few words; every run found is highlighted and
the region they cover is framed. When nothing is found (a scanned page, OCR text), the page
is still shown, unmarked, and the message says so.

Documents without pages (.md, .txt, .html, .docx) are shown as the text of the cited section,
read again through rag's own loader (so it is the text the chunks came from), with the passage
in <mark>; everything else is HTML-escaped, so a document's markup is shown, never run. The
file is an upload, or for a shared document `rag-ingest` indexed from a folder, the file its
chunks recorded (library.py says in one line when it is gone or changed).
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, ImageDraw

log = logging.getLogger(__name__)

#: Words per searched run: long enough to be unique on a page, short enough to survive the
#: cleaning that changed a few words of the chunk.
RUN_WORDS = 6
SCALE = 1.5  # 108 dpi: readable, and a page image stays well under 1 MB
HIGHLIGHT = (255, 214, 0, 90)
FRAME = (220, 38, 38, 255)
SECTION_STYLE = (
    "white-space: pre-wrap; max-height: 32em; overflow-y: auto; padding: 0.75em; "
    "border: 1px solid #d4d4d8; border-radius: 6px; line-height: 1.5"
)

Box = tuple[float, float, float, float]  # left, bottom, right, top in PDF points


class ViewerError(ValueError):
    """The page can't be shown; the message is meant for the user as is."""


@dataclass
class RenderedPage:
    image: Image.Image
    boxes: list[Box]  # the passage's text boxes found on the page (PDF points)
    page_count: int

    @property
    def found(self) -> bool:
        return bool(self.boxes)


def passage_boxes(textpage: Any, text: str, run_words: int = RUN_WORDS) -> list[Box]:
    """Text rectangles of `text` on a pypdfium2 PdfTextPage, found run by run."""
    runs = _runs(text, run_words)
    boxes: list[Box] = []
    while runs:
        run = runs.pop(0)
        occurrence = textpage.search(" ".join(run), match_case=False).get_next()
        if occurrence is None:
            if len(run) >= 6:  # one changed word spoils a run: try its halves
                half = len(run) // 2
                runs[:0] = [run[:half], run[half:]]
            continue
        start, count = occurrence
        boxes.extend(textpage.get_rect(j) for j in range(textpage.count_rects(start, count)))
    return boxes


def _runs(text: str, run_words: int = RUN_WORDS) -> list[list[str]]:
    """`text`'s words in runs of `run_words`, a 1-2 word tail joined to the run before it."""
    words = text.split()
    runs = [words[i : i + run_words] for i in range(0, len(words), run_words)]
    if len(runs) > 1 and len(runs[-1]) < 3:  # a 1-2 word tail would match anywhere
        runs[-2].extend(runs.pop())
    return runs


def passage_spans(section: str, passage: str) -> list[tuple[int, int]]:
    """Character spans of `passage` in `section`: the whole passage when it is there (any
    whitespace between words), else each run of words found, merged where they touch."""
    if not passage.split():
        return []

    def pattern(words: list[str]) -> re.Pattern[str]:
        return re.compile(r"\s+".join(map(re.escape, words)), re.IGNORECASE)

    whole = pattern(passage.split()).search(section)
    if whole is not None:
        return [whole.span()]
    spans: list[tuple[int, int]] = []
    for run in _runs(passage):
        found = pattern(run).search(section)
        if found is not None:
            spans.append(found.span())
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def section_html(title: str, text: str, spans: list[tuple[int, int]]) -> str:
    """The section as HTML: every character escaped, the spans in <mark>."""
    parts, at = [], 0
    for start, end in spans:
        parts.append(html.escape(text[at:start]))
        parts.append(f"<mark>{html.escape(text[start:end])}</mark>")
        at = end
    parts.append(html.escape(text[at:]))
    return (
        f'<div class="stemqa-section"><p><strong>{html.escape(title)}</strong></p>'
        f'<div style="{SECTION_STYLE}">{"".join(parts)}</div></div>'
    )


def load_section(path: str | Path, index: int) -> tuple[str, str]:
    """(locator, text) of the 0-based section `index` of a .md/.txt/.html/.docx file, read by
    rag's loader: the same sections, in the same cleaned text, that the chunks came from."""
    from stemqa.rag.loading import PdfLoadError, load_document

    path = Path(path)
    try:
        document = load_document(path)
    except PdfLoadError as exc:
        raise ViewerError(f"{path.name} could not be read ({exc.reason}).") from None
    for section in document.pages:
        if section.page == index:
            return section.display_label, section.text
    raise ViewerError(
        f"{path.name} has no section {index + 1} ({len(document.pages)} sections); "
        "re-ingest it if it changed."
    )


def render_page(pdf_path: str | Path, page: int, passage: str = "", *, scale: float = SCALE):
    """The 0-based `page` of a PDF as an image, with `passage` highlighted and framed."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(pdf_path))
    except (pdfium.PdfiumError, OSError) as exc:
        raise ViewerError(f"{Path(pdf_path).name} could not be opened ({exc}).") from None
    try:
        if not 0 <= page < len(pdf):
            raise ViewerError(f"{Path(pdf_path).name} has no page {page + 1} ({len(pdf)} pages).")
        pdf_page = pdf[page]
        left, _bottom, _right, top = pdf_page.get_cropbox()
        image = pdf_page.render(scale=scale).to_pil().convert("RGBA")
        textpage = pdf_page.get_textpage()
        boxes = passage_boxes(textpage, passage) if passage else []
        count = len(pdf)
    finally:
        pdf.close()
    if boxes:
        _mark(image, boxes, left, top, scale)
    return RenderedPage(image.convert("RGB"), boxes, count)


def _mark(image: Image.Image, boxes: list[Box], left: float, top: float, scale: float) -> None:
    """Yellow over each text box, a red frame around them all (image y grows downwards)."""

    def px(box: Box) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = box
        return ((x0 - left) * scale, (top - y1) * scale, (x1 - left) * scale, (top - y0) * scale)

    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    rects = [px(b) for b in boxes]
    for rect in rects:
        draw.rectangle(rect, fill=HIGHLIGHT)
    pad = 4 * scale
    frame = (
        min(r[0] for r in rects) - pad,
        min(r[1] for r in rects) - pad,
        max(r[2] for r in rects) + pad,
        max(r[3] for r in rects) + pad,
    )
    draw.rectangle(frame, outline=FRAME, width=max(2, round(2 * scale)))
    image.alpha_composite(overlay)


# -- the viewer in a tab -------------------------------------------------------------------


def passage_records(passages: list[Any]) -> list[dict[str, Any]]:
    """What the viewer keeps per cited passage (in the session's gr.State, never in the page)."""
    from stemqa.core.retrieval import cite

    return [{"source": p.source, "page": p.page, "text": p.text, "cite": cite(p)} for p in passages]


def choices_update(records: list[dict[str, Any]]) -> Any:
    """The viewer's dropdown for a new answer: one entry per cited passage, the first chosen."""
    choices = [(f"{n}. {r['cite']}", n - 1) for n, r in enumerate(records, start=1)]
    return gr.Dropdown(choices=choices, value=0 if choices else None)


def reset(passages: list[Any]) -> tuple[list[dict[str, Any]], Any, None, str, str]:
    """Outputs for (state, dropdown, image, section, message) when a new answer arrives."""
    records = passage_records(passages)
    return records, choices_update(records), None, "", ""


def _show_section(path: Path, record: dict[str, Any]) -> tuple[None, str, str]:
    """(no image, the cited section as HTML, message) for a document without pages."""
    try:
        title, text = load_section(path, int(record["page"]))
    except ViewerError as exc:
        return None, "", f"✗ {exc}"
    spans = passage_spans(text, record["text"])
    shown = section_html(f"{record['source']} {title}", text, spans)
    if spans:
        return None, shown, f"**{record['cite']}**: the passage is highlighted in its section."
    missing = (
        f"**{record['cite']}**: the passage's text was not found in the section (the file "
        "may have changed), so the section is shown unmarked."
    )
    return None, shown, missing


def open_passage(library: Any, owner: Any, records: list[dict[str, Any]], choice: Any):
    """Handler: (page image or None, section HTML or "", message) for the chosen passage."""
    if not records:
        return None, "", "✗ No cited passages yet: answer with *Use my documents* on first."
    try:
        record = records[int(choice)]
    except (TypeError, ValueError, IndexError):
        return None, "", "✗ Choose a cited passage."
    path, why = library.source_file(owner, record["source"])
    if path is None:
        return None, "", f"✗ {why}"
    if record["page"] is None:
        return None, "", f"✗ {record['cite']} has no page or section to show."
    if path.suffix.lower() != ".pdf":
        return _show_section(path, record)
    try:
        rendered = render_page(path, int(record["page"]), record["text"])
    except ViewerError as exc:
        return None, "", f"✗ {exc}"
    if rendered.found:
        return rendered.image, "", f"**{record['cite']}**: the passage is highlighted."
    unmarked = (
        f"**{record['cite']}**: the passage's text was not found on the page (a scan, or text "
        "laid out differently), so the page is shown unmarked."
    )
    return rendered.image, "", unmarked


@dataclass
class ViewerParts:
    state: Any  # gr.State with the passage records
    choice: Any
    image: Any
    section: Any  # gr.HTML: the cited section of a document without pages
    message: Any

    @property
    def outputs(self) -> list[Any]:
        """Outputs a new answer resets, in `reset`'s order."""
        return [self.state, self.choice, self.image, self.section, self.message]


def build_viewer(services: Any, prefix: str, table: Any = None) -> ViewerParts:
    """The page viewer under a tab's answer; clicking a row of `table` opens that passage too."""
    from stemqa.demo.library import owner_for

    state = gr.State([])
    with gr.Accordion("Cited passages on their pages or sections", open=True):
        with gr.Row():
            choice = gr.Dropdown(
                label="Passage", choices=[], scale=4, elem_id=f"{prefix}-view-choice"
            )
            show = gr.Button("Show page", scale=1, elem_id=f"{prefix}-view-open")
        message = gr.Markdown(elem_id=f"{prefix}-view-status")
        image = gr.Image(
            type="pil",
            interactive=False,
            show_label=False,
            format="png",
            elem_id=f"{prefix}-page",
        )
        section = gr.HTML(elem_id=f"{prefix}-section", js_on_load=None)

    def on_show(records, chosen, request: gr.Request, profile: gr.OAuthProfile | None):
        return open_passage(services.library, owner_for(request, profile), records, chosen)

    def on_select(
        records, evt: gr.SelectData, request: gr.Request, profile: gr.OAuthProfile | None
    ):
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        owner = owner_for(request, profile)
        return (*open_passage(services.library, owner, records, row), gr.Dropdown(value=row))

    shown = [image, section, message]
    show.click(on_show, [state, choice], shown, api_visibility="private", concurrency_limit=4)
    if table is not None:
        table.select(on_select, state, [*shown, choice], api_visibility="private")
    return ViewerParts(state, choice, image, section, message)
