"""Calibration metrics against hand-computed values, temperature recovery, and the plots."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stemqa.train import calibration as cal

# Five two-option questions. (confidence, correct): Q1 .9 ✓, Q2 .8 ✗, Q3 .7 ✓, Q4 .75 ✓, Q5 .55 ✗
PROBS = [
    {"A": 0.9, "B": 0.1},
    {"A": 0.8, "B": 0.2},
    {"A": 0.3, "B": 0.7},
    {"A": 0.75, "B": 0.25},
    {"A": 0.55, "B": 0.45},
]
GOLD = ["A", "B", "B", "A", "B"]


def test_hand_computed_metrics() -> None:
    m = cal.calibration_metrics(PROBS, GOLD)
    assert m["n"] == 5
    assert m["accuracy"] == pytest.approx(3 / 5)
    # bins: 9 -> {.9 ✓} gap .1; 8 -> {.8 ✗} gap .8; 7 -> {.7 ✓, .75 ✓} acc 1, conf .725, gap .275;
    # 5 -> {.55 ✗} gap .55.  ECE = (.1 + .8 + 2 * .275 + .55) / 5 = 0.4
    assert m["ece"] == pytest.approx(0.4)
    # two options: Brier_i = 2 (1 - p_gold)^2 -> .02, 1.28, .18, .125, .605; mean 2.21 / 5
    assert m["brier"] == pytest.approx(0.442)
    nll = -(math.log(0.9) + math.log(0.2) + math.log(0.7) + math.log(0.75) + math.log(0.45)) / 5
    assert m["nll"] == pytest.approx(nll)
    # most confident first: .9 ✓, .8 ✗, .75 ✓, .7 ✓, .55 ✗
    # 10% -> top 1 = 1.0; 25% -> top 2 = .5; 50% -> top 3 = 2/3; 100% -> 3/5
    assert m["selective_accuracy"] == pytest.approx(
        {"0.1": 1.0, "0.25": 0.5, "0.5": 2 / 3, "1": 0.6}
    )
    # risks at k = 1..5: 0, 1/2, 1/3, 1/4, 2/5
    assert m["aurc"] == pytest.approx((0 + 1 / 2 + 1 / 3 + 1 / 4 + 2 / 5) / 5)
    counts = [b["count"] for b in m["bins"]]
    assert counts == [0, 0, 0, 0, 0, 1, 0, 2, 1, 1]
    assert m["bins"][7]["confidence"] == pytest.approx(0.725)


def test_confidence_one_goes_in_last_bin_and_ece_zero_when_calibrated() -> None:
    bins = cal.reliability_bins([1.0, 0.95], [True, True])
    assert bins[-1].count == 2
    # 10 questions at confidence .7, 7 of them right: perfectly calibrated
    assert cal.expected_calibration_error([0.7] * 10, [True] * 7 + [False] * 3) == pytest.approx(0)


def test_threshold_for_risk() -> None:
    conf = [0.9, 0.8, 0.75, 0.7, 0.55]
    correct = [True, False, True, True, False]
    # answering at >= .7 leaves 4 questions with 1 error: risk .25, coverage .8
    assert cal.threshold_for_risk(conf, correct, 0.25) == (0.7, 0.8)
    assert cal.threshold_for_risk(conf, correct, 0.0) == (0.9, 0.2)


def _synthetic(true_t: float, n: int = 6000, seed: int = 0):
    """Labels drawn from softmax(u); the 'model' reports softmax(t * u): T = t undoes it."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, 1.5, size=(n, 4))
    p_true = np.exp(u) / np.exp(u).sum(axis=1, keepdims=True)
    labels = [int(rng.choice(4, p=row)) for row in p_true]
    reported = np.exp(true_t * u)
    reported /= reported.sum(axis=1, keepdims=True)
    probs = [dict(zip("ABCD", map(float, row), strict=True)) for row in reported]
    return probs, ["ABCD"[i] for i in labels]


@pytest.mark.parametrize("true_t", [2.0, 0.5])
def test_temperature_recovered_within_5_percent(true_t: float) -> None:
    probs, gold = _synthetic(true_t)
    fit = cal.fit_temperature(probs, gold)
    assert fit.converged and not fit.at_bound
    assert abs(fit.gradient) < 1e-6
    assert fit.iterations < 30
    assert fit.temperature == pytest.approx(true_t, rel=0.05)
    assert fit.nll_after < fit.nll_before
    # applying it improves ECE on fresh data from the same process (never fitted on it)
    test_probs, test_gold = _synthetic(true_t, seed=1)
    before = cal.calibration_metrics(test_probs, test_gold)
    after = cal.calibration_metrics(
        [cal.apply_temperature(p, fit.temperature) for p in test_probs], test_gold
    )
    assert after["ece"] < before["ece"]
    assert after["accuracy"] == before["accuracy"]  # temperature never changes the argmax


def test_fit_at_bound_when_all_right() -> None:
    probs = [{"A": 0.9, "B": 0.1}] * 4
    fit = cal.fit_temperature(probs, ["A"] * 4)
    assert fit.at_bound and fit.temperature == pytest.approx(1 / cal.BETA_BRACKET[1])
    assert cal.calibration_from_fit(fit, probs, ["A"] * 4, "x").at_bound is True


def test_apply_temperature() -> None:
    p = {"A": 0.7, "B": 0.2, "C": 0.1}
    assert cal.apply_temperature(p, 1.0) == pytest.approx(p)
    flat = cal.apply_temperature(p, 1e6)
    assert flat == pytest.approx({"A": 1 / 3, "B": 1 / 3, "C": 1 / 3}, abs=1e-5)
    # T = 2: p ∝ sqrt(p)
    s = math.sqrt(0.7) + math.sqrt(0.2) + math.sqrt(0.1)
    assert cal.apply_temperature(p, 2.0)["A"] == pytest.approx(math.sqrt(0.7) / s)


def test_save_find_and_bad_files(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(cal.ENV_CALIBRATION, raising=False)
    run = tmp_path / "run"
    adapter = run / "adapter"
    adapter.mkdir(parents=True)
    assert cal.find_calibration(adapter=adapter) is None
    probs, gold = _synthetic(2.0, n=500)
    c = cal.calibration_from_fit(cal.fit_temperature(probs, gold), probs, gold, "held.jsonl")
    written = cal.save_calibration(c, run)
    assert written == run / "calibration.json"
    data = json.loads(written.read_text())
    assert set(data) >= {"temperature", "fitted_on", "n", "nll_before", "nll_after"}
    found = cal.find_calibration(adapter=adapter)  # the run folder above adapter/
    assert found is not None and found.temperature == pytest.approx(c.temperature)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"temperature": 1.5, "fitted_on": "x", "n": 3}))
    monkeypatch.setenv(cal.ENV_CALIBRATION, str(other))
    assert cal.find_calibration(adapter=adapter).temperature == 1.5  # env var wins
    other.write_text(json.dumps({"temperature": -1}))
    with pytest.raises(cal.CalibrationError, match=r"other\.json: 'temperature' must be"):
        cal.find_calibration(adapter=adapter)
    other.write_text("{oops")
    with pytest.raises(cal.CalibrationError, match=r"other\.json: not valid JSON"):
        cal.find_calibration()


def test_reliability_png_has_the_bins(tmp_path) -> None:
    m = cal.calibration_metrics(PROBS, GOLD)
    path = cal.plot_reliability(m["bins"], tmp_path / "reliability.png")
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(m["bins"]) == cal.N_BINS == 10
    assert [b["lower"] for b in m["bins"]] == pytest.approx([i / 10 for i in range(10)])
    curve = cal.risk_coverage([0.9, 0.8, 0.75, 0.7, 0.55], [True, False, True, True, False])
    assert cal.plot_risk_coverage({"closed_book": curve}, tmp_path / "rc.png").is_file()
    assert list(curve[0]) == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
