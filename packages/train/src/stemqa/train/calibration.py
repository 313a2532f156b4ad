"""How far to believe a letter: calibration, selective answering and temperature scaling.

Everything here is a pure function of, per question, the probabilities the model gives the
option letters (core's `LetterScore.probs`: a softmax over the option letters only) and the gold
letter. No model, no torch: the app imports this module to read a fitted temperature.

Definitions (so numbers can be compared with other reports):

* **confidence** is the top option probability; a question is **correct** when the top letter is
  the gold letter (ties go to the first letter in option order, as ``max`` does).
* **ECE** (expected calibration error) as HELM: 10 equal-width bins of the confidence over
  [0, 1] (a confidence of exactly 1.0 goes in the last bin), ECE = Σ_b |B_b|/n · |acc_b − conf_b|.
* **Brier score**, multi-class, *summed over the options and averaged over questions*
  (Brier 1950): mean_i Σ_k (p_ik − y_ik)²; 0 is perfect, 2 is the worst, uniform over 4 options
  is 0.75. (Dividing by the number of options would give the per-class normalisation; we don't.)
* **NLL**: mean −ln p(gold), with p clipped at 1e-12 so one zero does not make it infinite.
* **selective accuracy** at coverage c: accuracy on the ceil(c·n) most confident questions
  (stable sort, ties keep question order). The **risk–coverage curve** has one point per k = 1..n
  (coverage k/n, risk = error rate of the top k); **AURC** is the mean risk over those n points
  (Geifman et al. 2019), lower is better.
* **temperature scaling** (Guo et al. 2017): p ∝ exp(z / T) with z = ln p, since ln of a softmax
  is its logits up to a per-question constant that the softmax cancels. T is fitted on held-out
  questions by minimising NLL. The NLL is convex in β = 1/T (a mean of log-sum-exp of linear
  functions minus a linear term), so a safeguarded Newton search on β within a bracket finds the
  global minimum; the fit reports its iterations, final gradient and bracket.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stemqa.train.json_files import read_json_file

N_BINS = 10
COVERAGES = (0.1, 0.25, 0.5, 1.0)
CALIBRATION_FILE = "calibration.json"
ENV_CALIBRATION = "STEMQA_CALIBRATION"
_EPS = 1e-12
#: Temperatures outside [1/100, 100] mean the held-out set is degenerate (all right or all
#: wrong with full confidence); the fit stops at the bracket and says so.
BETA_BRACKET = (0.01, 100.0)

Probs = Mapping[str, float]


class CalibrationError(ValueError):
    """A calibration file or input that cannot be used; the message names the file or row."""


# --------------------------------------------------------------------------- per-question arrays


def _arrays(probs: Sequence[Probs], gold: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) arrays."""
    if len(probs) != len(gold):
        raise ValueError(f"{len(probs)} probability rows but {len(gold)} gold letters")
    conf = np.empty(len(probs))
    correct = np.empty(len(probs), dtype=bool)
    for i, (p, g) in enumerate(zip(probs, gold, strict=True)):
        if not p:
            raise ValueError(f"question {i + 1}: no option probabilities")
        top = max(p, key=p.__getitem__)
        conf[i] = p[top]
        correct[i] = top == g
    return conf, correct


@dataclass(frozen=True)
class Bin:
    """One reliability-diagram bar: confidences in [lower, upper) (the last bin includes 1)."""

    lower: float
    upper: float
    count: int
    accuracy: float | None  # None for an empty bin
    confidence: float | None


def reliability_bins(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS
) -> list[Bin]:
    """The equal-width bins that ECE sums over and the reliability diagram draws."""
    conf = np.asarray(confidences, dtype=float)
    hit = np.asarray(correct, dtype=bool)
    index = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    out = []
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        out.append(
            Bin(
                lower=b / n_bins,
                upper=(b + 1) / n_bins,
                count=count,
                accuracy=float(hit[mask].mean()) if count else None,
                confidence=float(conf[mask].mean()) if count else None,
            )
        )
    return out


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS
) -> float:
    n = len(confidences)
    if n == 0:
        return 0.0
    return float(
        sum(
            b.count / n * abs(b.accuracy - b.confidence)  # type: ignore[operator]
            for b in reliability_bins(confidences, correct, n_bins)
            if b.count
        )
    )


def brier_score(probs: Sequence[Probs], gold: Sequence[str]) -> float:
    """Multi-class Brier, summed over options, averaged over questions (range 0..2)."""
    total = 0.0
    for p, g in zip(probs, gold, strict=True):
        total += sum((v - (1.0 if k == g else 0.0)) ** 2 for k, v in p.items())
    return total / len(probs) if probs else 0.0


def negative_log_likelihood(probs: Sequence[Probs], gold: Sequence[str]) -> float:
    if not probs:
        return 0.0
    return float(
        np.mean([-math.log(max(p.get(g, 0.0), _EPS)) for p, g in zip(probs, gold, strict=True)])
    )


def _order(confidences: Sequence[float]) -> np.ndarray:
    return np.argsort(-np.asarray(confidences, dtype=float), kind="stable")


def selective_accuracy(
    confidences: Sequence[float],
    correct: Sequence[bool],
    coverages: Sequence[float] = COVERAGES,
) -> dict[str, float]:
    """Accuracy on the ceil(c·n) most confident questions, keyed by the coverage ('0.25')."""
    n = len(confidences)
    hit = np.asarray(correct, dtype=bool)[_order(confidences)]
    out = {}
    for c in coverages:
        k = max(1, math.ceil(c * n - 1e-9)) if n else 0
        out[f"{c:g}"] = float(hit[:k].mean()) if k else 0.0
    return out


def risk_coverage(
    confidences: Sequence[float], correct: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray]:
    """(coverage k/n, risk of the top k) for k = 1..n, most confident first."""
    n = len(confidences)
    hit = np.asarray(correct, dtype=bool)[_order(confidences)]
    k = np.arange(1, n + 1)
    return k / n, 1.0 - np.cumsum(hit) / k


def aurc(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    """Area under the risk-coverage curve: the mean selective risk over k = 1..n."""
    if not len(confidences):
        return 0.0
    return float(risk_coverage(confidences, correct)[1].mean())


def threshold_for_risk(
    confidences: Sequence[float], correct: Sequence[bool], max_risk: float
) -> tuple[float, float]:
    """The lowest confidence threshold whose answered set (confidence >= it) keeps the error
    rate at or below `max_risk`, and the coverage it leaves. (1.0, 0.0) when none does."""
    cov, risk = risk_coverage(confidences, correct)
    conf = np.asarray(confidences, dtype=float)[_order(confidences)]
    best = (1.0, 0.0)
    for i in range(len(conf)):
        # Only cut between distinct confidences: equal ones are answered or not together.
        if i + 1 < len(conf) and conf[i + 1] == conf[i]:
            continue
        if risk[i] <= max_risk:
            best = (float(conf[i]), float(cov[i]))
    return best


# --------------------------------------------------------------------------- the report block


def calibration_metrics(
    probs: Sequence[Probs], gold: Sequence[str], *, n_bins: int = N_BINS
) -> dict[str, Any]:
    """ECE, Brier, NLL, selective accuracy, AURC and the bins, for one set of questions."""
    conf, correct = _arrays(probs, gold)
    return {
        "n": len(probs),
        "accuracy": float(correct.mean()) if len(probs) else 0.0,
        "mean_confidence": float(conf.mean()) if len(probs) else 0.0,
        "ece": expected_calibration_error(conf, correct, n_bins),
        "brier": brier_score(probs, gold),
        "nll": negative_log_likelihood(probs, gold),
        "selective_accuracy": selective_accuracy(conf, correct),
        "aurc": aurc(conf, correct),
        "bins": [asdict(b) for b in reliability_bins(conf, correct, n_bins)],
    }


# --------------------------------------------------------------------------- temperature scaling


def _logit_matrix(probs: Sequence[Probs], gold: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Padded (n, max options) matrix of ln p (-inf for padding) and the gold column."""
    width = max(len(p) for p in probs)
    z = np.full((len(probs), width), -np.inf)
    target = np.empty(len(probs), dtype=int)
    for i, (p, g) in enumerate(zip(probs, gold, strict=True)):
        keys = list(p)
        if g not in p:
            raise ValueError(f"question {i + 1}: gold letter {g!r} is not among {keys}")
        z[i, : len(keys)] = np.log(np.maximum(np.asarray([p[k] for k in keys]), _EPS))
        target[i] = keys.index(g)
    return z, target


def _nll_grad_hess(beta: float, z: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """NLL(β) = mean(logsumexp(β z) − β z_gold) and its first two derivatives in β."""
    s = beta * z
    s_max = s.max(axis=1, keepdims=True)
    w = np.exp(s - s_max)
    total = w.sum(axis=1, keepdims=True)
    p = w / total
    zf = np.where(np.isfinite(z), z, 0.0)
    gold_z = zf[np.arange(len(z)), target]
    mean_z = (p * zf).sum(axis=1)
    var_z = (p * zf * zf).sum(axis=1) - mean_z**2
    nll = float(np.mean(np.log(total[:, 0]) + s_max[:, 0] - beta * gold_z))
    return nll, float(np.mean(mean_z - gold_z)), float(np.mean(np.maximum(var_z, 0.0)))


@dataclass
class TemperatureFit:
    temperature: float
    n: int
    nll_before: float
    nll_after: float
    iterations: int
    gradient: float  # dNLL/dβ at the solution
    bracket: tuple[float, float]  # final β bracket
    converged: bool
    at_bound: bool  # the optimum lies at the edge of BETA_BRACKET


def fit_temperature(
    probs: Sequence[Probs],
    gold: Sequence[str],
    *,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> TemperatureFit:
    """Fit T by minimising held-out NLL: Newton on β = 1/T, falling back to bisection whenever
    a Newton step leaves the bracket [lo, hi] that the sign of the gradient keeps shrinking."""
    if not probs:
        raise ValueError("temperature scaling needs at least one question")
    z, target = _logit_matrix(probs, gold)
    lo, hi = BETA_BRACKET
    nll_before = _nll_grad_hess(1.0, z, target)[0]
    g_lo, g_hi = _nll_grad_hess(lo, z, target)[1], _nll_grad_hess(hi, z, target)[1]
    if g_lo >= 0 or g_hi <= 0:  # monotone on the bracket: the optimum is at an edge
        beta = lo if g_lo >= 0 else hi
        nll, grad, _ = _nll_grad_hess(beta, z, target)
        return TemperatureFit(
            1.0 / beta, len(probs), nll_before, nll, 0, grad, (lo, hi), False, True
        )
    beta, iterations, converged = 1.0, 0, False
    grad = 0.0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported)
        _, grad, hess = _nll_grad_hess(beta, z, target)
        if grad > 0:
            hi = beta
        else:
            lo = beta
        if abs(grad) < tol or hi - lo < tol * max(1.0, beta):
            converged = True
            break
        step = beta - grad / hess if hess > 0 else math.nan
        beta = step if lo < step < hi else 0.5 * (lo + hi)
    nll_after, grad, _ = _nll_grad_hess(beta, z, target)
    return TemperatureFit(
        temperature=1.0 / beta,
        n=len(probs),
        nll_before=nll_before,
        nll_after=nll_after,
        iterations=iterations,
        gradient=grad,
        bracket=(lo, hi),
        converged=converged,
        at_bound=False,
    )


def apply_temperature(probs: Probs, temperature: float) -> dict[str, float]:
    """Softmax(ln p / T) over the same letters; T = 1 returns the probabilities unchanged."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    keys = list(probs)
    z = np.log(np.maximum(np.asarray([probs[k] for k in keys], dtype=float), _EPS)) / temperature
    w = np.exp(z - z.max())
    w /= w.sum()
    return {k: float(v) for k, v in zip(keys, w, strict=True)}


# --------------------------------------------------------------------------- the saved file


@dataclass
class Calibration:
    """What `calibration.json` holds: one temperature and where it came from."""

    temperature: float
    fitted_on: str
    n: int
    nll_before: float | None = None
    nll_after: float | None = None
    ece_before: float | None = None
    ece_after: float | None = None
    iterations: int | None = None
    gradient: float | None = None
    at_bound: bool | None = None  # T hit the edge of the search bracket (degenerate held-out set)
    path: str | None = None  # where it was read from (not written)

    def apply(self, probs: Probs) -> dict[str, float]:
        return apply_temperature(probs, self.temperature)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("path")
        return out


def calibration_from_fit(
    fit: TemperatureFit, probs: Sequence[Probs], gold: Sequence[str], fitted_on: str
) -> Calibration:
    conf, correct = _arrays(probs, gold)
    after = [apply_temperature(p, fit.temperature) for p in probs]
    conf_after, _ = _arrays(after, gold)
    return Calibration(
        temperature=fit.temperature,
        fitted_on=fitted_on,
        n=fit.n,
        nll_before=fit.nll_before,
        nll_after=fit.nll_after,
        ece_before=expected_calibration_error(conf, correct),
        ece_after=expected_calibration_error(conf_after, correct),
        iterations=fit.iterations,
        gradient=fit.gradient,
        at_bound=fit.at_bound,
    )


def save_calibration(calibration: Calibration, path: str | Path) -> Path:
    """Write `calibration.json` (a folder means FOLDER/calibration.json)."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / CALIBRATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibration.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def read_calibration(path: str | Path) -> Calibration:
    path = Path(path)
    if path.is_dir():
        path = path / CALIBRATION_FILE
    data = read_json_file(path, CalibrationError, "calibration file")
    temperature = data.get("temperature") if isinstance(data, dict) else None
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or temperature <= 0
    ):
        raise CalibrationError(
            f"{path}: 'temperature' must be a positive number; refit with "
            "`eval-mcqa --calibrate-on HELD_OUT`"
        )
    known = {k: data[k] for k in Calibration.__dataclass_fields__ if k in data and k != "path"}
    known.setdefault("fitted_on", "unknown")
    known.setdefault("n", 0)
    return Calibration(**{**known, "temperature": float(temperature)}, path=str(path))


def find_calibration(
    *, path: str | Path | None = None, adapter: str | Path | None = None
) -> Calibration | None:
    """The temperature the app should use, or None (then probabilities are shown as scored).

    Looked up in order: an explicit `path`, the STEMQA_CALIBRATION environment variable, then
    `calibration.json` in the adapter folder and in its parent (a training run folder holds
    `adapter/`). An explicit path or env var that cannot be read is an error, not a silent
    fallback; a Hub adapter id simply has no local file.
    """
    explicit = path or os.environ.get(ENV_CALIBRATION) or None
    if explicit:
        return read_calibration(explicit)
    if adapter:
        folder = Path(adapter)
        for candidate in (folder / CALIBRATION_FILE, folder.parent / CALIBRATION_FILE):
            if candidate.is_file():
                return read_calibration(candidate)
    return None


# --------------------------------------------------------------------------- plots


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def plot_reliability(
    bins: Sequence[Bin | Mapping[str, Any]], path: str | Path, *, title: str = "Reliability"
) -> Path:
    """Bars of accuracy per confidence bin against the diagonal (perfect calibration).

    Drawn from `reliability_bins`' output (or the 'bins' of `calibration_metrics`), so the
    picture and the ECE come from the same numbers. No pyplot: safe in threads (the app).
    """
    rows = [b if isinstance(b, Mapping) else asdict(b) for b in bins]
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    width = rows[0]["upper"] - rows[0]["lower"] if rows else 0.1
    lefts = [r["lower"] for r in rows]
    ax.bar(
        lefts,
        [r["accuracy"] or 0.0 for r in rows],
        width=width,
        align="edge",
        edgecolor="black",
        color="#4c72b0",
        label="accuracy",
    )
    ax.bar(
        lefts,
        [(r["confidence"] or 0.0) - (r["accuracy"] or 0.0) if r["count"] else 0.0 for r in rows],
        bottom=[r["accuracy"] or 0.0 for r in rows],
        width=width,
        align="edge",
        color="#dd8452",
        alpha=0.45,
        label="gap to confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    for r in rows:
        if r["count"]:
            ax.text(
                r["lower"] + width / 2, 0.02, str(r["count"]), ha="center", fontsize=7, color="w"
            )
    return _finish(fig, ax, path, title, "confidence (top option probability)", "accuracy")


def plot_risk_coverage(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    *,
    title: str = "Risk vs coverage",
) -> Path:
    """One line per condition: error rate of the most confident fraction of questions."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    for label, (coverage, risk) in curves.items():
        ax.plot(coverage, risk, label=label)
    return _finish(
        fig,
        ax,
        path,
        title,
        "coverage (share of questions answered)",
        "risk (error rate of answered)",
    )


def _finish(fig, ax, path: str | Path, title: str, xlabel: str, ylabel: str) -> Path:
    """Unit square axes, labels, legend; then written atomically (write, then rename)."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=7)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, bbox_inches="tight")
    tmp.replace(path)
    return path
