"""Calibrated confidence and the "not sure" state, without a server: settings, lookup, HTML."""

from __future__ import annotations

import json

import pytest

from stemqa.core import MCQ
from stemqa.core.answering import Answer
from stemqa.demo.confidence import Trust, answer_html, trust_for
from stemqa.demo.settings import Settings, SettingsError
from stemqa.demo.tabs.mcqa import render_answer
from stemqa.train.calibration import Calibration


def _answer(probs: dict[str, float]) -> Answer:
    mcq = MCQ(question="Pick one", choices=("x", "y", "z", "w"))
    letter = max(probs, key=probs.__getitem__)
    return Answer(mcq, letter, "prompt", probs=probs, mass=0.9)


def test_threshold_and_calibration_settings(tmp_path) -> None:
    env = {"STEMQA_CONFIDENCE_THRESHOLD": "0.7", "STEMQA_CALIBRATION": str(tmp_path / "c.json")}
    s = Settings.from_env(env, data_dir=tmp_path)
    assert s.confidence_threshold == 0.7 and s.calibration == tmp_path / "c.json"
    assert (
        Settings.from_env(env, data_dir=tmp_path, confidence_threshold=0.2).confidence_threshold
        == 0.2
    )
    with pytest.raises(SettingsError, match="STEMQA_CONFIDENCE_THRESHOLD='high'"):
        Settings.from_env({"STEMQA_CONFIDENCE_THRESHOLD": "high"}, data_dir=tmp_path)
    with pytest.raises(SettingsError, match="from 0 to 1"):
        Settings(data_dir=tmp_path, confidence_threshold=1.5)


def test_not_sure_below_threshold_sure_above() -> None:
    trust = Trust(threshold=0.5)
    low = answer_html("B", "y", 0.31, trust)
    assert 'data-state="not-sure"' in low and 'data-letter="B"' in low
    assert "Not sure: 31% confidence is below 50%" in low and "Don't rely" in low
    high = answer_html("B", "y", 0.8, trust)
    assert 'data-state="sure"' in high and "Not sure" not in high and "not calibrated" in high


def test_render_answer_applies_the_temperature(tmp_path) -> None:
    probs = {"A": 0.55, "B": 0.25, "C": 0.1, "D": 0.1}
    calibrated = Trust(0.5, Calibration(temperature=2.0, fitted_on="held", n=100))
    html_answer, frame, *_ = render_answer(_answer(probs), 1, 2, 3, trust=calibrated)
    # T = 2 flattens .55 to sqrt(.55) / sum(sqrt(p)) = 0.389: below 0.5, so not sure
    shown = dict(zip(frame["option"], frame["probability"], strict=True))
    assert shown["A"] == pytest.approx(0.55**0.5 / sum(p**0.5 for p in probs.values()))
    assert 'data-state="not-sure"' in html_answer
    raw, _, *_ = render_answer(_answer(probs), 1, 2, 3, trust=Trust(0.5))
    assert 'data-state="sure"' in raw  # 0.55 uncalibrated


def test_trust_for_finds_the_file_next_to_the_adapter(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("STEMQA_CALIBRATION", raising=False)
    adapter = tmp_path / "run" / "adapter"
    adapter.mkdir(parents=True)
    (tmp_path / "run" / "calibration.json").write_text(
        json.dumps({"temperature": 1.7, "fitted_on": "val", "n": 50})
    )
    s = Settings(data_dir=tmp_path)
    trust = trust_for(s, str(adapter))
    assert trust.calibration.temperature == 1.7 and "T = 1.70" in trust.describe()
    s.calibration = tmp_path / "broken.json"
    (tmp_path / "broken.json").write_text("{")
    broken = trust_for(s, str(adapter))
    assert broken.calibration is None and "broken.json: not valid JSON" in broken.describe()


def test_hub_adapter_without_network_runs_uncalibrated(tmp_path, monkeypatch) -> None:
    """HF_HUB_OFFLINE=1 (root conftest): the Hub lookup fails fast and the app goes on."""
    monkeypatch.delenv("STEMQA_CALIBRATION", raising=False)
    trust = trust_for(Settings(data_dir=tmp_path), "someone/not-cached-adapter")
    assert trust.calibration is None and trust.problem is None
