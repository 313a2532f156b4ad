"""Index over a real `chroma run` server on 127.0.0.1 (not the embedded client)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stemqa.rag import Index

from .conftest import skip_or_fail

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        found = shutil.which("chroma")
        if found is None:
            skip_or_fail("the `chroma` CLI (from chromadb) is not installed")
        chroma = Path(found)
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma_server")
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(chroma),
            "run",
            "--path",
            str(data / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                skip_or_fail(
                    f"chroma server did not start: {(data / 'server.log').read_text()[-500:]}"
                )
            time.sleep(0.3)
    yield "127.0.0.1", port
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


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
