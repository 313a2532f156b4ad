"""Index over a real `chroma run` server on 127.0.0.1 (not the embedded client)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stemqa.core.retrieval import open_retriever
from stemqa.rag import Index

from .conftest import PDF_DIR, SMALL, skip_or_fail
from .retriever_contract import RetrieverContract, snapshot

PRE = "lowercase,stopwords"  # no WordNet needed

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chroma_cli() -> Path:
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        found = shutil.which("chroma")
        if found is None:
            skip_or_fail("the `chroma` CLI (from chromadb) is not installed")
        chroma = Path(found)
    return chroma


def start_chroma(db: Path, port: int, log_path: Path) -> subprocess.Popen:
    """A real `chroma run` on 127.0.0.1:port serving db, answering its heartbeat."""
    log = log_path.open("a")
    proc = subprocess.Popen(
        [str(_chroma_cli()), "run", "--path", str(db), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                skip_or_fail(f"chroma server did not start: {log_path.read_text()[-500:]}")
            time.sleep(0.3)


def stop_chroma(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("chroma_server")
    port = _free_port()
    proc = start_chroma(data / "db", port, data / "server.log")
    yield "127.0.0.1", port
    stop_chroma(proc)


def test_index_over_chroma_server(chroma_server, tmp_path: Path, pdf_dir: Path, wordnet):
    host, port = chroma_server
    index = Index(tmp_path / "bm25", chroma_host=host, chroma_port=port, collection="server-test")
    report = index.add(pdf_dir / "PHY102_Electromagnetism.pdf")
    assert report.files == 1 and report.chunks == index.count() > 0
    assert (tmp_path / "bm25" / "stemqa-bm25" / "current.json").exists()
    assert not (tmp_path / "bm25" / "chroma.sqlite3").exists()  # vectors live in the server

    # A second client (as the app would be) sees the same data and retrieves from it.
    other = Index(
        tmp_path / "other",
        chroma_host=host,
        chroma_port=port,
        collection="server-test",
        create=False,
    )
    assert [d.source for d in other.documents()] == ["PHY102_Electromagnetism.pdf"]
    for mode in ("dense", "bm25", "hybrid"):
        hits = other.query("Maxwell's equations", k=2, mode=mode)
        assert hits and hits[0].source == "PHY102_Electromagnetism.pdf", mode
    assert index.add(pdf_dir / "PHY102_Electromagnetism.pdf").unchanged == 1
    assert other.delete("PHY102_Electromagnetism.pdf") == report.chunks
    assert index.count() == 0
    assert index.query("Maxwell", k=2, mode="bm25") == []  # BM25 caught up with the server


def test_unreachable_server_is_reported(tmp_path: Path):
    from stemqa.rag import IndexNotFoundError

    with pytest.raises(IndexNotFoundError, match="cannot reach the Chroma server"):
        Index(tmp_path, chroma_host="127.0.0.1", chroma_port=_free_port())


# -- the retriever contract over a server ------------------------------------------------------


@pytest.fixture(scope="module")
def server_store(chroma_server, tmp_path_factory):
    host, port = chroma_server
    root = tmp_path_factory.mktemp("server_contract")
    index = Index(
        root / "bm25", chroma_host=host, chroma_port=port, collection="contract", preprocess=PRE
    )
    report = index.add([PDF_DIR / name for name in SMALL])
    assert report.files == 2, report.summary()
    return index


class TestServerRetriever(RetrieverContract):
    """`open_retriever("http://HOST:PORT", ...)`: the entry point over a `chroma run` server."""

    @pytest.fixture()
    def expected_mode(self) -> str:
        return "hybrid"

    @pytest.fixture()
    def corpus_size(self, server_store) -> int:
        return server_store.count()

    @pytest.fixture()
    def retriever(self, server_store, chroma_server):
        host, port = chroma_server
        return open_retriever(
            f"http://{host}:{port}", collection="contract", path=str(server_store.path)
        )

    @pytest.fixture()
    def empty_retriever(self, chroma_server, tmp_path):
        host, port = chroma_server
        Index(tmp_path, chroma_host=host, chroma_port=port, collection="empty", preprocess=PRE)
        return open_retriever(f"http://{host}:{port}", collection="empty", path=str(tmp_path))


# -- the server dies mid-ingest ------------------------------------------------------------------


def test_server_killed_mid_ingest_one_line_then_resume(tmp_path: Path, monkeypatch, capsys):
    from stemqa.rag import faults
    from stemqa.rag.cli import ingest_main

    db, port, log = tmp_path / "db", _free_port(), tmp_path / "server.log"
    server = start_chroma(db, port, log)
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    for name in SMALL:
        shutil.copy(PDF_DIR / name, pdfs / name)
    argv = [str(pdfs), "--chroma-host", "127.0.0.1", "--chroma-port", str(port)]
    argv += ["--index", str(tmp_path / "bm25"), "--preprocess", PRE, "--quiet"]

    def kill_server(total: int) -> None:  # a real kill -9 of the real server, mid-ingest
        if server.poll() is None:
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)

    monkeypatch.setattr(faults, "chunks_written", kill_server)
    try:
        assert ingest_main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err  # one line, no traceback
        assert f"Chroma server at 127.0.0.1:{port}" in err
        assert "written so far" in err and "rerun the same command to resume" in err

        monkeypatch.undo()
        server = start_chroma(db, port, log)  # restarted on the same data
        assert ingest_main(argv) == 0
        out = capsys.readouterr().out
        assert "2 file(s) ingested" in out  # the first was stored but not committed
        resumed = Index(tmp_path / "bm25", chroma_host="127.0.0.1", chroma_port=port, create=False)
        reference = Index(tmp_path / "reference", preprocess=PRE)
        reference.add(pdfs)
        assert snapshot(resumed) == snapshot(reference)
    finally:
        stop_chroma(server)
