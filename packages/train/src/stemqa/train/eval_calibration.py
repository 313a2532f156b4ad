"""eval-mcqa's trust blocks: calibration per condition and subject, plots, contamination split.

`stemqa.train.calibration` holds the metric definitions; this module applies them to an
`EvalResult` (its per-question `Prediction.probs`) and renders them into the results JSON and
markdown. The generate method has no option probabilities, so its block says so instead of
inventing numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from stemqa.train.calibration import (
    COVERAGES,
    Calibration,
    apply_temperature,
    calibration_from_fit,
    calibration_metrics,
    fit_temperature,
    plot_reliability,
    plot_risk_coverage,
    risk_coverage,
)

NO_PROBS_NOTE = (
    "no calibration: the generate method reads a letter from generated text and has no "
    "option probabilities (use --method logits)"
)


def _scored(predictions: Iterable[Any]) -> tuple[list[dict[str, float]], list[str]]:
    probs, gold = [], []
    for p in predictions:
        if p.probs and p.answer is not None:
            probs.append(dict(p.probs))
            gold.append(p.answer)
    return probs, gold


def _metrics(predictions: Sequence[Any], temperature: float | None) -> dict[str, Any] | None:
    probs, gold = _scored(predictions)
    if not probs:
        return None
    if temperature is not None:
        probs = [apply_temperature(p, temperature) for p in probs]
    return calibration_metrics(probs, gold)


def calibration_block(result: Any, *, calibration: Calibration | None = None) -> dict[str, Any]:
    """{'conditions': {name: {'overall', 'subjects', 'temperature_scaled'?}}, 'temperature'?}.

    With a fitted `calibration` (from held-out questions, never these), each condition also
    carries its metrics after temperature scaling, overall and per subject.
    """
    block: dict[str, Any] = {"bins": 10, "coverages": list(COVERAGES), "conditions": {}}
    if all(
        not _scored(c.predictions)[0] for c in result.conditions.values()
    ):  # the generate method
        block["note"] = NO_PROBS_NOTE
        return block
    if calibration is not None:
        block["temperature"] = calibration.to_dict()
    for name, cond in result.conditions.items():
        by_subject: dict[str, list[Any]] = defaultdict(list)
        for p in cond.predictions:
            by_subject[p.subject or "unknown"].append(p)
        entry: dict[str, Any] = {
            "overall": _metrics(cond.predictions, None),
            "subjects": {s: _metrics(ps, None) for s, ps in sorted(by_subject.items())},
        }
        if calibration is not None:
            t = calibration.temperature
            entry["temperature_scaled"] = {
                "overall": _metrics(cond.predictions, t),
                "subjects": {s: _metrics(ps, t) for s, ps in sorted(by_subject.items())},
            }
        block["conditions"][name] = entry
    return block


def _row(label: str, m: dict[str, Any] | None) -> str:
    if m is None:
        return f"| {label} | 0 | – | – | – | – | – | – | – | – |"
    sel = m["selective_accuracy"]
    return (
        f"| {label} | {m['n']} | {100 * m['accuracy']:.1f} | {m['ece']:.3f} | {m['brier']:.3f} "
        f"| {m['nll']:.3f} | {100 * sel['0.1']:.1f} | {100 * sel['0.25']:.1f} "
        f"| {100 * sel['0.5']:.1f} | {m['aurc']:.3f} |"
    )


def calibration_markdown(block: dict[str, Any]) -> str:
    lines = ["### Calibration and selective answering\n"]
    if "note" in block:
        return "\n".join([*lines, block["note"]]) + "\n"
    lines.append(
        "ECE: 10 equal-width confidence bins (HELM); Brier summed over options, mean over "
        "questions; NLL of the gold letter; acc@c = accuracy on the most confident c of the "
        "questions; AURC = mean risk over the risk-coverage curve (lower is better).\n"
    )
    temp = block.get("temperature")
    if temp:
        lines.append(
            f"Temperature T = {temp['temperature']:.3f}, fitted on {temp['fitted_on']} "
            f"({temp['n']} questions, held-out NLL {temp['nll_before']:.3f} → "
            f"{temp['nll_after']:.3f}, {temp['iterations']} Newton iterations, final gradient "
            f"{temp['gradient']:.1e}); rows marked *T* are after scaling.\n"
        )
        if temp.get("at_bound"):
            lines.append(
                "The fit stopped at the edge of its bracket (T in [0.01, 100]): the held-out "
                "answers are all right or all wrong with high confidence, or worse than chance; "
                "use a larger or more representative held-out set.\n"
            )
    header = (
        "| condition / subject | n | acc % | ECE | Brier | NLL | acc@10% | acc@25% | acc@50% "
        "| AURC |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines.append(header)
    for name, entry in block["conditions"].items():
        lines.append(_row(f"**{name}**", entry["overall"]))
        scaled = entry.get("temperature_scaled")
        if scaled:
            lines.append(_row(f"**{name}** *T*", scaled["overall"]))
        for subject, m in entry["subjects"].items():
            lines.append(_row(f"{name} / {subject}", m))
            if scaled:
                lines.append(_row(f"{name} / {subject} *T*", scaled["subjects"][subject]))
    return "\n".join(lines) + "\n"


def write_calibration_plots(result: Any, json_path: str | Path) -> list[Path]:
    """`<stem>.reliability_<condition>.png` per condition and `<stem>.risk_coverage.png`."""
    json_path = Path(json_path)
    written: list[Path] = []
    curves = {}
    for name, cond in result.conditions.items():
        probs, gold = _scored(cond.predictions)
        if not probs:
            continue
        m = calibration_metrics(probs, gold)
        written.append(
            plot_reliability(
                m["bins"],
                json_path.with_name(f"{json_path.stem}.reliability_{name}.png"),
                title=f"Reliability, {name} (n={m['n']}, ECE {m['ece']:.3f})",
            )
        )
        conf = [max(p.values()) for p in probs]
        correct = [max(p, key=p.__getitem__) == g for p, g in zip(probs, gold, strict=True)]
        curves[f"{name} (AURC {m['aurc']:.3f})"] = risk_coverage(conf, correct)
    if curves:
        written.append(
            plot_risk_coverage(curves, json_path.with_name(f"{json_path.stem}.risk_coverage.png"))
        )
    return written


def fit_calibration(result: Any, *, fitted_on: str) -> Calibration:
    """One temperature from a held-out run's closed-book answers (pooled with its RAG answers
    when it has them, since the app scales both with the same T)."""
    probs: list[dict[str, float]] = []
    gold: list[str] = []
    for cond in result.conditions.values():
        p, g = _scored(cond.predictions)
        probs += p
        gold += g
    if not probs:
        raise ValueError("temperature scaling needs letter probabilities (--method logits)")
    return calibration_from_fit(fit_temperature(probs, gold), probs, gold, fitted_on)


def contamination_block(result: Any, contaminated: set[str], *, report: str) -> dict[str, Any]:
    """Accuracy on all questions, on the clean ones and on the flagged ones, per condition."""
    out: dict[str, Any] = {"report": report, "conditions": {}}
    for name, cond in result.conditions.items():
        flagged = [p for p in cond.predictions if p.source in contaminated]
        clean = [p for p in cond.predictions if p.source not in contaminated]

        def acc(ps: Sequence[Any]) -> float | None:
            return sum(p.correct for p in ps) / len(ps) if ps else None

        out["conditions"][name] = {
            "n": len(cond.predictions),
            "flagged": len(flagged),
            "accuracy_all": acc(cond.predictions),
            "accuracy_clean": acc(clean),
            "accuracy_flagged": acc(flagged),
            "flagged_ids": sorted(str(p.source) for p in flagged),
        }
    return out


def contamination_markdown(block: dict[str, Any]) -> str:
    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.1f}"

    lines = [
        "### Contamination\n",
        f"Questions flagged by `{block['report']}` (they share an n-gram with training data).\n",
        "| condition | n | flagged | acc % all | acc % without flagged | acc % flagged |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, c in block["conditions"].items():
        lines.append(
            f"| {name} | {c['n']} | {c['flagged']} | {pct(c['accuracy_all'])} "
            f"| {pct(c['accuracy_clean'])} | {pct(c['accuracy_flagged'])} |"
        )
    return "\n".join(lines) + "\n"
