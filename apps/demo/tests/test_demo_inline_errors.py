"""The MCQA and chat inputs' problems, in the UI's words and in the right slot (no server)."""

from __future__ import annotations

import pytest

from stemqa.demo.tabs.chat import add_user_turn
from stemqa.demo.tabs.common import OPTIONS, QUESTION, InlineError, slots
from stemqa.demo.tabs.mcqa import SLOTS, parse_mcq

ELEVEN = "Pick one\n" + "\n".join(f"{chr(65 + i)}. option {i}" for i in range(11))


@pytest.mark.parametrize(
    ("question", "options", "field", "message"),
    [
        ("", "", QUESTION, "Type a question first."),
        ("  ", "a\nb", QUESTION, "Type a question first."),
        (
            "What is it?",
            "",
            QUESTION,
            "No options found: write them as 'A. …' lines under the question, or one per line "
            "in the Options box.",
        ),
        (ELEVEN, "", QUESTION, "11 options (A to K): at most 10 (A to J) can be answered."),
        (
            "Pick",
            "\n".join(f"o{i}" for i in range(11)),
            OPTIONS,
            "11 options (A to K): at most 10 (A to J) can be answered.",
        ),
        ("Pick", "only one", OPTIONS, "Give at least 2 options, one per line."),
        (
            "Which?\nA. x\nB. y",
            "x\ny",
            OPTIONS,
            "The options are both in the question and in this box: keep one of them (empty "
            "this box, or remove the 'A. …' lines from the question).",
        ),
    ],
)
def test_bad_mcqa_input_names_its_box(question, options, field, message) -> None:
    with pytest.raises(InlineError) as err:
        parse_mcq(question, options)
    assert err.value.field == field and str(err.value) == message
    for cli_wording in ("--", "pass the choices as a list", "max_tokens"):
        assert cli_wording not in str(err.value)


def test_lowercase_and_marked_options_are_accepted() -> None:
    mcq = parse_mcq("Which is a vector?\na) mass\nb) velocity\nc) energy", "")
    assert mcq.choices == ("mass", "velocity", "energy")
    mcq = parse_mcq("Which is a vector?", "A. mass\nB. velocity")
    assert mcq.choices == ("mass", "velocity")
    # ten options are fine: A to J
    ten = "Pick\n" + "\n".join(f"{chr(97 + i)}) option {i}" for i in range(10))
    assert len(parse_mcq(ten, "").choices) == 10


def test_error_goes_to_its_slot_and_clears_the_others() -> None:
    error = InlineError(OPTIONS, "Give at least 2 options, one per line.")
    assert slots(SLOTS, error) == ["", "✗ Give at least 2 options, one per line.", ""]
    assert slots(SLOTS, None) == ["", "", ""]


def test_empty_send_says_so_and_skips_the_reply() -> None:
    assert add_user_turn("   ", []) == ("", [], "✗ Type a message first.", True)
    _text, history, message, skip = add_user_turn("hi", [])
    assert history == [{"role": "user", "content": "hi"}] and message == "" and not skip
