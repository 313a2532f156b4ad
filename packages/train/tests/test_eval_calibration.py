"""eval-mcqa's calibration and contamination blocks on the tiny model and real MMLU rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stemqa.core import load_model
from stemqa.train.calibration import read_calibration
from stemqa.train.eval_calibration import NO_PROBS_NOTE, calibration_block
from stemqa.train.eval_cli import main
from stemqa.train.eval_mcqa import CLOSED_BOOK, evaluate_mcqa, write_results
from stemqa.train.mcqa_data import load_mcqs

MMLU = Path(__file__).resolve().parents[3] / "tests" / "data" / "mmlu"


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_model(str(tiny_model_dir), device="cpu")
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def questions():
    return load_mcqs(MMLU, subjects=["college_physics"], limit=8) + load_mcqs(
        MMLU, subjects=["machine_learning"], limit=8
    )


def test_block_per_condition_and_subject_json_md_png(tiny, questions, tmp_path) -> None:
    model, tokenizer = tiny
    result = evaluate_mcqa(model, tokenizer, questions, progress=False)
    block = result.calibration
    entry = block["conditions"][CLOSED_BOOK]
    assert entry["overall"]["n"] == 16
    assert set(entry["subjects"]) == {"college_physics", "machine_learning"}
    assert entry["overall"]["accuracy"] == pytest.approx(
        result.conditions[CLOSED_BOOK].overall.accuracy
    )
    assert len(entry["overall"]["bins"]) == 10
    json_path, md_path = write_results(result, tmp_path / "res.json")
    data = json.loads(json_path.read_text())
    assert data["calibration"]["conditions"][CLOSED_BOOK]["overall"]["ece"] == pytest.approx(
        entry["overall"]["ece"]
    )
    md = md_path.read_text()
    assert (
        "### Calibration and selective answering" in md and "closed_book / machine_learning" in md
    )
    assert (tmp_path / "res.reliability_closed_book.png").is_file()
    assert (tmp_path / "res.risk_coverage.png").is_file()


def test_generate_says_it_has_no_probabilities(tiny, questions) -> None:
    model, tokenizer = tiny
    result = evaluate_mcqa(model, tokenizer, questions[:4], method="generate", progress=False)
    assert result.calibration == {**calibration_block(result), "note": NO_PROBS_NOTE}
    assert "note" in result.calibration and "generate" in result.to_markdown()


def test_cli_calibrate_on_and_contamination_report(tiny_model_dir, tmp_path, capsys) -> None:
    test_csv = MMLU / "college_physics_test.csv"
    held = MMLU / "machine_learning_test.csv"
    report = tmp_path / "contamination.json"
    flagged = ["college_physics_test.csv:1", "college_physics_test.csv:2"]
    report.write_text(json.dumps({"overlaps": [{"eval_id": i} for i in flagged]}))
    out = tmp_path / "r.json"
    base = ["--model_name_or_path", str(tiny_model_dir), "--no_progress", "--limit", "10"]
    code = main(
        [
            *base,
            "--dataset_name",
            str(test_csv),
            "--calibrate_on",
            str(held),
            "--contamination_report",
            str(report),
            "--output_path",
            str(out),
        ]
    )
    assert code == 0
    data = json.loads(out.read_text())
    temp = data["calibration"]["temperature"]
    assert temp["fitted_on"] == str(held) and temp["n"] == 10  # held-out only
    scaled = data["calibration"]["conditions"][CLOSED_BOOK]["temperature_scaled"]["overall"]
    assert scaled["n"] == 10
    saved = read_calibration(tmp_path / "r.calibration.json")
    assert saved.temperature == pytest.approx(temp["temperature"])
    cont = data["contamination"]["conditions"][CLOSED_BOOK]
    assert cont["flagged"] == 2 and cont["flagged_ids"] == flagged
    preds = data["conditions"][CLOSED_BOOK]["predictions"]
    clean = [p["correct"] for p in preds if p["source"] not in flagged]
    assert cont["accuracy_clean"] == pytest.approx(sum(clean) / len(clean))
    # fitting on the test data itself is refused with one line
    capsys.readouterr()
    code = main([*base, "--dataset_name", str(test_csv), "--calibrate_on", str(test_csv)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "never on the test data" in err[0]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    code = main([*base, "--dataset_name", str(test_csv), "--contamination_report", str(bad)])
    assert code == 2 and "not a check-contamination report" in capsys.readouterr().err
