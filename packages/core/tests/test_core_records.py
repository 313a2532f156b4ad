"""MCQ parsing of the layouts found in datasets and user input."""

import csv
from pathlib import Path

import pytest

from stemqa.core.records import MCQ

MMLU = Path(__file__).resolve().parents[3] / "tests" / "data" / "mmlu"


@pytest.mark.parametrize(
    "text",
    [
        "What is the unit of charge?\nA. Coulomb\nB. Volt\nC. Ohm\nD. Tesla",
        "What is the unit of charge?\nA) Coulomb\nB) Volt\nC) Ohm\nD) Tesla",
        "What is the unit of charge?\n(A) Coulomb\n(B) Volt\n(C) Ohm\n(D) Tesla",
        "What is the unit of charge?\nOptions:\nA. Coulomb\nB. Volt\nC. Ohm\nD. Tesla",
        "What is the unit of charge?\nChoices:\n- A) Coulomb\n- B) Volt\n- C) Ohm\n- D) Tesla",
        "What is the unit of charge? A) Coulomb B) Volt C) Ohm D) Tesla",
        "What is the unit of charge? (A) Coulomb (B) Volt (C) Ohm (D) Tesla",
        "What is the unit of charge? Options: A. Coulomb B. Volt C. Ohm D. Tesla",
        "  What is the unit of charge?\r\n\r\nA. Coulomb\r\nB. Volt\r\nC. Ohm\r\nD. Tesla\r\n",
    ],
)
def test_from_text_layouts(text):
    mcq = MCQ.from_text(text)
    assert mcq.question == "What is the unit of charge?"
    assert mcq.choices == ("Coulomb", "Volt", "Ohm", "Tesla")
    assert mcq.letters == "ABCD"
    assert mcq.answer is None


def test_stem_mentioning_a_letter_does_not_derail_the_parse():
    text = "Which vitamin is made in the skin: vitamin A. or D.?\nA. Vitamin D\nB. Vitamin A\nC. Vitamin C"
    mcq = MCQ.from_text(text, answer="a")
    assert mcq.question == "Which vitamin is made in the skin: vitamin A. or D.?"
    assert mcq.choices == ("Vitamin D", "Vitamin A", "Vitamin C")
    assert mcq.answer == 0 and mcq.answer_letter == "A"


def test_multiline_option_and_trailing_answer_line():
    text = "Solve:\n$$x^2 = 4$$\nA. x = 2\n   or x = -2\nB. x = 4\nAnswer: A"
    mcq = MCQ.from_text(text)
    assert mcq.question == "Solve:\n$$x^2 = 4$$"
    assert mcq.choices == ("x = 2 or x = -2", "x = 4")
    assert mcq.answer_letter == "A"


def test_ten_options():
    options = "\n".join(f"{letter}. option {letter}" for letter in "ABCDEFGHIJ")
    mcq = MCQ.from_text(f"Pick one.\n{options}", answer=9)
    assert len(mcq.choices) == 10 and mcq.answer_letter == "J"


def test_no_options_is_a_clear_error():
    with pytest.raises(ValueError, match=r"found no options.*'A\. …'"):
        MCQ.from_text("What is the unit of charge?", source="quiz.txt")
    with pytest.raises(ValueError, match=r"quiz\.txt"):
        MCQ.from_text("What is it? A. only one", source="quiz.txt")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"choices": ("only",)}, "2 to 10 choices"),
        ({"choices": tuple("abcdefghijk")}, "got 11"),
        ({"choices": ("a", "b"), "answer": 2}, "out of range"),
        ({"choices": ("a", "b"), "answer": "C"}, "not one of the letters AB"),
        ({"choices": "ab"}, "not one string"),
        ({"choices": ("a", "b"), "question": "  "}, "empty"),
    ],
)
def test_invalid_records(kwargs, message):
    args = {"question": "Q?", **kwargs}
    with pytest.raises(ValueError, match=message):
        MCQ(**args)


def test_dict_round_trip_and_letter_answers():
    mcq = MCQ("Q?", ("x", "y", "z"), answer="c", subject="college_physics", source="set.csv")
    assert mcq.answer == 2
    again = MCQ.from_dict(mcq.to_dict())
    assert again == mcq
    assert MCQ.from_dict({"question": "Q?", "choices": ["x", "y"], "answer": "B"}).answer == 1
    with pytest.raises(ValueError, match="missing choices"):
        MCQ.from_dict({"question": "Q?"})


def test_all_real_mmlu_rows_build():
    count = 0
    for path in sorted(MMLU.glob("*.csv")):
        with path.open(newline="") as f:
            for row_number, (question, *choices, answer) in enumerate(csv.reader(f), 1):
                mcq = MCQ(
                    question, tuple(choices), answer=answer, source=f"{path.name}:{row_number}"
                )
                assert mcq.answer_letter == answer
                count += 1
    assert count == 800
