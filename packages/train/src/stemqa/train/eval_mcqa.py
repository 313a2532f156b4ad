"""Multiple-choice evaluation: accuracy with honest error bars, format compliance, RAG on/off.

Two ways to read the model's answer:

* ``logits`` — one forward pass per batch; the answer is the option letter whose ``' A'``-style
  token has the highest logit after the prompt (core's `score_letters`). This is exactly what
  lm-evaluation-harness's MMLU task does, so the numbers are comparable (see the README).
  The probability mass the model puts on the option letters says how well it follows the
  "answer with one letter" format even when it never has to produce free text.
* ``generate`` — greedy decoding and `extract_letter`: what a chat user sees. Answers with no
  recognisable letter count as wrong and are reported as the invalid rate.

With a retriever, every question is asked twice — closed-book and with the top-k passages in
core's RAG template — and the report puts both side by side, so the value of retrieval is
measured on the same questions.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stemqa.core.answering import (
    DEFAULT_K,
    DEFAULT_QUERY_MODE,
    METHODS,
    Answer,
    context_window,
)
from stemqa.core.records import MCQ
from stemqa.core.retrieval import Passage, Retriever, cite
from stemqa.train.eval_parallel import answer_mcqs_parallel  # = answer_mcqs in one process

CLOSED_BOOK = "closed_book"
WITH_CONTEXT = "rag"
_Z95 = 1.959963984540054


def wilson_interval(correct: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion.

    Wilson rather than the normal approximation because per-subject counts are small (about
    100) and accuracies near 0 or 1 would otherwise get intervals that leave [0, 1].
    """
    if n <= 0:
        return (0.0, 1.0)
    p = correct / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, center - half), min(1.0, center + half))


@dataclass
class Metrics:
    n: int
    correct: int
    invalid: int
    accuracy: float
    ci_low: float
    ci_high: float
    invalid_rate: float
    mean_mass: float | None  # logits method only

    @classmethod
    def of(cls, predictions: Sequence[Prediction]) -> Metrics:
        n = len(predictions)
        correct = sum(p.correct for p in predictions)
        invalid = sum(p.predicted is None for p in predictions)
        masses = [p.mass for p in predictions if p.mass is not None]
        low, high = wilson_interval(correct, n)
        return cls(
            n=n,
            correct=correct,
            invalid=invalid,
            accuracy=correct / n if n else 0.0,
            ci_low=low,
            ci_high=high,
            invalid_rate=invalid / n if n else 0.0,
            mean_mass=sum(masses) / len(masses) if masses else None,
        )


@dataclass
class Prediction:
    index: int  # position in the evaluated list
    subject: str | None
    source: str | None
    answer: str | None  # gold letter
    predicted: str | None  # None: no letter found (generate method)
    correct: bool
    mass: float | None = None
    probs: dict[str, float] | None = None
    raw: str | None = None  # generated text (generate method)
    passages: list[dict[str, Any]] = field(default_factory=list)  # see passage_record


@dataclass
class ConditionResult:
    """One way of asking (closed-book or with context): overall and per-subject metrics."""

    overall: Metrics
    subjects: dict[str, Metrics]
    predictions: list[Prediction]

    @classmethod
    def of(cls, predictions: list[Prediction]) -> ConditionResult:
        by_subject: dict[str, list[Prediction]] = defaultdict(list)
        for p in predictions:
            by_subject[p.subject or "unknown"].append(p)
        return cls(
            overall=Metrics.of(predictions),
            subjects={s: Metrics.of(ps) for s, ps in sorted(by_subject.items())},
            predictions=predictions,
        )


@dataclass
class EvalResult:
    method: str
    shots: int
    k: int | None
    conditions: dict[str, ConditionResult]
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None  # stemqa.train.eval_calibration.calibration_block
    contamination: dict[str, Any] | None = None  # eval_calibration.contamination_block

    @property
    def n_questions(self) -> int:
        return next(iter(self.conditions.values())).overall.n

    def to_dict(self, *, predictions: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "config": self.config,
            "method": self.method,
            "shots": self.shots,
            "k": self.k,
            "n_questions": self.n_questions,
            "seconds": round(self.seconds, 3),
            "questions_per_second": round(self.n_questions * len(self.conditions) / self.seconds, 3)
            if self.seconds > 0
            else None,
            "conditions": {},
        }
        for name, cond in self.conditions.items():
            out["conditions"][name] = {
                "overall": asdict(cond.overall),
                "subjects": {s: asdict(m) for s, m in cond.subjects.items()},
            }
            if predictions:
                out["conditions"][name]["predictions"] = [asdict(p) for p in cond.predictions]
        if self.calibration is not None:
            out["calibration"] = self.calibration
        if self.contamination is not None:
            out["contamination"] = self.contamination
        return out

    def to_markdown(self) -> str:
        return render_markdown(self)


def _fmt_acc(m: Metrics) -> str:
    return f"{100 * m.accuracy:.1f} [{100 * m.ci_low:.1f}, {100 * m.ci_high:.1f}]"


def _fmt_mass(m: Metrics) -> str:
    return "–" if m.mean_mass is None else f"{m.mean_mass:.3f}"


def render_markdown(result: EvalResult) -> str:
    """A table a reader can paste into a report; accuracy in % with its 95% Wilson interval."""
    header = (
        f"method: `{result.method}`, shots: {result.shots}, questions: {result.n_questions}"
        + (f", retrieved passages: {result.k}" if WITH_CONTEXT in result.conditions else "")
    )
    lines = [f"### MCQA evaluation\n\n{header}\n"]
    closed = result.conditions[CLOSED_BOOK]
    rag = result.conditions.get(WITH_CONTEXT)
    rows = [*closed.subjects.keys(), "**overall**"]

    def get(cond: ConditionResult, row: str) -> Metrics:
        return cond.overall if row == "**overall**" else cond.subjects[row]

    if rag is None:
        lines.append("| subject | n | accuracy % [95% CI] | invalid % | letter mass |")
        lines.append("|---|---:|---|---:|---:|")
        for row in rows:
            m = get(closed, row)
            lines.append(
                f"| {row} | {m.n} | {_fmt_acc(m)} | {100 * m.invalid_rate:.1f} | {_fmt_mass(m)} |"
            )
    else:
        lines.append(
            "| subject | n | closed-book % [95% CI] | with context % [95% CI] | Δ pts "
            "| invalid % (closed / ctx) | letter mass (closed / ctx) |"
        )
        lines.append("|---|---:|---|---|---:|---|---|")
        for row in rows:
            a, b = get(closed, row), get(rag, row)
            lines.append(
                f"| {row} | {a.n} | {_fmt_acc(a)} | {_fmt_acc(b)} "
                f"| {100 * (b.accuracy - a.accuracy):+.1f} "
                f"| {100 * a.invalid_rate:.1f} / {100 * b.invalid_rate:.1f} "
                f"| {_fmt_mass(a)} / {_fmt_mass(b)} |"
            )
    from stemqa.train.eval_calibration import calibration_markdown, contamination_markdown

    if result.calibration is not None:
        lines.append("\n" + calibration_markdown(result.calibration))
    if result.contamination is not None:
        lines.append("\n" + contamination_markdown(result.contamination))
    return "\n".join(lines) + "\n"


def passage_record(passage: Passage) -> dict[str, Any]:
    """A retrieved passage in the results file: provenance, score and the citation label."""
    return {
        "source": passage.source,
        "page": passage.page,
        "page_number": passage.page_number,
        "page_label": passage.page_label,
        "score": passage.score,
        "chunk_id": passage.chunk_id,
        "citation": cite(passage),
    }


def to_prediction(i: int, answer: Answer) -> Prediction:
    mcq = answer.mcq
    gold = mcq.answer_letter
    return Prediction(
        index=i,
        subject=mcq.subject,
        source=mcq.source,
        answer=gold,
        predicted=answer.letter,
        correct=answer.letter is not None and answer.letter == gold,
        mass=answer.mass,
        probs=answer.probs,
        raw=answer.raw,
        passages=[passage_record(p) for p in answer.passages],
    )


def evaluate_mcqa(
    model: Any,
    tokenizer: Any,
    mcqs: Sequence[MCQ],
    *,
    method: str = "logits",
    batch_size: int = 16,
    shots: int = 0,
    shot_pool: Sequence[MCQ] | None = None,
    retriever: Retriever | None = None,
    k: int = DEFAULT_K,
    query_mode: str = DEFAULT_QUERY_MODE,
    max_tokens: int | None = None,
    max_new_tokens: int = 8,
    subject_header: bool = True,
    progress: bool = True,
    config: dict[str, Any] | None = None,
    calibration: Any = None,
    contaminated: set[str] | None = None,
    contamination_report: str | None = None,
) -> EvalResult:
    """Evaluate `model` on `mcqs`; with a retriever, closed-book and with-context side by side.

    The result carries a calibration block (`stemqa.train.eval_calibration`); `calibration`
    (a `stemqa.train.calibration.Calibration` fitted on *other* questions) adds the metrics after
    temperature scaling. `contaminated` (eval ids from check-contamination) adds accuracy with
    and without the flagged questions.

    `retriever` is anything with ``retrieve(query, k) -> list[Passage]`` (core's protocol); the
    CLI gets one from `stemqa.core.retrieval.open_retriever`, so this package never imports
    the RAG package.
    """
    from tqdm.auto import tqdm

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not mcqs:
        raise ValueError("no questions to evaluate")
    unanswered = [m.source or str(i) for i, m in enumerate(mcqs) if m.answer is None]
    if unanswered:
        raise ValueError(
            f"{len(unanswered)} question(s) have no gold answer (first: {unanswered[0]}); "
            "evaluation needs the answer of every question"
        )
    max_tokens = max_tokens or context_window(model)
    conditions: list[tuple[str, Retriever | None]] = [(CLOSED_BOOK, None)]
    if retriever is not None:
        conditions.append((WITH_CONTEXT, retriever))
    start = time.perf_counter()
    results: dict[str, ConditionResult] = {}
    with tqdm(
        total=len(mcqs) * len(conditions), desc="eval-mcqa", unit="q", disable=not progress
    ) as bar:
        for name, cond_retriever in conditions:
            bar.set_postfix_str(name)
            answers = answer_mcqs_parallel(
                model,
                tokenizer,
                mcqs,
                retriever=cond_retriever,
                k=k,
                query_mode=query_mode,
                shots=shots,
                shot_pool=shot_pool,
                method=method,
                batch_size=batch_size,
                max_tokens=max_tokens,
                max_new_tokens=max_new_tokens,
                subject_header=subject_header,
                progress=bar.update,
            )
            preds = [to_prediction(i, a) for i, a in enumerate(answers)]
            results[name] = ConditionResult.of(preds)
    from stemqa.train.eval_calibration import calibration_block, contamination_block

    result = EvalResult(
        method=method,
        shots=shots,
        k=k if retriever is not None else None,
        conditions=results,
        seconds=time.perf_counter() - start,
        config=dict(config or {}),
    )
    result.calibration = calibration_block(result, calibration=calibration)
    if contaminated is not None:
        result.contamination = contamination_block(
            result, contaminated, report=contamination_report or "contamination report"
        )
    return result


def write_results(result: EvalResult, out: str | Path) -> tuple[Path, Path]:
    """Write ``out`` (JSON, with per-question predictions) and the markdown table beside it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    md = out.with_suffix(".md")
    md.write_text(result.to_markdown())
    from stemqa.train.eval_calibration import write_calibration_plots

    write_calibration_plots(result, out)  # <stem>.reliability_<condition>.png, .risk_coverage.png
    return out, md
