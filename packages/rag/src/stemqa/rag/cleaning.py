"""Page-text cleaning before chunking: what the embedder, BM25 and the model all see.

PDF text layers of LaTeX course notes are noisy in the same few ways: a formula comes out one
glyph per line (`∮ / C / ¯dQ / T =`), picture-mode diagrams leave runs of `' & $ %` and
`QQQQk`, pypdf writes unmapped glyphs as `/G43`, ligatures arrive as `ﬁ`/`ﬀ`, words break
across lines with a hyphen, and the printed page number closes every page. Each of these costs
a chunk its meaning (and the model its context) without adding anything a reader would miss.

`clean_page_text` is deliberately conservative: it never drops a line that has a letter or a
digit and more than two characters, it keeps every mathematical symbol (formulas stay readable
as one line: `∮ C ¯dQ T = ∑ i ∮ Ci ¯dQ T = 0.`), and it never reorders text. The cleaned text
is what is stored, so the chunk the model sees and the chunk a table shows are the same.
"""

from __future__ import annotations

import re
import unicodedata

#: Typographic ligatures -> letters (NFKC would do this too, but would also flatten x² to x2).
LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
}
_SPACES = {"\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2002": " ", "\u2003": " "}
_INVISIBLE = ("\u00ad", "\u200b", "\u200c", "\u200d", "\ufeff", "\ufffd")
_TRANSLATE = str.maketrans({**LIGATURES, **_SPACES, **dict.fromkeys(_INVISIBLE, "")})
#: pypdf's name for a glyph it could not map to Unicode (`/G43`, `/c68`): diagram labels.
_GLYPH_NAME = re.compile(r"/(?:[Gg][0-9A-Fa-f]{2}|c[0-9a-f]{2})(?![0-9A-Fa-f])")
#: Private-use code points (symbol-font pieces such as big-bracket parts) and C0/C1 controls.
_JUNK_CHARS = re.compile(r"[\ue000-\uf8ff\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Picture-mode line drawings: LaTeX draws diagonals with runs of a `Q`-shaped glyph
#: (`QQQQQk`, `QQQs`), and pdfium maps those and the diagram's arrows and circle parts to
#: dingbats and geometric shapes (`✻ ✲ ✬ ✫ ◗◗◗s`). QED boxes (■ □) are kept.
_DRAWN_LINE = re.compile(r"Q{3,}|[\u2700-\u27bf\u25a2-\u25ff]+")
#: Glyphs that only ever appear alone on a line as pieces of a drawing (arrows, circle parts).
_DRAWING_GLYPHS = (
    frozenset("'&$%`\"^~|#@_")
    | frozenset(chr(c) for c in range(0x2500, 0x25A0))  # box drawing, blocks
    | frozenset(chr(c) for c in range(0x25A2, 0x2600))  # geometric shapes except ■ □
    | frozenset(chr(c) for c in range(0x2700, 0x27C0))  # dingbats (pdfium's arrows, circles)
)
_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-z])")
_RELATIONS = frozenset("=<>≤≥≈≡")
_BLANKS = re.compile(r"[ \t]+")
SHORT = 2  # a line of at most this many characters is debris or a formula piece
MERGE = 3  # a line of at most this many characters is joined to the line before it


def _is_fragment(line: str, limit: int = SHORT) -> bool:
    return 0 < len(line) <= limit


def _is_drawing(line: str) -> bool:
    return bool(line) and all(ch in _DRAWING_GLYPHS or ch.isspace() for ch in line)


def _drop_drawings(lines: list[str]) -> list[str]:
    """Drop runs of fragment lines that contain a drawing glyph (a diagram, not a formula).

    A run is consecutive lines of at most two characters (blank lines included); a formula's
    run holds letters and operators, a diagram's holds `' & $ %` and arrow pieces. Lone
    drawing glyphs are dropped too.
    """

    def in_run(line: str) -> bool:
        return not line or _is_fragment(line) or _is_drawing(line)

    out: list[str] = []
    n = 0
    while n < len(lines):
        if not in_run(lines[n]):
            out.append(lines[n])
            n += 1
            continue
        end = n
        while end < len(lines) and in_run(lines[end]):
            end += 1
        run = lines[n:end]
        drawn = sum(_is_drawing(line) for line in run)
        fragments = sum(bool(line) for line in run)
        if drawn and (drawn >= 2 or fragments >= 3):
            out.append("")  # a diagram stood here; keep the paragraph break
        else:
            out.extend(line for line in run if not _is_drawing(line))
        n = end
    return out


def _merge_fragments(lines: list[str]) -> list[str]:
    """Attach each fragment line (`C`, `T =`, `∑`) and each line that starts with a relation
    (`= 0.`) to the line before it, with a space."""
    out: list[str] = []
    for line in lines:
        if _is_fragment(line, MERGE) and out and out[-1]:
            out[-1] = f"{out[-1]} {line}"
        elif out and out[-1] and line[:1] in _RELATIONS:
            out[-1] = f"{out[-1]} {line}"  # "… T" followed by "= 0." is one formula
        else:
            out.append(line)
    return out


def _drop_page_number(lines: list[str]) -> list[str]:
    """The printed page number alone on the last line is a footer, not content."""
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) > 1 and lines[-1].isdigit() and len(lines[-1]) <= 4:
        lines.pop()
    return lines


def normalize_text(text: str) -> str:
    """Character-level normalization only: ligatures, odd spaces, invisible and junk glyphs.

    Also the right cleaning for text that did not come from a PDF (.txt, .md, .html, .docx).
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _JUNK_CHARS.sub("", text.translate(_TRANSLATE))
    lines = [_BLANKS.sub(" ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def clean_page_text(text: str) -> str:
    """A PDF page's extracted text, with layout debris removed and formulas kept on one line."""
    text = _HYPHEN_BREAK.sub(r"\1", normalize_text(_GLYPH_NAME.sub("", text)))
    lines = _drop_drawings(_drop_page_number(text.split("\n")))
    lines = [_BLANKS.sub(" ", _DRAWN_LINE.sub("", line)).strip() for line in lines]
    lines = _merge_fragments(lines)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def debris_stats(texts: list[str]) -> dict[str, int]:
    """Counts used to compare extractors: non-blank lines, fragment lines, replacement glyphs."""
    lines = [line.strip() for text in texts for line in text.splitlines() if line.strip()]
    return {
        "lines": len(lines),
        "fragment_lines": sum(1 for line in lines if len(line) <= SHORT),
        "replacement_glyphs": sum(text.count("\ufffd") for text in texts),
        "glyph_names": sum(len(_GLYPH_NAME.findall(text)) for text in texts),
        "chars": sum(len(text) for text in texts),
    }
