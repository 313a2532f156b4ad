"""The three command lines, run in-process (the embedder is loaded once) plus one real script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stemqa.rag.cli import eval_main, ingest_main, query_main

QUESTIONS = [
    {
        "question": "How is the partition function related to the Boltzmann distribution?",
        "source": "PHY202_Statistical_Mechanics.pdf",
        "pages": [3, 6],
    },
    {
        "question": "Why divide by N factorial for indistinguishable particles?",
        "source": "PHY202_Statistical_Mechanics.pdf",
        "pages": [7],
    },
    {
        "question": "Write Maxwell's equations with time dependence",
        "source": "PHY102_Electromagnetism.pdf",
        "pages": [3],
    },
    {
        "question": "What is the continuity equation for steady currents?",
        "source": "PHY102_Electromagnetism.pdf",
        "pages": [2],
    },
    {
        "question": "How are energy fluctuations related to the heat capacity?",
        "source": "PHY202_Statistical_Mechanics.pdf",
        "pages": [5],
    },
]


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, wordnet) -> Path:
    root = tmp_path_factory.mktemp("rag_cli")
    pdfs = root / "pdfs"
    pdfs.mkdir()
    for name in ("PHY102_Electromagnetism.pdf", "PHY202_Statistical_Mechanics.pdf"):
        shutil.copy(Path(__file__).resolve().parents[3] / "tests/data/pdfs" / name, pdfs / name)
    (pdfs / "broken.pdf").write_bytes(b"%PDF-1.4\ngarbage")
    index = root / "index"
    assert ingest_main([str(pdfs), "--index", str(index), "--quiet"]) == 1  # one file skipped
    return index


def test_ingest_summary_names_the_skipped_file(cli_index: Path, capsys, tmp_path):
    (tmp_path / "x.pdf").write_text("plain text")
    status = ingest_main([str(tmp_path / "x.pdf"), "--index", str(cli_index), "--quiet"])
    out = capsys.readouterr().out
    assert status == 1
    assert "0 file(s) ingested" in out and "x.pdf: not a PDF" in out


def test_list_and_delete(cli_index: Path, capsys, tmp_path):
    assert ingest_main(["--list", "--index", str(cli_index)]) == 0
    listing = capsys.readouterr().out
    assert "PHY102_Electromagnetism.pdf\t5 pages\t" in listing
    assert "broken.pdf" not in listing
    assert ingest_main(["--delete", "nope.pdf", "--index", str(cli_index)]) == 1
    err = capsys.readouterr().err
    assert "'nope.pdf' is not in the index" in err and "PHY202_Statistical_Mechanics.pdf" in err


def test_query_json_has_exactly_the_promised_keys(cli_index: Path, capsys):
    status = query_main(["Boltzmann distribution", "--index", str(cli_index), "-k", "3", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert status == 0 and 1 <= len(rows) <= 3
    keys = {"source", "page", "page_number", "page_label", "score", "text"}
    assert all(set(r) == keys for r in rows)
    assert rows[0]["source"] == "PHY202_Statistical_Mechanics.pdf"
    assert isinstance(rows[0]["page"], int)
    # `page` stays 0-based (LangChain); page_number/page_label are what a viewer shows.
    assert all(r["page_number"] == r["page"] + 1 == int(r["page_label"]) for r in rows)


def test_query_text_output_and_modes(cli_index: Path, capsys):
    assert query_main(["Biot-Savart law", "--index", str(cli_index), "--mode", "bm25"]) == 0
    out = capsys.readouterr().out
    # The Biot-Savart law is on 0-based page 2: a PDF viewer calls that page 3.
    assert out.startswith("[1] PHY102_Electromagnetism.pdf p. 3 ")


def test_query_without_index_fails_clearly(tmp_path: Path, capsys):
    assert query_main(["anything", "--index", str(tmp_path / "none")]) == 2
    assert "no index at" in capsys.readouterr().err


def test_eval_prints_recall_per_mode_and_variant(cli_index: Path, tmp_path: Path, capsys):
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps(QUESTIONS))
    assert eval_main(["--index", str(cli_index), "--questions", str(questions), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    built = {r["mode"]: r for r in rows[:3]}
    assert set(built) == {"dense", "bm25", "hybrid"}
    assert {r["bm25_preprocess"] for r in rows if r["mode"] == "bm25"} == {
        "none",
        "lowercase",
        "lowercase,stopwords",
        "lowercase,stopwords,lemmatize",
    }
    assert {r["dense_input"] for r in rows if r["mode"] == "dense"} == {"raw", "preprocessed"}
    for row in rows:
        assert 0 <= row["recall@1"] <= row["recall@3"] <= row["recall@5"] <= row["recall@10"] <= 1
        assert row["n"] == len(QUESTIONS)
    # Retrieval has to actually work on questions this easy, two documents of 14 pages.
    assert built["hybrid"]["recall@5"] >= 0.8
    assert built["bm25"]["recall@10"] >= 0.8


def test_eval_rejects_malformed_questions(cli_index: Path, tmp_path: Path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([QUESTIONS[0], {"question": "no pages", "source": "a.pdf"}]))
    assert eval_main(["--index", str(cli_index), "--questions", str(bad)]) == 2
    assert "item 1: missing key 'pages'" in capsys.readouterr().err


@pytest.mark.slow
def test_console_script_is_installed(cli_index: Path):
    script = Path(sys.executable).with_name("rag-query")
    # bm25: the cold path that never loads the embedder (seconds, not a torch import)
    args = ["Gauss theorem divergence", "--index", str(cli_index), "--json", "-k", "1"]
    result = subprocess.run(
        [str(script), *args, "--mode", "bm25"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["source"] == "PHY102_Electromagnetism.pdf"
