"""Crash safety with real processes: kill -9 mid-ingest, a kill mid-replacement, two writers.

Each fault runs a real ingest in a subprocess that SIGKILLs itself at an exact point counted in
chunks stored (stemqa.rag.faults, STEMQA_FAULT), never after a wall-clock delay. After the kill
the index is read as a user would (documents, queries in every mode): never two versions of a
file, never a partial file served. After a rerun it must equal a clean ingest: same ids, same
documents, same ranked results in every mode. docs/RELIABILITY.md lists each case.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stemqa.rag import Index, IndexLockedError
from stemqa.rag.cli import ingest_main

from .conftest import PDF_DIR
from .retriever_contract import EASY, snapshot

# Each case starts a real ingest process (torch + the embedder): minutes on a loaded 2-core box.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

PREPROCESS = "lowercase,stopwords"  # no WordNet needed
BATCH = 4  # chunks per write, so kills land between many writes
FILES = ("PHY102_Electromagnetism.pdf", "PHY202_Statistical_Mechanics.pdf")
QUESTIONS = (*(q for q, _ in EASY), "Boltzmann distribution", "Biot-Savart law")

_WRITER = """
import sys
from stemqa.rag import Index
index = Index(sys.argv[1], preprocess={pre!r}, write_batch={batch})
print(index.add(sys.argv[2:]).summary(), flush=True)
"""


def _env(fault: str | None = None) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STEMQA_NLTK_DOWNLOAD": "0"}
    env.pop("STEMQA_FAULT", None)
    if fault:
        env["STEMQA_FAULT"] = fault
    return env


def _writer(index: Path, paths: list[Path], fault: str | None = None, **popen) -> subprocess.Popen:
    code = _WRITER.format(pre=PREPROCESS, batch=BATCH)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(index), *map(str, paths)],
        env=_env(fault),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _run_killed(index: Path, paths: list[Path], fault: str) -> None:
    proc = _writer(index, paths, fault)
    _out, err = proc.communicate(timeout=900)
    assert proc.returncode == -signal.SIGKILL, f"expected a SIGKILL at {fault}: {err[-2000:]}"


def _reader(path: Path) -> Index:
    return Index(path, create=False, write_batch=BATCH)


def _fresh(path: Path) -> Index:
    """The index as a new process sees it.

    Chroma's embedded client caches one System per folder per process, and its in-memory HNSW
    does not follow writes made by another process (or, after a kill -9, by itself reopened):
    we measured stale dense scores and "Nothing found on disk" there. A new process is what a
    user runs next, so the final comparison opens the folder afresh.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return Index(path, create=False)


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fault_pdfs")
    out = {}
    for name in FILES:
        out[name] = folder / name
        shutil.copy(PDF_DIR / name, out[name])
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory, pdfs) -> tuple:
    """A clean, uninterrupted ingest of the same files: what every rerun must equal."""
    index = Index(tmp_path_factory.mktemp("clean") / "index", preprocess=PREPROCESS)
    index.add(list(pdfs.values()))
    return snapshot(index, QUESTIONS)


def _visible_once(index: Index) -> None:
    """No query in any mode returns a chunk of a version readers should not see."""
    docs = {d.source: d for d in index.documents()}
    served = {d.source: d.sha256 for d in docs.values() if d.state != "incomplete"}
    for mode in ("dense", "bm25", "hybrid"):
        for question in QUESTIONS:
            for hit in index.query(question, k=10, mode=mode):
                assert hit.source in served, (mode, question, hit.source, "is incomplete")
                assert hit.chunk_id.startswith(served[hit.source][:16]), (mode, "old version")


# Kill points in chunks stored, with 4 chunks per write (PHY102 is ingested first):
#   "first write"      - after the first write of the first file;
#   "written"          - the first file's chunks are all stored but it is not yet committed;
#   "second midway"    - the first file is committed, the second is two writes in.
@pytest.mark.parametrize("point", ["first write", "written", "second midway"])
def test_kill_during_ingest_then_rerun_equals_a_clean_ingest(
    tmp_path: Path, pdfs, clean, point, capsys
):
    chunks = {source: n for source, _pages, n, _sha, _state in clean[1]}
    first, total = chunks[FILES[0]], sum(chunks.values())
    kill_after, expected_states = {
        "first write": (BATCH, {FILES[0]: "incomplete"}),
        "written": (first, {FILES[0]: "incomplete"}),
        "second midway": (first + 2 * BATCH, {FILES[0]: "complete", FILES[1]: "incomplete"}),
    }[point]
    path = tmp_path / "index"
    _run_killed(path, list(pdfs.values()), f"kill-after-chunks:{kill_after}")

    after_kill = _reader(path)
    assert after_kill.count() == kill_after  # exactly what was stored before the kill
    assert {d.source: d.state for d in after_kill.documents()} == expected_states
    _visible_once(after_kill)
    if point != "second midway":  # nothing complete yet: nothing is served
        assert all(after_kill.query("Maxwell", k=5, mode=m) == [] for m in ("bm25", "hybrid"))
    assert ingest_main(["--list", "--index", str(path)]) == 0
    listing = capsys.readouterr().out.splitlines()
    incomplete = [line for line in listing if "\tINCOMPLETE: interrupted: " in line]
    assert len(incomplete) == 1 and "rag-ingest is run again" in incomplete[0]

    rerun = Index(path, preprocess=PREPROCESS)
    report = rerun.add(list(pdfs.values()))
    assert report.chunks == total - kill_after  # only what was missing is embedded
    assert snapshot(_fresh(path), QUESTIONS) == clean


def test_kill_while_replacing_a_changed_file_serves_one_version(tmp_path: Path, pdfs):
    """The file `notes.pdf` changes from PHY102 to PHY202 and the re-ingest is killed twice."""
    new_content = tmp_path / "new" / "notes.pdf"
    new_content.parent.mkdir()
    shutil.copy(pdfs["PHY202_Statistical_Mechanics.pdf"], new_content)
    reference = Index(tmp_path / "reference", preprocess=PREPROCESS)
    n_new = reference.add(new_content).chunks  # a clean ingest of the new version

    notes = tmp_path / "docs" / "notes.pdf"
    notes.parent.mkdir()
    shutil.copy(pdfs["PHY102_Electromagnetism.pdf"], notes)
    path = tmp_path / "index"
    first = Index(path, preprocess=PREPROCESS, write_batch=BATCH)
    n_old = first.add(notes).chunks
    old_ids = set(first._get_all([])["ids"])

    shutil.copy(new_content, notes)  # same name, new content
    # 1. killed midway through writing the new version: the old version is still served.
    _run_killed(path, [notes], f"kill-after-chunks:{2 * BATCH}")
    reader = _reader(path)
    [info] = reader.documents()
    assert (info.state, info.chunks) == ("replacing", n_old)
    assert f"{2 * BATCH} of {n_new} chunks" in info.note
    assert reader.count() == n_old + 2 * BATCH  # both versions are stored ...
    _visible_once(reader)  # ... but queries see the old one only
    hits = reader.query("Maxwell equations", k=20, mode="hybrid")
    assert hits and {h.chunk_id for h in hits} <= old_ids

    # 2. killed after the new version was committed, before the old chunks were deleted.
    _run_killed(path, [notes], "kill-after-commit:1")
    reader = _reader(path)
    [info] = reader.documents()
    assert (info.state, info.chunks) == ("complete", n_new)
    assert reader.count() == n_old + n_new  # the old chunks are still stored, and invisible
    _visible_once(reader)
    for mode in ("dense", "bm25", "hybrid"):
        hits = reader.query("Maxwell equations divergence", k=n_old + n_new, mode=mode)
        assert not {h.chunk_id for h in hits} & old_ids, mode

    # 3. the rerun finishes: exactly a clean ingest of the new content under that name.
    rerun = Index(path, preprocess=PREPROCESS)
    report = rerun.add(notes)
    assert (report.files, report.chunks, report.replaced) == (1, 0, n_old)
    expected = snapshot(reference, QUESTIONS)
    assert snapshot(_fresh(path), QUESTIONS) == expected


def test_two_writers_the_second_waits_or_fails_clearly(tmp_path: Path, pdfs, clean):
    path = tmp_path / "index"
    owner = path / "stemqa-write.lock.owner"
    first = _writer(path, list(pdfs.values()))
    try:
        # The first writer takes the lock before it loads the embedder: wait until it holds it.
        deadline = time.monotonic() + 600
        while not (owner.exists() and json.loads(owner.read_text()).get("pid") == first.pid):
            assert first.poll() is None, first.communicate()[1][-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        second = Index(path, preprocess=PREPROCESS, lock_timeout=0.5)
        if first.poll() is None:
            with pytest.raises(IndexLockedError) as failed:
                second.add(list(pdfs.values()))
            message = str(failed.value)
            assert f"pid {first.pid}" in message and "--lock-timeout" in message
            assert "\n" not in message
            # Readers never block on the writer lock.
            with second.lock.try_hold() as free:
                busy = not free
            if busy:
                started = time.monotonic()
                second.query("Maxwell", k=3, mode="bm25")
                assert time.monotonic() - started < 60
        waiting = Index(path, preprocess=PREPROCESS, lock_timeout=900)
        report = waiting.add(list(pdfs.values()))  # waits for the first, then finds it all done
    finally:
        out, err = first.communicate(timeout=900)
    assert first.returncode == 0, err[-2000:]
    assert "2 file(s) ingested" in out
    assert (report.files, report.unchanged, report.chunks) == (0, 2, 0)  # nothing embedded twice
    assert snapshot(_fresh(path), QUESTIONS) == clean
