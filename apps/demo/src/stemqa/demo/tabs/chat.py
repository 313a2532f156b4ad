"""Chat tab: streaming free-form chat with the same shared model, optionally grounded in documents.

The history lives in the Chatbot's own value, which Gradio keeps per browser session, so one
user's conversation never reaches another's prompt. Stop is per session too (keyed by
`request.session_hash`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from stemqa.demo.services import Services, cite
from stemqa.demo.tabs.common import require_index, require_model

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
    text = (text or "").strip()
    if not text:
        raise gr.Error("Type a message first.")
    history = [*(history or []), {"role": "user", "content": text}]
    return "", history


def bot_turn(
    services: Services,
    history: list[dict[str, Any]],
    use_docs: bool,
    k: float,
    max_new_tokens: float,
    request: gr.Request,
):
    """Generator: yields the history with the assistant's answer growing token by token."""
    from stemqa.core import chat_prompt
    from stemqa.core.answering import chat_passages, context_window

    messages = to_prompt_messages(history or [])
    if not messages or messages[-1]["role"] != "user":
        return
    passages = []
    if use_docs:  # the answer engine's chat retrieval: the message is the query
        passages = chat_passages(messages[-1]["content"], require_index(services), k=int(k))
    model, tokenizer = require_model(services)
    prompt = chat_prompt(
        messages,
        tokenizer=tokenizer,
        context=[p.text for p in passages],
        max_tokens=context_window(model),
        reserve_tokens=int(max_new_tokens),
    )
    shown = [{"role": m["role"], "content": message_text(m)} for m in history]
    session = request.session_hash or "anonymous"
    answer = ""
    for answer in services.model.stream(
        prompt, max_new_tokens=int(max_new_tokens), session=session
    ):
        yield [*shown, {"role": "assistant", "content": answer}]
    final = answer.strip() or "(no answer: the model produced only special tokens)"
    if passages:
        seen = list(dict.fromkeys(cite(p) for p in passages))
        final += SOURCES_MARK + "; ".join(seen)
    yield [*shown, {"role": "assistant", "content": final}]


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

    def respond(history, use_docs, k, max_new, request: gr.Request):
        yield from bot_turn(services, history, use_docs, k, max_new, request)

    def stop_generation(request: gr.Request) -> None:
        services.model.stop(request.session_hash or "anonymous")

    def clear_chat(request: gr.Request) -> list:
        services.model.stop(request.session_hash or "anonymous")
        return []

    user_event = gr.on(
        [send.click, message.submit],
        add_user_turn,
        inputs=[message, chatbot],
        outputs=[message, chatbot],
        queue=False,
        api_visibility="private",
    )
    bot_event = user_event.success(
        respond,
        inputs=[chatbot, use_docs, k, max_new],
        outputs=chatbot,
        api_name="chat",
        concurrency_id="model",
        concurrency_limit=services.settings.model_concurrency,
    )
    stop.click(stop_generation, queue=False, cancels=[bot_event], api_visibility="private")
    clear.click(
        clear_chat,
        outputs=chatbot,
        cancels=[bot_event],
        queue=False,
        api_visibility="private",
    )
