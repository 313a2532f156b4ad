"""MCQA tab: one multiple-choice question in, one letter out, with the evidence for it.

The answer comes from letter scoring (one forward pass, softmax over the option letters), not
from free generation, so the bar chart shows exactly what the model preferred.
"""

from __future__ import annotations

import html
import time

import gradio as gr
import pandas as pd

from stemqa.core.retrieval import display_page
from stemqa.demo.services import Services, excerpt
from stemqa.demo.tabs.common import require_index, require_model

EXAMPLE_QUESTION = (
    "Which law states that the line integral of the magnetic field around a closed loop is "
    "proportional to the current passing through the loop?\n"
    "A. Gauss's law\nB. Faraday's law\nC. Ampère's law\nD. Coulomb's law"
)
PASSAGE_HEADERS = ["file", "page", "score", "passage"]


def parse_mcq(question: str, options: str):
    """An MCQ from the question box, with options inside it or one per line in the options box."""
    from stemqa.core import MCQ

    question = (question or "").strip()
    if not question:
        raise gr.Error("Type a question first.")
    lines = [line.strip() for line in (options or "").splitlines() if line.strip()]
    if lines:
        if not 2 <= len(lines) <= 10:
            raise gr.Error(f"Give 2 to 10 options, one per line (got {len(lines)}).")
        return MCQ(question=question, choices=tuple(lines))
    try:
        mcq = MCQ.from_text(question)
    except ValueError as exc:
        raise gr.Error(
            f"Could not find the options in the question: {exc}. Write them as 'A. …' lines "
            "under the question, or one per line in the Options box."
        ) from None
    if len(mcq.choices) < 2:
        raise gr.Error(
            "Found fewer than 2 options: write them as 'A. …' lines or in the Options box."
        )
    return mcq


def letter_html(letter: str, choice: str, confidence: float) -> str:
    return (
        f'<div class="stemqa-answer"><div class="stemqa-letter" data-letter="{letter}">{letter}</div>'
        f'<div class="stemqa-choice">{html.escape(choice)}</div>'
        f'<div class="stemqa-confidence">{confidence:.0%} of the option probability</div></div>'
    )


def answer(services: Services, question: str, options: str, use_docs: bool, k: float):
    """Handler: returns (answer html, probabilities frame, passages frame, prompt, latency).

    The answer comes from the shared answer engine (stemqa.core.answering), exactly as
    eval-mcqa computes it: same retrieval query, same prompt fitted to the same window, same
    letter scoring. Scoring goes through the model service's batching queue, so concurrent
    users share forward passes.
    """
    from stemqa.core.answering import context_window, prepare_mcqs, score_prepared

    start = time.perf_counter()
    mcq = parse_mcq(question, options)
    retriever = require_index(services) if use_docs else None
    model, tokenizer = require_model(services)
    t0 = time.perf_counter()
    prepared = prepare_mcqs(
        [mcq], tokenizer, retriever=retriever, k=int(k), max_tokens=context_window(model)
    )
    retrieval_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    (result,) = score_prepared(model, tokenizer, prepared, score_fn=services.model.score_fn)
    model_ms = (time.perf_counter() - t0) * 1000
    return render_answer(result, retrieval_ms, model_ms, (time.perf_counter() - start) * 1000)


def render_answer(result, retrieval_ms: float, model_ms: float, total_ms: float):
    """The tab's outputs for one engine Answer."""
    mcq = result.mcq
    probs = pd.DataFrame(
        {"option": list(mcq.letters), "probability": [result.probs[c] for c in mcq.letters]}
    )
    rows = [
        [p.source, display_page(p), round(float(p.score), 3), excerpt(p.text)]
        for p in result.passages
    ]
    table = pd.DataFrame(rows, columns=PASSAGE_HEADERS)
    latency = (
        f"**{total_ms:.0f} ms** in all: retrieval and prompt {retrieval_ms:.0f} ms, model "
        f"{model_ms:.0f} ms. The option letters hold {result.mass:.1%} of the model's "
        "next-token probability."
    )
    html_answer = letter_html(result.letter, result.choice, result.confidence)
    return html_answer, probs, table, result.prompt, latency


def build(services: Services) -> None:
    with gr.Row():
        with gr.Column(scale=3):
            question = gr.Textbox(
                label="Question",
                lines=7,
                placeholder="The question, with its options as 'A. …' lines (or put them below).",
                elem_id="mcqa-question",
            )
            options = gr.Textbox(
                label="Options (optional, one per line)",
                lines=3,
                placeholder="Leave empty when the options are in the question.",
                elem_id="mcqa-options",
            )
            with gr.Row():
                use_docs = gr.Checkbox(
                    label="Use my documents", value=False, elem_id="mcqa-use-docs"
                )
                k = gr.Slider(1, 10, value=4, step=1, label="Passages (k)", elem_id="mcqa-k")
            ask = gr.Button("Answer", variant="primary", elem_id="mcqa-ask")
            gr.Examples([[EXAMPLE_QUESTION, ""]], inputs=[question, options], label="Example")
        with gr.Column(scale=2):
            letter = gr.HTML(
                '<div class="stemqa-answer stemqa-empty">?</div>',
                label="Answer",
                elem_id="mcqa-answer",
            )
            probs = gr.BarPlot(
                x="option",
                y="probability",
                y_lim=[0, 1],
                sort="x",
                label="Option probabilities",
                height=220,
                elem_id="mcqa-probs",
            )
            latency = gr.Markdown(elem_id="mcqa-latency")
    passages = gr.Dataframe(
        headers=PASSAGE_HEADERS,
        label="Retrieved passages",
        interactive=False,
        wrap=True,
        column_widths=["18%", "7%", "8%", "67%"],
        elem_id="mcqa-passages",
    )
    with gr.Accordion("Exact prompt sent to the model", open=False):
        prompt = gr.Textbox(
            show_label=False, lines=8, max_lines=30, interactive=False, elem_id="mcqa-prompt"
        )

    def handler(question: str, options: str, use_docs: bool, k: float):
        return answer(services, question, options, use_docs, k)

    ask.click(
        handler,
        inputs=[question, options, use_docs, k],
        outputs=[letter, probs, passages, prompt, latency],
        api_name="mcqa",
        # Up to a batch of users at once: their questions meet in the model service's
        # batching queue and share forward passes (the queue holds the model lock).
        concurrency_id="mcqa",
        concurrency_limit=services.settings.max_batch_size,
    )
