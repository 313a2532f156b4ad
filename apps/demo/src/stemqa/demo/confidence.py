"""How sure the MCQA answer is: calibrated confidence and the "not sure" state.

The letter scores are a softmax over the option letters; raw, they are typically over- or
under-confident. eval-mcqa fits one temperature on held-out questions and writes
`calibration.json` (stemqa.train.calibration); the app applies it when it finds one (the
--calibration flag / STEMQA_CALIBRATION, else next to the loaded adapter), and says when it
does not have one. Below `confidence_threshold` the answer is shown as "not sure": the best
letter stays visible, the user is told not to rely on it.

Why 0.5 by default: once calibrated, confidence c means "right about c of the time" (that is
what ECE measures), so 0.5 marks the answers more likely wrong than right. On a risk-coverage
curve (eval-mcqa's `<results>.risk_coverage.png`) it is the point where the answered set's
error rate stays below one half; `stemqa.train.calibration.threshold_for_risk(conf, correct,
max_risk)` picks the threshold for another target from an eval run on the course questions.
The chat tab generates free text and shows no confidence at all, on purpose.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

from stemqa.train.calibration import Calibration, CalibrationError, find_calibration

log = logging.getLogger(__name__)

DEFAULT_CONFIDENCE_THRESHOLD = 0.5


@dataclass
class Trust:
    """The threshold and the temperature (None: probabilities as scored) for one model."""

    threshold: float
    calibration: Calibration | None = None
    problem: str | None = None  # why a configured calibration file could not be used

    def calibrated(self, probs: dict[str, float]) -> dict[str, float]:
        return self.calibration.apply(probs) if self.calibration is not None else dict(probs)

    def is_sure(self, confidence: float) -> bool:
        return confidence >= self.threshold

    def describe(self) -> str:
        if self.calibration is not None:
            c = self.calibration
            return f"calibrated (T = {c.temperature:.2f}, fitted on {c.n} held-out questions)"
        if self.problem:
            return f"not calibrated: {self.problem}"
        return "not calibrated (no calibration.json: run eval-mcqa --calibrate_on)"


_CACHE: dict[tuple, Trust] = {}


def trust_for(settings, adapter: str | None) -> Trust:
    """The Trust for the loaded adapter, read once per (file, adapter, threshold)."""
    explicit = getattr(settings, "calibration", None)
    threshold = float(getattr(settings, "confidence_threshold", DEFAULT_CONFIDENCE_THRESHOLD))
    key = (str(explicit), adapter, threshold)
    if key not in _CACHE:
        try:
            calibration = find_calibration(path=explicit, adapter=adapter)
            if calibration is None and not explicit and adapter:
                calibration = _from_hub(adapter)
            _CACHE[key] = Trust(threshold, calibration)
        except CalibrationError as exc:
            log.warning("%s", exc)
            _CACHE[key] = Trust(threshold, None, str(exc))
    return _CACHE[key]


def _from_hub(adapter: str) -> Calibration | None:
    """`calibration.json` pushed with a Hub adapter (push-adapter uploads the adapter folder,
    where eval-mcqa --calibrate_on writes it). None when the id is local, offline or has none."""
    from pathlib import Path

    if Path(adapter).exists() or adapter.count("/") != 1:
        return None
    try:
        from huggingface_hub import hf_hub_download

        from stemqa.train.calibration import CALIBRATION_FILE, read_calibration

        return read_calibration(hf_hub_download(adapter, CALIBRATION_FILE))
    except CalibrationError:
        raise
    except Exception as exc:  # not found, offline, gated: the app runs uncalibrated
        log.info("no %s for adapter %s: %s", "calibration.json", adapter, type(exc).__name__)
        return None


def answer_html(letter: str, choice: str, confidence: float, trust: Trust) -> str:
    """The big letter; under the threshold a visible "not sure" state around it."""
    sure = trust.is_sure(confidence)
    state = "sure" if sure else "not-sure"
    note = (
        f"{confidence:.0%} confidence, {html.escape(trust.describe())}"
        if sure
        else (
            f"Not sure: {confidence:.0%} confidence is below {trust.threshold:.0%}. "
            "Don't rely on this answer; check it in your documents."
        )
    )
    return (
        f'<div class="stemqa-answer stemqa-{state}" data-state="{state}">'
        f'<div class="stemqa-letter" data-letter="{letter}">{letter}</div>'
        f'<div class="stemqa-choice">{html.escape(choice)}</div>'
        f'<div class="stemqa-confidence">{note}</div></div>'
    )
