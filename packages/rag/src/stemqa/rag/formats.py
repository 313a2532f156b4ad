"""Documents without pages (.txt, .md, .html, .docx) as sections, through the PDF path.

Each format becomes the same `LoadedPdf` record the PDF loader returns, one `PageText` per
section, so the index, the ids, the citations and the tests treat every format alike. The
locator is what a reader can find in the file: the heading of the section (`§ Setup`) for
Markdown, HTML and Word files, the line range (`lines 12–40`) for plain text. `page` stays a
0-based section index (ids and ordering need one); `section` holds the heading.

Parsing uses the libraries made for it: LangChain's MarkdownHeaderTextSplitter (code fences
and setext headings handled), the standard library's HTMLParser (no lxml/bs4 needed), and
python-docx (heading styles). Every failure is a PdfLoadError naming the file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from stemqa.rag.cleaning import normalize_text
from stemqa.rag.loading import LoadedPdf, PageText, PdfLoadError, _check_file, file_sha256

#: Plain text without headings is cut into sections of about this many characters, at blank
#: lines, so a long .txt still gets locators a reader can use.
TEXT_SECTION_CHARS = 3000
_HEADINGS = ("h1", "h2", "h3", "h4")
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head"}
_BLOCK_TAGS = {"p", "div", "li", "tr", "br", "pre", "table", "section", "article", "blockquote"}

Section = tuple[str | None, str]  # (heading or None, text)


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise PdfLoadError(path, "binary data, not text (is the suffix wrong?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PdfLoadError(
            path,
            f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8 and ingest it again",
        ) from exc


def _text_sections(path: Path) -> list[Section]:
    """Paragraph groups of about TEXT_SECTION_CHARS, labelled with their line range."""
    lines = _read_text(path).splitlines()
    sections: list[Section] = []
    start, size = 0, 0
    for n, line in enumerate([*lines, ""]):
        size += len(line) + 1
        if (not line.strip() and size >= TEXT_SECTION_CHARS) or n == len(lines):
            body = "\n".join(lines[start:n]).strip()
            if body:
                sections.append((f"lines {start + 1}–{n}", body))
            start, size = n + 1, 0
    return sections


def _markdown_sections(path: Path) -> list[Section]:
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    splitter = MarkdownHeaderTextSplitter(
        headers_to_split_on=[("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")],
        strip_headers=False,
    )
    sections: list[Section] = []
    for doc in splitter.split_text(_read_text(path)):
        heading = next(
            (doc.metadata[h] for h in ("h4", "h3", "h2", "h1") if h in doc.metadata), None
        )
        sections.append((heading, doc.page_content))
    return sections


class _HtmlSections(HTMLParser):
    """Visible text of an HTML page, cut at h1–h4, with the heading text as the label."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[list] = [[None, []]]
        self.title: str | None = None
        self._skip = 0
        self._heading: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        if tag == "title":
            self._in_title = True
        elif tag in _HEADINGS and not self._skip:
            self._heading = []
        elif tag in _BLOCK_TAGS:
            self.sections[-1][1].append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        if tag == "title":
            self._in_title = False
        elif tag in _HEADINGS and self._heading is not None:
            heading = " ".join("".join(self._heading).split())
            self.sections.append([heading or None, [heading, "\n"]])
            self._heading = None
        elif tag in _BLOCK_TAGS:
            self.sections[-1][1].append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data
        elif self._heading is not None:
            self._heading.append(data)
        elif not self._skip:
            self.sections[-1][1].append(data)


def _html_sections(path: Path) -> list[Section]:
    parser = _HtmlSections()
    parser.feed(_read_text(path))
    parser.close()
    title = " ".join((parser.title or "").split()) or None
    out: list[Section] = []
    for n, (heading, parts) in enumerate(parser.sections):
        out.append((heading if n else (heading or title), "".join(parts)))
    return out


def _docx_sections(path: Path) -> list[Section]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise PdfLoadError(
            path, f"not a valid .docx file ({type(exc).__name__}: {exc}); save it again from Word"
        ) from exc
    sections: list[list] = [[None, []]]
    for paragraph in document.paragraphs:
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        text = paragraph.text.strip()
        if text and (style.startswith("Heading") or style == "Title"):
            sections.append([text, [text]])
        elif text:
            sections[-1][1].append(text)
    for table in document.tables:  # tables after the text: their cells are searchable too
        rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
        sections[-1][1].append("\n".join(rows))
    return [(heading, "\n".join(parts)) for heading, parts in sections]


TEXT_LOADERS: dict[str, tuple[str, Callable[[Path], list[Section]]]] = {
    ".txt": ("text", _text_sections),
    ".md": ("markdown", _markdown_sections),
    ".markdown": ("markdown", _markdown_sections),
    ".html": ("html", _html_sections),
    ".htm": ("html", _html_sections),
    ".docx": ("docx", _docx_sections),
}


def load_text_document(
    path: Path, source: str | None = None, *, sha256: str | None = None
) -> LoadedPdf:
    """A .txt/.md/.html/.docx file as sections; PdfLoadError (only) when it is unusable."""
    source = source or path.name
    kind, loader = TEXT_LOADERS[path.suffix.lower()]
    try:
        _check_file(path)
        sections = loader(path)
        sha256 = sha256 or file_sha256(path)
    except PdfLoadError:
        raise
    except Exception as exc:  # a parser's surprise must not stop the batch
        raise PdfLoadError(
            path, f"could not read this {kind} file ({type(exc).__name__}: {exc})"
        ) from exc
    pages: list[PageText] = []
    for heading, body in sections:
        text = normalize_text(body)
        if not text:
            continue
        label = heading if kind == "text" or heading is None else f"§ {heading}"
        label = label or f"§ {len(pages) + 1}"
        pages.append(PageText(len(pages), label[:120], text, section=heading))
    if not pages:
        raise PdfLoadError(path, f"no text in this {kind} file")
    return LoadedPdf(path, source, sha256, len(pages), pages, [], kind=kind)
