"""Evaluate tab: a whole question set through the app's model, like eval-mcqa, in the browser.

Upload an MMLU CSV, a jsonl (course / prompt-answer / cais-mmlu schema) or a GPQA CSV; every
question goes through the shared answer engine (`stemqa.core.answering.prepare_mcqs` +
`score_prepared` with the model service's batching `score_fn`, as the MCQA tab), closed book
and, when asked, with the documents, side by side. Metrics, the calibration block and the
reliability diagram are eval-mcqa's own code (`stemqa.train.eval_mcqa`,
`stemqa.train.eval_calibration`), so the numbers match `uv run eval-mcqa` on the same file.
Bad files get eval-mcqa's one-line errors, inline. The run is a generator that yields after
every chunk of questions; Cancel sets a flag for the caller's session that the run checks before
each chunk, so it stops within one chunk and its own last message says so (cancelling the
Gradio event instead raced with the update already on its way and could overwrite the status).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from stemqa.demo.confidence import trust_for
from stemqa.demo.services import Services
from stemqa.demo.tabs.common import QUESTION, InlineError, inline, require_index, require_model

CHUNK = 16  # questions per yield: the granularity of progress and of Cancel
MAX_QUESTIONS = 2000
FILE_TYPES = [".csv", ".jsonl", ".json", ".parquet"]
SUBJECT_HEADERS = ["subject", "n", "closed book %", "with documents %", "Δ pts"]

_cancelled: set[str] = set()  # session hashes whose run should stop at the next chunk
_cancel_lock = threading.Lock()


def request_cancel(session: str) -> None:
    with _cancel_lock:
        _cancelled.add(session)


def take_cancel(session: str) -> bool:
    """True once after Cancel was pressed in this session (the flag is consumed)."""
    with _cancel_lock:
        if session in _cancelled:
            _cancelled.discard(session)
            return True
        return False


def _upload_path(file: Any) -> tuple[Path, str]:
    path = file if isinstance(file, str) else getattr(file, "name", None) or file.get("path")
    original = getattr(file, "orig_name", None) or Path(str(path)).name
    return Path(str(path)), str(original)


def load_questions(file: Any, limit: int) -> list:
    """MCQs from the uploaded file (eval-mcqa's loader); errors name the file the user chose."""
    from stemqa.train.mcqa_data import MCQDataError, load_mcqs

    if file is None:
        raise InlineError(QUESTION, "Upload a question file first (MMLU CSV, jsonl or GPQA CSV).")
    temp, original = _upload_path(file)
    # The MMLU layout takes the subject from the file name: keep the one the user uploaded.
    folder = Path(tempfile.mkdtemp(prefix="stemqa-eval-"))
    local = folder / Path(original).name
    try:
        shutil.copyfile(temp, local)
        try:
            mcqs = load_mcqs(local, limit=limit)
        except MCQDataError as exc:
            raise InlineError(QUESTION, str(exc).replace(str(local), local.name)) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    unanswered = [m for m in mcqs if m.answer is None]
    if unanswered:
        raise InlineError(
            QUESTION,
            f"{local.name}: {len(unanswered)} question(s) have no answer (first: "
            f"{unanswered[0].source}); evaluation needs the answer of every question.",
        )
    return mcqs


def _accuracy_table(result: Any) -> pd.DataFrame:
    from stemqa.train.eval_mcqa import CLOSED_BOOK, WITH_CONTEXT

    closed = result.conditions[CLOSED_BOOK]
    rag = result.conditions.get(WITH_CONTEXT)
    rows = []
    for name in [*closed.subjects, "overall"]:
        a = closed.overall if name == "overall" else closed.subjects[name]
        b = None if rag is None else (rag.overall if name == "overall" else rag.subjects[name])
        rows.append(
            [
                name,
                a.n,
                round(100 * a.accuracy, 1),
                None if b is None else round(100 * b.accuracy, 1),
                None if b is None else round(100 * (b.accuracy - a.accuracy), 1),
            ]
        )
    return pd.DataFrame(rows, columns=SUBJECT_HEADERS)


def _predictions_frame(result: Any) -> pd.DataFrame:
    rows: dict[int, dict[str, Any]] = {}
    for name, cond in result.conditions.items():
        for p in cond.predictions:
            row = rows.setdefault(
                p.index,
                {
                    "index": p.index + 1,
                    "source": p.source,
                    "subject": p.subject,
                    "answer": p.answer,
                },
            )
            row[f"{name}_predicted"] = p.predicted
            row[f"{name}_confidence"] = None if not p.probs else round(max(p.probs.values()), 4)
            row[f"{name}_correct"] = p.correct
            if p.passages:
                row[f"{name}_passages"] = "; ".join(x["citation"] for x in p.passages)
    return pd.DataFrame([rows[i] for i in sorted(rows)])


def _summary(result: Any, seconds: float, describe: str) -> str:
    from stemqa.train.eval_mcqa import CLOSED_BOOK, WITH_CONTEXT

    lines = [f"**{result.n_questions} questions** in {seconds:.1f} s. Confidence: {describe}."]
    block = result.calibration or {}
    if "note" in block:
        lines.append(block["note"])
    for name, label in ((CLOSED_BOOK, "closed book"), (WITH_CONTEXT, "with documents")):
        entry = block.get("conditions", {}).get(name)
        if not entry or not entry["overall"]:
            continue
        m = entry["overall"]
        sel = m["selective_accuracy"]
        line = (
            f"- {label}: accuracy {100 * m['accuracy']:.1f}%, ECE {m['ece']:.3f}, "
            f"Brier {m['brier']:.3f}, NLL {m['nll']:.3f}, accuracy on the 25% most confident "
            f"{100 * sel['0.25']:.1f}%, AURC {m['aurc']:.3f}"
        )
        scaled = entry.get("temperature_scaled")
        if scaled and scaled["overall"]:
            line += f"; after temperature scaling ECE {scaled['overall']['ece']:.3f}"
        lines.append(line)
    return "\n".join(lines)


def evaluate(
    services: Services,
    file: Any,
    use_docs: bool,
    k: float,
    limit: float,
    progress,
    cancelled: Callable[[], bool] = lambda: False,
):
    """Generator of (status, table, reliability png, downloads, error) while the set runs;
    `cancelled()` is asked before every chunk."""
    from stemqa.core import PromptTooLongError
    from stemqa.core.answering import context_window, prepare_mcqs, score_prepared
    from stemqa.train.eval_calibration import calibration_block, write_calibration_plots
    from stemqa.train.eval_mcqa import (
        CLOSED_BOOK,
        WITH_CONTEXT,
        ConditionResult,
        EvalResult,
        to_prediction,
    )

    start = time.perf_counter()
    mcqs = load_questions(file, int(limit))
    retriever = require_index(services) if use_docs else None
    model, tokenizer = require_model(services)
    window = context_window(model)
    conditions = [(CLOSED_BOOK, None)] + ([(WITH_CONTEXT, retriever)] if retriever else [])
    answers: dict[str, list] = {name: [] for name, _ in conditions}
    total = len(mcqs) * len(conditions)
    done = 0
    for name, cond_retriever in conditions:
        for begin in range(0, len(mcqs), CHUNK):
            if cancelled():
                yield (f"Cancelled after {done} of {total} answers.", None, None, None, "")
                return
            chunk = mcqs[begin : begin + CHUNK]
            try:
                prepared = prepare_mcqs(
                    chunk, tokenizer, retriever=cond_retriever, k=int(k), max_tokens=window
                )
            except PromptTooLongError as exc:
                raise InlineError(QUESTION, str(exc)) from None
            answers[name] += score_prepared(
                model, tokenizer, prepared, score_fn=services.model.score_fn
            )
            done += len(chunk)
            progress((done, total), desc=f"{name.replace('_', ' ')}: {done}/{total}")
            yield (f"Running… {done} of {total} answers", gr.skip(), gr.skip(), gr.skip(), "")
    result = EvalResult(
        method="logits",
        shots=0,
        k=int(k) if retriever else None,
        conditions={
            name: ConditionResult.of([to_prediction(i, a) for i, a in enumerate(batch)])
            for name, batch in answers.items()
        },
        seconds=time.perf_counter() - start,
        config={"file": _upload_path(file)[1], "k": int(k), "limit": int(limit)},
    )
    trust = trust_for(services.settings, services.model.state().adapter)
    result.calibration = calibration_block(result, calibration=trust.calibration)
    out = services.settings.cache_dir / "evaluate" / uuid.uuid4().hex[:12]
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "predictions.json"
    json_path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    csv_path = out / "predictions.csv"
    _predictions_frame(result).to_csv(csv_path, index=False)
    plots = write_calibration_plots(result, json_path)
    reliability = next((str(p) for p in plots if "reliability_" in p.name), None)
    yield (
        _summary(result, time.perf_counter() - start, trust.describe()),
        _accuracy_table(result),
        reliability,
        [str(csv_path), str(json_path)],
        "",
    )


def build(services: Services) -> None:
    gr.Markdown(
        "Run a whole question set through the model: accuracy per subject, closed book and "
        "with your documents side by side, calibration, and the predictions to download."
    )
    with gr.Row():
        with gr.Column(scale=2):
            file = gr.File(
                label="Questions: MMLU CSV (question, A–D, answer), jsonl or GPQA CSV",
                file_types=FILE_TYPES,
                elem_id="eval-upload",
            )
            with gr.Row():
                use_docs = gr.Checkbox(
                    label="Also with my documents", value=False, elem_id="eval-use-docs"
                )
                k = gr.Slider(1, 10, value=3, step=1, label="Passages (k)", elem_id="eval-k")
            limit = gr.Number(
                value=200,
                minimum=1,
                maximum=MAX_QUESTIONS,
                precision=0,
                label=f"Questions to run (first N, at most {MAX_QUESTIONS})",
                elem_id="eval-limit",
            )
            with gr.Row():
                run = gr.Button("Evaluate", variant="primary", elem_id="eval-run")
                cancel = gr.Button("Cancel", variant="stop", elem_id="eval-cancel")
            error = gr.Markdown(elem_id="eval-error")
            status = gr.Markdown(elem_id="eval-status")
        with gr.Column(scale=2):
            reliability = gr.Image(
                label="Reliability diagram (closed book)",
                type="filepath",
                interactive=False,
                elem_id="eval-reliability",
            )
    table = gr.Dataframe(
        headers=SUBJECT_HEADERS,
        label="Accuracy per subject",
        interactive=False,
        elem_id="eval-table",
    )
    downloads = gr.File(
        label="Predictions (CSV, JSON)",
        file_count="multiple",
        interactive=False,
        elem_id="eval-downloads",
    )

    def handler(
        file: Any,
        use_docs: bool,
        k: float,
        limit: float,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008
    ):
        session = request.session_hash or ""
        take_cancel(session)  # a Cancel pressed before this run does not stop it
        try:
            yield from evaluate(
                services, file, use_docs, k, limit, progress, lambda: take_cancel(session)
            )
        except InlineError as exc:
            yield ("", None, None, None, inline(str(exc)))

    run.click(
        handler,
        inputs=[file, use_docs, k, limit],
        outputs=[status, table, reliability, downloads, error],
        api_name="evaluate",
        concurrency_id="evaluate",
        concurrency_limit=1,
    )

    def on_cancel(request: gr.Request) -> None:
        # No output: the run itself reports "Cancelled after …", so no late reply of this
        # handler can overwrite that message.
        request_cancel(request.session_hash or "")

    cancel.click(on_cancel, queue=False, api_visibility="private")
