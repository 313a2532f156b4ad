"""Text clean-up and prompt rendering shared by every schema.

Whitespace normalisation is deliberately conservative: py-dpo and much of the course data are
code, where indentation carries meaning, so runs of inner spaces are never collapsed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from .records import Pair

_TRAILING_WS = re.compile(r"[ \t]+$", re.MULTILINE)
_MANY_NEWLINES = re.compile(r"\n{3,}")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_CHATML_TURN = re.compile(
    r"<\|im_start\|>[ \t]*([A-Za-z_]*)[ \t]*\n?(.*?)(?=<\|im_start\|>|\Z)", re.S
)
_CHATML_MARKERS = re.compile(
    r"<\|im_start\|>[ \t]*(?:system|user|assistant)?[ \t]*\n?|<\|im_end\|>"
)


def clean_text(text: str) -> str:
    """Normalise line endings, invisible characters and outer/trailing whitespace."""
    if text.isascii() and "\r" not in text:
        out = text
    else:
        out = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
        out = out.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    # substring checks first: the regexes are the slow part on tens of megabytes of text
    if " \n" in out or "\t\n" in out:
        out = _TRAILING_WS.sub("", out)
    if "\n\n\n" in out:
        out = _MANY_NEWLINES.sub("\n\n", out)
    return out.strip()


def has_chatml(text: str) -> bool:
    return "<|im_start|>" in text or "<|im_end|>" in text


def split_chatml(text: str) -> tuple[str, str]:
    """Return (system, rest) of a ChatML-marked string with every marker removed.

    The mlabonne OpenHermes set shipped both a ChatML revision (`<|im_start|>user ...`) and a
    plain "Intel format" revision; this makes either look like the plain one.
    """
    if not has_chatml(text):
        return "", text
    turns = [(m.group(1).lower(), m.group(2)) for m in _CHATML_TURN.finditer(text)]
    if not turns:
        return "", _CHATML_MARKERS.sub("", text).strip()
    prefix = text[: text.find("<|im_start|>")] if "<|im_start|>" in text else ""
    system: list[str] = []
    rest: list[str] = [prefix.replace("<|im_end|>", "")] if prefix.strip() else []
    for role, content in turns:
        content = content.replace("<|im_end|>", "").strip()
        if not content:
            continue  # e.g. the trailing "<|im_start|>assistant\n" generation prompt
        (system if role == "system" else rest).append(content)
    return "\n\n".join(system), "\n\n".join(rest)


def strip_chatml(text: str) -> str:
    return split_chatml(text)[1] if has_chatml(text) else text


def messages_for(pair: Pair) -> list[dict[str, str]]:
    """The prompt side of a pair as chat messages (system, earlier turns, final user turn)."""
    messages = [{"role": "system", "content": pair.system}] if pair.system else []
    messages += [{"role": role, "content": content} for role, content in pair.history]
    messages.append({"role": "user", "content": pair.prompt})
    return messages


def render_plain(pair: Pair) -> str:
    """Plain-string prompt (phi-2 has no chat template); multi-turn history gets role labels."""
    if not pair.history:
        return pair.prompt
    turns = [f"{role.capitalize()}: {content}" for role, content in pair.history]
    turns.append(f"User: {pair.prompt}")
    return "\n\n".join(turns)


def render_chatml(messages: Sequence[dict[str, str]]) -> str:
    body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"
