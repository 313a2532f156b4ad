"""Prompt layouts and window fitting: context gives way, the question never does."""

import pytest

from stemqa.core.loading import load_tokenizer
from stemqa.core.prompts import (
    RAG_TEMPLATE,
    PromptTooLongError,
    build_mcq_prompt,
    chat_prompt,
    format_question,
    mmlu_prompt,
    rag_prompt,
)
from stemqa.core.records import MCQ

MCQ1 = MCQ(
    "What is the unit of charge?",
    ("Coulomb", "Volt", "Ohm", "Tesla"),
    subject="high_school_physics",
)
SHOT = MCQ("What is 2 + 2?", ("3", "4"), answer=1)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def test_mmlu_layout_matches_lm_eval_harness():
    assert (
        format_question(MCQ1)
        == "What is the unit of charge?\nA. Coulomb\nB. Volt\nC. Ohm\nD. Tesla"
    )
    assert mmlu_prompt(MCQ1) == (
        "The following are multiple choice questions (with answers) about high school physics.\n\n"
        "What is the unit of charge?\nA. Coulomb\nB. Volt\nC. Ohm\nD. Tesla\nAnswer:"
    )
    assert mmlu_prompt(MCQ1, subject_header=False, shots=[SHOT]) == (
        "What is 2 + 2?\nA. 3\nB. 4\nAnswer: B\n\n"
        "What is the unit of charge?\nA. Coulomb\nB. Volt\nC. Ohm\nD. Tesla\nAnswer:"
    )
    with pytest.raises(ValueError, match="no answer"):
        mmlu_prompt(MCQ1, shots=[MCQ1])


def test_rag_template_from_the_report():
    assert RAG_TEMPLATE == (
        "Considering this context: {context} Answer the following question: {question} "
        "Output one letter only corresponding to the correct answer"
    )
    prompt = rag_prompt(MCQ1, "Charge is measured in coulombs.")
    assert prompt.startswith("Considering this context: Charge is measured in coulombs. Answer the")
    assert (
        "question: What is the unit of charge?\nA. Coulomb\nB. Volt\nC. Ohm\nD. Tesla Output one"
        in prompt
    )
    assert prompt.endswith("correct answer\nAnswer:")


def test_build_without_context_is_mmlu():
    assert build_mcq_prompt(MCQ1) == mmlu_prompt(MCQ1)
    assert build_mcq_prompt(MCQ1, context=["a passage"]) == rag_prompt(MCQ1, "a passage")


def test_context_is_trimmed_never_the_question(tokenizer):
    passages = [
        f"Passage {i}: the coulomb is the SI unit of electric charge. " * 20 for i in range(30)
    ]
    full = rag_prompt(MCQ1, "\n\n".join(passages))
    assert len(tokenizer(full)["input_ids"]) > 2048
    prompt = build_mcq_prompt(
        MCQ1, context=passages, tokenizer=tokenizer, max_tokens=2048, reserve_tokens=8
    )
    n = len(tokenizer(prompt)["input_ids"])
    assert 2040 - 60 < n <= 2040  # fills the window, stays under it
    assert format_question(MCQ1) in prompt and prompt.endswith("\nAnswer:")
    assert "Passage 0:" in prompt and "Passage 29:" not in prompt  # earliest (best) passages kept
    # the cut passage is a prefix of the original passage text
    context = prompt.split("Considering this context: ", 1)[1].split(
        " Answer the following question:"
    )[0]
    assert "\n\n".join(passages).startswith(context)


def test_single_string_context_is_cut_at_a_token_boundary(tokenizer):
    context = "entropy increases " * 2000
    prompt = build_mcq_prompt(
        MCQ1, context=context, tokenizer=tokenizer, max_tokens=300, reserve_tokens=8
    )
    assert len(tokenizer(prompt)["input_ids"]) <= 292
    assert "entropy increases" in prompt and format_question(MCQ1) in prompt


def test_question_too_long_raises(tokenizer):
    huge = MCQ("Why? " * 2000, ("a", "b"))
    with pytest.raises(PromptTooLongError, match="question and its options"):
        build_mcq_prompt(huge, context=["ctx"], tokenizer=tokenizer)
    with pytest.raises(PromptTooLongError):
        build_mcq_prompt(huge, tokenizer=tokenizer)


def test_shots_dropped_before_failing(tokenizer):
    shots = [SHOT] * 200
    prompt = build_mcq_prompt(MCQ1, shots=shots, tokenizer=tokenizer, max_tokens=200)
    assert len(tokenizer(prompt)["input_ids"]) <= 192
    assert prompt.endswith(format_question(MCQ1) + "\nAnswer:")
    assert "What is 2 + 2?" in prompt


def test_chat_prompt_plain_transcript_and_trimming(tokenizer):
    messages = [
        {"role": "system", "content": "You are a physics tutor."},
        {"role": "user", "content": "old question " * 100},
        {"role": "assistant", "content": "old answer " * 100},
        {"role": "user", "content": "What is entropy?"},
    ]
    short = chat_prompt(messages[-1:], context=["Entropy measures disorder."])
    assert short == (
        "Use the following context if it is relevant:\nEntropy measures disorder.\n"
        "User: What is entropy?\nAssistant:"
    )
    prompt = chat_prompt(
        messages, tokenizer=tokenizer, context=["ctx " * 500], max_tokens=400, reserve_tokens=50
    )
    assert len(tokenizer(prompt)["input_ids"]) <= 350
    assert prompt.startswith("You are a physics tutor.") and prompt.endswith(
        "User: What is entropy?\nAssistant:"
    )
    with pytest.raises(PromptTooLongError):
        chat_prompt(
            [{"role": "user", "content": "long " * 1000}], tokenizer=tokenizer, max_tokens=100
        )
