"""Uploads: names cannot escape the uploads folder; rag's formats are taken, checked by content;
other files, fakes and oversized files are refused with one line naming the file."""

import zipfile
from pathlib import Path

import pytest

from stemqa.demo.uploads import UploadError, accept_upload, check_upload, safe_filename

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
    accepted = accept_upload(real_pdf, "../../../escape.pdf", uploads, max_bytes=50_000_000)
    assert accepted.name == "escape.pdf"
    assert accepted.path.parent == uploads.resolve()
    assert accepted.path.read_bytes() == real_pdf.read_bytes()
    assert not (tmp_path / "escape.pdf").exists()


def test_refuses_fakes_and_other_formats(tmp_path: Path, doc_files) -> None:
    fake = tmp_path / "notes.pdf"
    fake.write_text("just text, not a PDF")
    with pytest.raises(UploadError, match=r"notes\.pdf: not a PDF"):
        accept_upload(fake, "notes.pdf", tmp_path / "uploads", max_bytes=10_000)
    with pytest.raises(UploadError, match=r"^notes\.exe: a \.exe file can't be added; add PDF"):
        accept_upload(fake, "notes.exe", tmp_path / "uploads", max_bytes=10_000)
    with pytest.raises(UploadError, match=r"^README: a file without an extension can't"):
        accept_upload(fake, "README", tmp_path / "uploads", max_bytes=10_000)
    # a .docx that is not a zip, and a zip that is not a Word document
    with pytest.raises(UploadError, match=r"^broken\.docx: not a Word document .*save it again"):
        accept_upload(doc_files["bad_docx"], "broken.docx", tmp_path / "uploads", max_bytes=10_000)
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("hello.txt", "not word")
    with pytest.raises(UploadError, match=r"^other\.docx: not a Word document"):
        check_upload(archive, "other.docx", max_bytes=10_000)
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    with pytest.raises(UploadError, match=r"^empty\.md: the file is empty"):
        check_upload(empty, "empty.md", max_bytes=10_000)
    assert not (tmp_path / "uploads").exists() or not list((tmp_path / "uploads").iterdir())


@pytest.mark.parametrize("kind", ["md", "html", "docx"])
def test_accepts_the_formats_rag_ingests(tmp_path: Path, doc_files, kind: str) -> None:
    source = doc_files[kind]
    name = "Ü" + source.name  # a non-ASCII name, as NFD: kept, in NFC
    accepted = accept_upload(
        source, "U\u0308" + source.name, tmp_path / "uploads", max_bytes=1_000_000
    )
    assert accepted.name == name and accepted.path.read_bytes() == source.read_bytes()
    # text formats are checked by rag when indexed (its loader's message, see the library test)
    assert check_upload(doc_files["bad_txt"], "latin1.txt", max_bytes=1_000).name == "latin1.txt"


def test_refuses_oversized(tmp_path: Path, real_pdf: Path) -> None:
    with pytest.raises(UploadError, match="upload limit"):
        accept_upload(real_pdf, real_pdf.name, tmp_path / "uploads", max_bytes=100)


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
