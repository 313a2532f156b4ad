"""gradio_client against a launched `demo`: concurrency, isolation between users, streaming."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = [pytest.mark.server, pytest.mark.slow]

LETTER = re.compile(r'data-letter="([A-J])"')
SUBJECTS = ["capacitor", "entropy", "photon", "lattice", "torque", "enzyme", "isotope"]


def make_question(i: int) -> tuple[str, str]:
    """Question i with 2..6 options and a unique marker, so each answer can be traced back."""
    n = 2 + i % 5
    marker = f"Q{i:02d}-{SUBJECTS[i % len(SUBJECTS)]}"
    options = "\n".join(f"{'ABCDEF'[j]}. option {j} of {marker}" for j in range(n))
    return f"Which statement about {marker} is true?\n{options}", "ABCDEF"[:n]


def test_twenty_concurrent_mcqa_requests_each_get_their_own_valid_letter(demo_server) -> None:
    from gradio_client import Client

    def ask(i: int):
        client = Client(demo_server.url, verbose=False)  # one client = one user session
        question, letters = make_question(i)
        return i, letters, client.predict(question, "", False, 3, api_name="/mcqa")[:5]

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(ask, range(20)))

    assert len(results) == 20
    for i, letters, (answer_html, probs, _passages, prompt, latency) in results:
        match = LETTER.search(answer_html)
        assert match, answer_html
        assert match.group(1) in letters, (i, match.group(1), letters)
        marker = make_question(i)[0].split()[3]
        assert marker in prompt, "a request got another request's prompt"
        for other in range(20):
            if other != i:
                assert f"Q{other:02d}-" not in prompt
        rows = probs["value"]["data"] if isinstance(probs, dict) and "value" in probs else None
        if rows is not None:
            assert len(rows) == len(letters)
            assert abs(sum(r[1] for r in rows) - 1) < 1e-3
        assert "ms" in latency


def test_mcqa_with_separate_options_and_bad_input(demo_server) -> None:
    from gradio_client import Client

    client = Client(demo_server.url, verbose=False)
    answer_html, _probs, _passages, prompt, _latency, *_viewer, errors = _split(
        client.predict(
            "What is the SI unit of force?", "Joule\nNewton\nWatt", False, 3, api_name="/mcqa"
        )
    )
    assert LETTER.search(answer_html).group(1) in "ABC"
    assert "Newton" in prompt and "C. Watt" in prompt
    assert errors == ["", "", ""]
    # bad input: the message is in the options slot (the last three outputs: question,
    # options, model/documents), and the answer outputs are empty
    *outputs, errors = _split(client.predict("Only one?", "lonely", False, 3, api_name="/mcqa"))
    assert errors == ["", "✗ Give at least 2 options, one per line.", ""]
    assert "data-letter" not in outputs[0] and outputs[3] == ""


def _split(outputs):
    """/mcqa's outputs: the five answer outputs, the viewer's, then the three message slots."""
    return [*outputs[:-3], list(outputs[-3:])]


def test_chat_streams_token_by_token(demo_server) -> None:
    from gradio_client import Client

    client = Client(demo_server.url, verbose=False)
    # Gradio 6 message format: content is a list of typed parts
    question = "Explain entropy in one sentence."
    history = [{"role": "user", "content": [{"type": "text", "text": question}]}]
    job = client.submit(history, False, 3, 48, api_name="/chat")
    job.result(timeout=120)
    # outputs: (chat history, input box, message under it, *page viewer); history comes first,
    # and the last update only resets the viewer (the history is the last streamed one)
    streamed = [out[0] for out in job.outputs() if isinstance(out[0], list)]
    final = streamed[-1]
    texts = [
        "".join(part["text"] for part in out[-1]["content"])
        for out in streamed
        if out and out[-1]["role"] == "assistant"
    ]
    distinct = list(dict.fromkeys(texts))
    assert len(distinct) >= 3, f"expected a growing stream, got {len(distinct)} distinct states"
    assert all(distinct[i].startswith(distinct[i - 1]) for i in range(1, len(distinct) - 1))
    assert [m["role"] for m in final] == ["user", "assistant"]
    assert final[0]["content"][0]["text"] == question
