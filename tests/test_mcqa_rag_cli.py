"""eval-mcqa --rag-index through the real plugin path: stemqa-rag's `chroma` entry point in the
`stemqa.retrievers` group, an embedded Chroma index over a real course PDF, the tiny model.

Cross-package on purpose: stemqa.train never imports stemqa.rag; only this test (and a user's
environment) has both installed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("STEMQA_NLTK_DOWNLOAD", "0")  # never hit the network from tests


@pytest.mark.slow
def test_eval_mcqa_cli_with_chroma_index(tiny_model_dir: Path, tmp_path: Path) -> None:
    from stemqa.core import available_retrievers
    from stemqa.rag import Index
    from stemqa.train.eval_cli import main

    assert "chroma" in available_retrievers()
    index_dir = tmp_path / "index"
    report = Index(index_dir).add(
        [REPO / "tests" / "data" / "pdfs" / "PHY102_Electromagnetism.pdf"]
    )
    assert report.files == 1 and not report.skipped

    out = tmp_path / "rag.json"
    argv = ["--model_name_or_path", str(tiny_model_dir), "--device", "cpu", "--no_progress"]
    argv += ["--dataset_name", str(REPO / "tests" / "data" / "mmlu" / "college_physics_test.csv")]
    argv += ["--limit", "6", "--index", str(index_dir), "--k", "2", "--output_path", str(out)]
    assert main(argv) == 0

    data = json.loads(out.read_text())
    assert set(data["conditions"]) == {"closed_book", "rag"} and data["k"] == 2
    rag = data["conditions"]["rag"]["predictions"]
    assert len(rag) == 6
    assert all(len(p["passages"]) == 2 for p in rag)
    assert all(p["passages"][0]["source"] == "PHY102_Electromagnetism.pdf" for p in rag)
    assert all(
        p["passages"][0]["citation"].startswith("PHY102_Electromagnetism.pdf p. ") for p in rag
    )
    assert "with context % [95% CI]" in out.with_suffix(".md").read_text()
