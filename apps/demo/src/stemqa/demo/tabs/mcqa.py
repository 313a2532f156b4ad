"""MCQA tab: one multiple-choice question in, one letter out, with the evidence for it.

The answer comes from letter scoring (one forward pass, softmax over the option letters), not
from free generation, so the bar chart shows exactly what the model preferred.
"""

from __future__ import annotations

import html
import re
import time

import gradio as gr
import pandas as pd

from stemqa.core.retrieval import display_page
from stemqa.demo import viewer
from stemqa.demo.confidence import answer_html, trust_for
from stemqa.demo.index_service import IndexUnavailableError
from stemqa.demo.library import owner_for
from stemqa.demo.services import Services, excerpt
from stemqa.demo.tabs.common import (
    DOCUMENTS,
    MODEL,
    OPTIONS,
    QUESTION,
    InlineError,
    require_index,
    require_model,
    slots,
)

EXAMPLE_QUESTION = (
    "Which law states that the line integral of the magnetic field around a closed loop is "
    "proportional to the current passing through the loop?\n"
    "A. Gauss's law\nB. Faraday's law\nC. Ampère's law\nD. Coulomb's law"
)
PASSAGE_HEADERS = ["file", "page", "score", "passage"]


#: An option marker at a line start, any case: 'A. x', 'b) x', '(c) x', '- D: x'.
_LINE_OPTION = re.compile(
    r"^(?P<lead>[ \t]*(?:[-*•][ \t]*)?)(?:\((?P<p>[A-Za-z])\)|(?P<l>[A-Za-z])[.):])[ \t]+",
    re.MULTILINE,
)
MAX_OPTIONS = 10  # A to J


def _marker_run(text: str) -> list[re.Match[str]]:
    """The line markers that run a, b, c… (any case) from the first 'a': the options."""
    run: list[re.Match[str]] = []
    for match in _LINE_OPTION.finditer(text):
        letter = (match.group("p") or match.group("l")).upper()
        if letter == chr(ord("A") + len(run)):
            run.append(match)
        elif letter == "A":
            run = [match]
    return run if len(run) >= 2 else []


def _too_many(count: int, where: str) -> InlineError:
    last = chr(ord("A") + count - 1)
    return InlineError(
        where, f"{count} options (A to {last}): at most {MAX_OPTIONS} (A to J) can be answered."
    )


def parse_mcq(question: str, options: str):
    """An MCQ from the question box, with options inside it or one per line in the options box.

    Lowercase markers ('a) …') are accepted; more than ten options, or options both in the
    question and in the box, are errors naming the box to fix, never silently merged.
    """
    from stemqa.core import MCQ

    question = (question or "").strip()
    if not question:
        raise InlineError(QUESTION, "Type a question first.")
    run = _marker_run(question)
    lines = [line.strip() for line in (options or "").splitlines() if line.strip()]
    if lines:
        if run:
            raise InlineError(
                OPTIONS,
                "The options are both in the question and in this box: keep one of them "
                "(empty this box, or remove the 'A. …' lines from the question).",
            )
        if len(lines) > MAX_OPTIONS:
            raise _too_many(len(lines), OPTIONS)
        if len(lines) < 2:
            raise InlineError(OPTIONS, "Give at least 2 options, one per line.")
        marked = _marker_run("\n".join(lines))  # 'A. x' lines in the box: drop the markers
        if len(marked) == len(lines):
            lines = [
                line[m.end() - m.start() :].strip() for line, m in zip(lines, marked, strict=True)
            ]
        return MCQ(question=question, choices=tuple(lines))
    if len(run) > MAX_OPTIONS:
        raise _too_many(len(run), QUESTION)
    # Upper-case the option markers so that 'a) …' parses like 'A) …'.
    for match in reversed(run):
        letter = "p" if match.group("p") else "l"
        start = match.start(letter)
        question = question[:start] + question[start].upper() + question[start + 1 :]
    try:
        mcq = MCQ.from_text(question)
    except ValueError:
        raise InlineError(
            QUESTION,
            "No options found: write them as 'A. …' lines under the question, or one per line "
            "in the Options box.",
        ) from None
    return mcq


def letter_html(letter: str, choice: str, confidence: float) -> str:
    return (
        f'<div class="stemqa-answer"><div class="stemqa-letter" data-letter="{letter}">{letter}</div>'
        f'<div class="stemqa-choice">{html.escape(choice)}</div>'
        f'<div class="stemqa-confidence">{confidence:.0%} of the option probability</div></div>'
    )


EMPTY_ANSWER = '<div class="stemqa-answer stemqa-empty">?</div>'
#: Message slots of the tab: under the question, under the options, next to Answer.
SLOTS = [(QUESTION,), (OPTIONS,), (MODEL, DOCUMENTS)]


def answer(services: Services, question: str, options: str, use_docs: bool, k: float, owner=None):
    """(answer html, probabilities frame, passages frame, prompt, latency) for one question."""
    return answer_result(services, question, options, use_docs, k, owner)[0]


def answer_result(
    services: Services, question: str, options: str, use_docs: bool, k: float, owner=None
):
    """(the tab's outputs, the engine's Answer). `owner`: whose private library is searched
    beside the shared one (None: the shared library only).

    The answer comes from the shared answer engine (stemqa.core.answering), exactly as
    eval-mcqa computes it: same retrieval query, same prompt fitted to the same window, same
    letter scoring. Scoring goes through the model service's batching queue, so concurrent
    users share forward passes.
    """
    from stemqa.core import PromptTooLongError
    from stemqa.core.answering import context_window, prepare_mcqs, score_prepared

    start = time.perf_counter()
    mcq = parse_mcq(question, options)
    # the shared library and the caller's own (library.py), fused by rank
    retriever = None
    if use_docs:
        retriever = require_index(services) if owner is None else services.library.retriever(owner)
    model, tokenizer = require_model(services)
    t0 = time.perf_counter()
    try:
        prepared = prepare_mcqs(
            [mcq], tokenizer, retriever=retriever, k=int(k), max_tokens=context_window(model)
        )
    except IndexUnavailableError as exc:
        raise InlineError(DOCUMENTS, str(exc)) from None
    except PromptTooLongError:
        raise InlineError(
            QUESTION, "The question and its options are too long for the model: shorten them."
        ) from None
    retrieval_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    (result,) = score_prepared(model, tokenizer, prepared, score_fn=services.model.score_fn)
    model_ms = (time.perf_counter() - t0) * 1000
    total_ms = (time.perf_counter() - start) * 1000
    return render_answer(
        result,
        retrieval_ms,
        model_ms,
        total_ms,
        trust=trust_for(services.settings, services.model.state().adapter),
    ), result


def render_answer(result, retrieval_ms: float, model_ms: float, total_ms: float, *, trust=None):
    """The tab's outputs for one engine Answer; with `trust` (stemqa.demo.confidence) the
    probabilities are temperature-scaled and a low confidence shows the "not sure" state."""
    mcq = result.mcq
    shown = trust.calibrated(result.probs) if trust is not None else result.probs
    probs = pd.DataFrame(
        {"option": list(mcq.letters), "probability": [shown[c] for c in mcq.letters]}
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
    html_answer = (
        letter_html(result.letter, result.choice, result.confidence)
        if trust is None
        else answer_html(result.letter, result.choice, shown[result.letter], trust)
    )
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
            question_error = gr.Markdown(elem_id="mcqa-question-error")
            options = gr.Textbox(
                label="Options (optional, one per line)",
                lines=3,
                placeholder="Leave empty when the options are in the question.",
                elem_id="mcqa-options",
            )
            options_error = gr.Markdown(elem_id="mcqa-options-error")
            with gr.Row():
                use_docs = gr.Checkbox(
                    label="Use my documents", value=False, elem_id="mcqa-use-docs"
                )
                k = gr.Slider(1, 10, value=4, step=1, label="Passages (k)", elem_id="mcqa-k")
            ask = gr.Button("Answer", variant="primary", elem_id="mcqa-ask")
            answer_error = gr.Markdown(elem_id="mcqa-error")
            gr.Examples([[EXAMPLE_QUESTION, ""]], inputs=[question, options], label="Example")
        with gr.Column(scale=2):
            letter = gr.HTML(
                EMPTY_ANSWER,
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

    pages = viewer.build_viewer(services, "mcqa", table=passages)

    def handler(
        question: str,
        options: str,
        use_docs: bool,
        k: float,
        request: gr.Request,
        profile: gr.OAuthProfile | None,
    ):
        """Outputs, the viewer reset to the new passages, and the message slots: an error
        clears the previous answer instead of leaving it under the message."""
        error = None
        try:
            outputs, result = answer_result(
                services, question, options, use_docs, k, owner_for(request, profile)
            )
        except InlineError as exc:
            error, result = exc, None
            outputs = (
                EMPTY_ANSWER,
                pd.DataFrame(columns=["option", "probability"]),
                pd.DataFrame(columns=PASSAGE_HEADERS),
                "",
                "",
            )
        passages_cited = result.passages if result is not None else []
        return (*outputs, *viewer.reset(passages_cited), *slots(SLOTS, error))

    ask.click(
        handler,
        inputs=[question, options, use_docs, k],
        outputs=[
            letter,
            probs,
            passages,
            prompt,
            latency,
            *pages.outputs,
            question_error,
            options_error,
            answer_error,
        ],
        api_name="mcqa",
        # Up to a batch of users at once: their questions meet in the model service's
        # batching queue and share forward passes (the queue holds the model lock).
        concurrency_id="mcqa",
        concurrency_limit=services.settings.max_batch_size,
    )
