"""What we measure is what users get: the app's MCQA answer equals eval-mcqa's prediction for
the same question, model and index — letter, option probabilities (within 1e-6) and passages.

Both sides run for real: eval-mcqa opens the index through stemqa-rag's `chroma` entry point;
the app's MCQA handler uses the app's own services (model service with its batching queue,
index service) over the same index folder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
PDF = REPO / "tests" / "data" / "pdfs" / "PHY102_Electromagnetism.pdf"
MMLU = REPO / "tests" / "data" / "mmlu" / "college_physics_test.csv"

pytestmark = pytest.mark.slow


def test_app_answer_equals_eval_mcqa_prediction(tiny_model_dir: Path, tmp_path: Path) -> None:
    from stemqa.core import load_model
    from stemqa.core.prompts import format_question
    from stemqa.core.retrieval import open_retriever
    from stemqa.demo.index_service import IndexService
    from stemqa.demo.model_service import READY, ModelService
    from stemqa.demo.services import Services
    from stemqa.demo.settings import Settings
    from stemqa.demo.tabs.mcqa import answer
    from stemqa.rag import Index
    from stemqa.train.eval_mcqa import WITH_CONTEXT, evaluate_mcqa
    from stemqa.train.mcqa_data import load_mcqs

    index_dir = tmp_path / "index"
    # no lemmatization: the test must not depend on WordNet being installed
    assert Index(index_dir, preprocess="lowercase,stopwords").add([PDF]).files == 1
    mcqs = load_mcqs(MMLU, limit=3)

    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    result = evaluate_mcqa(
        model, tokenizer, mcqs, retriever=open_retriever(str(index_dir)), k=2, progress=False
    )
    predictions = result.conditions[WITH_CONTEXT].predictions

    settings = Settings(
        model=str(tiny_model_dir),
        index=index_dir,
        data_dir=tmp_path / "data",
        load_model_on_start=False,
    )
    service = ModelService()
    service.load_async(str(tiny_model_dir), None, "none")
    assert service.wait(timeout=240).status == READY
    services = Services(settings, service, IndexService(settings))
    for mcq, pred in zip(mcqs, predictions, strict=True):
        html, probs, table, prompt, _ = answer(services, format_question(mcq), "", True, 2)
        assert f'data-letter="{pred.predicted}"' in html
        app_probs = dict(zip(probs["option"], probs["probability"], strict=True))
        assert app_probs == pytest.approx(pred.probs, abs=1e-6)
        assert isinstance(table, pd.DataFrame) and len(table) == len(pred.passages) == 2
        assert list(table["file"]) == [p["source"] for p in pred.passages]
        assert list(table["page"]) == [str(p["page_number"]) for p in pred.passages]
        assert prompt.startswith("Considering this context: ")
