"""MCQA tab: one multiple-choice question in, one letter out, with the evidence for it.

The answer comes from letter scoring (one forward pass, softmax over the option letters), not
from free generation, so the bar chart shows exactly what the model preferred.
"""

from __future__ import annotations

import html
import time

import gradio as gr
import pandas as pd

from stemqa.demo.services import Services, excerpt, page_label
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
    """Handler: returns (answer html, probabilities frame, passages frame, prompt, latency)."""
    from stemqa.core import build_mcq_prompt, format_question

    start = time.perf_counter()
    mcq = parse_mcq(question, options)
    passages = []
    retrieval_ms = 0.0
    if use_docs:
        index = require_index(services)
        t0 = time.perf_counter()
        passages = index.query(format_question(mcq), k=int(k))
        retrieval_ms = (time.perf_counter() - t0) * 1000
    model, tokenizer = require_model(services)
    prompt = build_mcq_prompt(
        mcq,
        context=[p.text for p in passages] or None,
        tokenizer=tokenizer,
        max_tokens=services.model.max_prompt_tokens(tokenizer, model),
    )
    t0 = time.perf_counter()
    score = services.model.score([prompt], mcq.letters)[0]
    model_ms = (time.perf_counter() - t0) * 1000
    letter = score.letter
    choice = mcq.choices[mcq.letters.index(letter)]
    probs = pd.DataFrame(
        {"option": list(mcq.letters), "probability": [score.probs[c] for c in mcq.letters]}
    )
    rows = [[p.source, page_label(p), round(float(p.score), 3), excerpt(p.text)] for p in passages]
    table = pd.DataFrame(rows, columns=PASSAGE_HEADERS)
    total_ms = (time.perf_counter() - start) * 1000
    latency = (
        f"**{total_ms:.0f} ms** in all: retrieval {retrieval_ms:.0f} ms, model {model_ms:.0f} ms. "
        f"The option letters hold {score.mass:.1%} of the model's next-token probability."
    )
    return letter_html(letter, choice, score.probs[letter]), probs, table, prompt, latency


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
        concurrency_id="model",
        concurrency_limit=services.settings.model_concurrency,
    )
