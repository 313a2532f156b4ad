"""Chat tab: streaming free-form chat with the same shared model, optionally grounded in documents.

The history lives in the Chatbot's own value, which Gradio keeps per browser session, so one
user's conversation never reaches another's prompt. Stop is per session too (keyed by
`request.session_hash`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from stemqa.core.retrieval import cite
from stemqa.demo import viewer
from stemqa.demo.index_service import IndexUnavailableError
from stemqa.demo.library import owner_for
from stemqa.demo.services import Services
from stemqa.demo.tabs.common import (
    DOCUMENTS,
    MESSAGE,
    InlineError,
    inline,
    require_index,
    require_model,
)

SOURCES_MARK = "\n\n---\n**Sources:** "


def message_text(message: dict[str, Any]) -> str:
    """Plain text of a Gradio 6 message, whose content is a list of typed parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    texts = []
    for part in parts:
        if isinstance(part, dict) and part.get("type", "text") == "text":
            texts.append(str(part.get("text", "")))
        elif isinstance(part, str):
            texts.append(part)
    return "".join(texts)


def to_prompt_messages(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Role/content pairs for chat_prompt, without the sources we appended to earlier answers."""
    messages = []
    for message in history:
        role = message.get("role")
        if role not in ("user", "assistant", "system"):
            continue
        text = message_text(message).split(SOURCES_MARK)[0]
        messages.append({"role": role, "content": text})
    return messages


def add_user_turn(text: str, history: list[dict[str, Any]]):
    """(input box, history, message under the input, whether to skip the reply)."""
    text = (text or "").strip()
    if not text:
        return "", history or [], inline("Type a message first."), True
    history = [*(history or []), {"role": "user", "content": text}]
    return "", history, "", False


def bot_turn(
    services: Services,
    history: list[dict[str, Any]],
    use_docs: bool,
    k: float,
    max_new_tokens: float,
    request: gr.Request,
    owner: Any = None,
):
    """Generator: yields (history, passages) with the assistant's answer growing token by token.

    `owner`: whose private library is searched beside the shared one (None: shared only).
    Raises InlineError for what the user can fix (the tab shows it under the input).
    """
    from stemqa.core import PromptTooLongError, chat_prompt
    from stemqa.core.answering import chat_passages, context_window

    messages = to_prompt_messages(history or [])
    if not messages or messages[-1]["role"] != "user":
        return
    passages = []
    if use_docs:  # the answer engine's chat retrieval: the message is the query
        retriever = require_index(services) if owner is None else services.library.retriever(owner)
        try:
            passages = chat_passages(messages[-1]["content"], retriever, k=int(k))
        except IndexUnavailableError as exc:
            raise InlineError(DOCUMENTS, str(exc)) from None
    model, tokenizer = require_model(services)
    try:
        prompt = chat_prompt(
            messages,
            tokenizer=tokenizer,
            context=[p.text for p in passages],
            max_tokens=context_window(model),
            reserve_tokens=int(max_new_tokens),
        )
    except PromptTooLongError:
        raise InlineError(
            MESSAGE,
            f"This message leaves no room for {int(max_new_tokens)} new tokens: shorten it, "
            "lower 'Max new tokens', or press Clear to start over.",
        ) from None

    shown = [{"role": m["role"], "content": message_text(m)} for m in history]
    session = request.session_hash or "anonymous"
    answer = ""
    for answer in services.model.stream(
        prompt, max_new_tokens=int(max_new_tokens), session=session
    ):
        yield [*shown, {"role": "assistant", "content": answer}], passages
    final = answer.strip() or "(no answer: the model produced only special tokens)"
    if passages:
        seen = list(dict.fromkeys(cite(p) for p in passages))
        final += SOURCES_MARK + "; ".join(seen)
    yield [*shown, {"role": "assistant", "content": final}], passages


def build(services: Services) -> None:
    chatbot = gr.Chatbot(
        label="Chat",
        height=420,
        elem_id="chat-bot",
        placeholder="Ask the model anything; switch on *Use my documents* to ground it in your PDFs.",
        feedback_options=None,
    )
    with gr.Row():
        message = gr.Textbox(
            show_label=False, placeholder="Your message", scale=6, elem_id="chat-input", lines=1
        )
        send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="chat-send")
        stop = gr.Button("Stop", variant="stop", scale=1, min_width=80, elem_id="chat-stop")
        clear = gr.Button("Clear", scale=1, min_width=80, elem_id="chat-clear")
    error = gr.Markdown(elem_id="chat-error")  # under the input: empty Send, no model, …
    with gr.Row():
        use_docs = gr.Checkbox(label="Use my documents", value=False, elem_id="chat-use-docs")
        k = gr.Slider(1, 10, value=3, step=1, label="Passages (k)")
        max_new = gr.Slider(
            8,
            1024,
            value=min(services.settings.max_new_tokens, 1024),
            step=8,
            label="Max new tokens",
            elem_id="chat-max-new",
        )

    # True after an empty Send: no reply. API calls (no state) get the default and are answered.
    skip_reply = gr.State(False)
    pages = viewer.build_viewer(services, "chat")

    def respond(
        history,
        skip_this,
        use_docs,
        k,
        max_new,
        request: gr.Request,
        profile: gr.OAuthProfile | None,
    ):
        """Streams (history, input box, message, *viewer). On a problem the unanswered turn is
        taken back into the input box and the message says what to do."""
        if skip_this:
            return
        skip = [gr.skip()] * len(pages.outputs)
        passages: list = []
        try:
            for shown, cited in bot_turn(
                services, history, use_docs, k, max_new, request, owner_for(request, profile)
            ):
                passages = cited
                yield shown, gr.skip(), "", *skip
        except InlineError as exc:
            text = message_text(history[-1]) if history else ""
            yield history[:-1], text, inline(str(exc)), *viewer.reset([])
            return
        yield gr.skip(), gr.skip(), "", *viewer.reset(passages)

    def stop_generation(request: gr.Request) -> None:
        services.model.stop(request.session_hash or "anonymous")

    def clear_chat(request: gr.Request):
        services.model.stop(request.session_hash or "anonymous")
        return [], "", *viewer.reset([])

    user_event = gr.on(
        [send.click, message.submit],
        add_user_turn,
        inputs=[message, chatbot],
        outputs=[message, chatbot, error, skip_reply],
        queue=False,
        api_visibility="private",
    )
    bot_event = user_event.success(
        respond,
        inputs=[chatbot, skip_reply, use_docs, k, max_new],
        outputs=[chatbot, message, error, *pages.outputs],
        api_name="chat",
        concurrency_id="model",
        concurrency_limit=services.settings.model_concurrency,
    )
    stop.click(stop_generation, queue=False, cancels=[bot_event], api_visibility="private")
    clear.click(
        clear_chat,
        outputs=[chatbot, error, *pages.outputs],
        cancels=[bot_event],
        queue=False,
        api_visibility="private",
    )
