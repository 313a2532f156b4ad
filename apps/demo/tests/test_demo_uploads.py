"""Uploads: names cannot escape the uploads folder, non-PDFs and oversized files are refused."""

from pathlib import Path

import pytest

from stemqa.demo.uploads import UploadError, accept_pdf, safe_filename

DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "pdfs"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\me\\notes.pdf", "notes.pdf"),
        ("..", "document.pdf"),
        ("/abs/path/Week 1: intro?.pdf", "Week 1_ intro_.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        ("a\x00b.pdf", "ab.pdf"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_long_names_are_cut_keeping_extension() -> None:
    name = safe_filename("x" * 500 + ".pdf")
    assert len(name) <= 120 and name.endswith(".pdf")


@pytest.fixture
def real_pdf() -> Path:
    pdfs = sorted(DATA.glob("*.pdf"))
    if not pdfs:
        pytest.fail(f"no course PDFs in {DATA}: they are part of the repository")
    return min(pdfs, key=lambda p: p.stat().st_size)


def test_accepts_real_pdf_inside_uploads_only(tmp_path: Path, real_pdf: Path) -> None:
    uploads = tmp_path / "data" / "uploads"
    accepted = accept_pdf(real_pdf, "../../../escape.pdf", uploads, max_bytes=50_000_000)
    assert accepted.name == "escape.pdf"
    assert accepted.path.parent == uploads.resolve()
    assert accepted.path.read_bytes() == real_pdf.read_bytes()
    assert not (tmp_path / "escape.pdf").exists()


def test_refuses_non_pdf_content_and_extension(tmp_path: Path) -> None:
    fake = tmp_path / "notes.pdf"
    fake.write_text("just text, not a PDF")
    with pytest.raises(UploadError, match=r"notes\.pdf: not a PDF"):
        accept_pdf(fake, "notes.pdf", tmp_path / "uploads", max_bytes=10_000)
    with pytest.raises(UploadError, match=r"notes\.txt: only PDF"):
        accept_pdf(fake, "notes.txt", tmp_path / "uploads", max_bytes=10_000)
    assert not (tmp_path / "uploads" / "notes.pdf").exists()


def test_refuses_oversized(tmp_path: Path, real_pdf: Path) -> None:
    with pytest.raises(UploadError, match="upload limit"):
        accept_pdf(real_pdf, real_pdf.name, tmp_path / "uploads", max_bytes=100)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("U\u0308bungen.pdf", "Übungen.pdf"),  # macOS sends NFD: stored as NFC
        ("Übungen.pdf", "Übungen.pdf"),
        ("電磁気学 ノート.pdf", "電磁気学 ノート.pdf"),
        ("\u202efdp.exe", "fdp.exe"),  # right-to-left override removed
        ("a\u200bb\tc\r\n.pdf", "abc.pdf"),  # zero-width space and control characters removed
        ("x\u00a0 y.pdf", "x y.pdf"),
        ("ﬁle².pdf", "ﬁle².pdf"),  # NFC, not NFKC: what the user typed
    ],
)
def test_unicode_names_are_kept_in_nfc(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_numbered_name_keeps_both() -> None:
    from stemqa.demo.uploads import numbered_name

    assert numbered_name("a.pdf", {"b.pdf"}) == "a.pdf"
    assert numbered_name("a.pdf", {"a.pdf", "a (2).pdf"}) == "a (3).pdf"


def test_discard_temp_only_below_the_cache(tmp_path: Path) -> None:
    from stemqa.demo.uploads import discard_temp

    cache = tmp_path / "cache"
    temp = cache / "abc123" / "x.pdf"
    temp.parent.mkdir(parents=True)
    temp.write_bytes(b"%PDF-")
    outside = tmp_path / "mine.pdf"
    outside.write_bytes(b"%PDF-")
    discard_temp(temp, cache)
    discard_temp(outside, cache)
    assert not temp.parent.exists() and cache.is_dir() and outside.is_file()
