"""Schema normalisers against fixtures that copy each real dataset's columns and types."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemqa.train.merge import SCHEMAS, SchemaError, SourceConfig, detect_schema, load_source
from stemqa.train.merge.records import Dropped, Pair, RowError
from stemqa.train.merge.text import clean_text, split_chatml

DATA = Path(__file__).parent / "data" / "merge"


def _load(tmp_path: Path, file: str, **kwargs):
    src = SourceConfig(name=file.split(".")[0], path=DATA / file, **kwargs)
    return load_source(src, cache_dir=str(tmp_path / "cache"))


def _convert(tmp_path: Path, file: str, **kwargs) -> tuple[list[Pair], list[Dropped], list[str]]:
    ls = _load(tmp_path, file, **kwargs)
    sample = {c: v[0] for c, v in ls.data.items()}
    schema = detect_schema(ls.columns, sample)
    pairs, drops, errors = [], [], []
    for i in range(ls.num_rows):
        row = {c: v[i] for c, v in ls.data.items()}
        try:
            for item in schema.convert(row, i):
                (pairs if isinstance(item, Pair) else drops).append(item)
        except RowError as exc:
            errors.append(f"row {i}: {exc}")
    return pairs, drops, errors


@pytest.mark.parametrize(
    ("file", "schema"),
    [
        ("m1_preference_data.json", "m1"),
        ("intel_orca_dpo_pairs.jsonl", "orca"),
        ("neural_dpo.jsonl", "orca"),
        ("orca_math_dpo.jsonl", "orca"),
        ("openhermes_dpo_alpha.jsonl", "openhermes"),
        ("distilabel_math_preference_dpo.jsonl", "distilabel"),
        ("distilabel_math_preference_dpo_int.csv", "distilabel"),
        ("py_dpo.jsonl", "prompt"),
        ("h4_orca_dpo_pairs.jsonl", "conversational"),
        ("hh_conversational.jsonl", "conversational"),
    ],
)
def test_each_fixture_is_detected_as_its_schema(tmp_path, file, schema):
    ls = _load(tmp_path, file)
    assert detect_schema(ls.columns, {c: v[0] for c, v in ls.data.items()}).name == schema


def test_distilabel_ratings_keep_their_real_types(tmp_path):
    # float64 in the current revision of argilla/distilabel-math-preference-dpo, int64 in the first
    floats = _load(tmp_path, "distilabel_math_preference_dpo.jsonl")
    ints = _load(tmp_path, "distilabel_math_preference_dpo_int.csv")
    assert isinstance(floats.data["chosen_rating"][0], float)
    assert isinstance(ints.data["chosen_rating"][0], int)


def test_m1_pairs_follow_overall_and_drop_ties(tmp_path):
    pairs, drops, errors = _convert(tmp_path, "m1_preference_data.json")
    assert errors == []
    assert len(pairs) == 8 + 3  # question 101: 8 A/B verdicts; question 102: 3 (one identical)
    first = pairs[0]
    assert first.prompt.strip() == "What is the derivative of f(x) = x^2 sin(x)?"
    assert first.chosen.startswith("By the product rule")  # overall "A"
    assert pairs[1].chosen.startswith("Apply (uv)'")  # overall "B" picks answer B
    assert pairs[1].rejected == "f'(x) = x^2 cos(x)."
    reasons = sorted((d.reason, d.row) for d in drops)
    # "Tie" on 102, [] on 103, a preference without "B" and an "AB" verdict on 104
    assert reasons == [("empty", 2), ("malformed", 3), ("tie", 1), ("tie", 3)]


def test_orca_family_keeps_the_system_prompt_and_allows_it_empty(tmp_path):
    pairs, _, errors = _convert(tmp_path, "intel_orca_dpo_pairs.jsonl")
    assert errors == []
    assert pairs[0].system.startswith("You are an AI assistant.")
    assert pairs[1].system == ""
    assert pairs[1].prompt == "Which is heavier, a kilogram of iron or a kilogram of feathers?"


def test_null_answer_is_a_malformed_row_with_its_index(tmp_path):
    pairs, _, errors = _convert(tmp_path, "orca_math_dpo.jsonl")
    assert len(pairs) == 5
    assert errors == ["row 2: column 'chosen' is missing or null"]


def test_openhermes_chatml_markers_are_stripped_and_delta_zero_is_a_tie(tmp_path):
    pairs, drops, _ = _convert(tmp_path, "openhermes_dpo_alpha.jsonl")
    assert [d.reason for d in drops] == ["tie"]
    assert pairs[0].prompt == "Summarise photosynthesis in one sentence."
    assert pairs[0].chosen.endswith("6 O2.")
    assert "<|im_end|>" not in pairs[0].rejected
    assert pairs[1].system == "You are a physics teacher."
    assert pairs[1].prompt == "Why were pendulums used in clocks?"
    for pair in pairs:
        for text in (pair.prompt, pair.chosen, pair.rejected, pair.system):
            assert "<|im_" not in text


def test_distilabel_equal_ratings_are_ties(tmp_path):
    pairs, drops, _ = _convert(tmp_path, "distilabel_math_preference_dpo.jsonl")
    assert len(pairs) == 4 and [d.row for d in drops] == [1]
    assert pairs[0].prompt == "How do I find the derivative of ln(x^2 + 1)?"
    assert pairs[0].chosen.endswith("2x / (x^2 + 1).")
    pairs, drops, _ = _convert(tmp_path, "distilabel_math_preference_dpo_int.csv")
    assert len(pairs) == 2 and [d.reason for d in drops] == ["tie"]


def test_conversational_prompts_come_from_the_shared_turns(tmp_path):
    pairs, _, errors = _convert(tmp_path, "h4_orca_dpo_pairs.jsonl")
    assert errors == []
    assert pairs[0].system == "You are a helpful physics tutor."
    assert pairs[0].prompt == "What is Ohm's law?"
    assert pairs[0].chosen.startswith("Ohm's law states")
    assert pairs[1].system == ""  # an empty system message is no system prompt
    pairs, _, errors = _convert(tmp_path, "hh_conversational.jsonl")
    assert pairs[0].history == (
        ("user", "What is entropy?"),
        ("assistant", "A measure of the number of microstates compatible with a macrostate."),
    )
    assert pairs[0].prompt == "And the second law?"
    assert errors == [
        "row 2: chosen and rejected do not share the same conversation before the answer"
    ]


def test_trl_style_prompt_messages_with_answer_only_completions():
    schema = SCHEMAS["conversational"]
    row = {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    }
    (pair,) = schema.convert(row, 0)
    assert (pair.system, pair.prompt, pair.chosen, pair.rejected) == ("Be brief.", "2+2?", "4", "5")


def test_unknown_schema_error_names_the_columns_and_the_mapping(tmp_path):
    ls = _load(tmp_path, "unknown_schema.jsonl")
    with pytest.raises(SchemaError) as err:
        detect_schema(ls.columns, None)
    message = str(err.value)
    assert "bad, good, instruction_text" in message
    assert "columns: {prompt:" in message
    mapped = _load(
        tmp_path,
        "unknown_schema.jsonl",
        columns={"prompt": "instruction_text", "chosen": "good", "rejected": "bad"},
    )
    assert detect_schema(mapped.columns, None).name == "prompt"


def test_requested_schema_with_missing_columns_says_what_to_map(tmp_path):
    ls = _load(tmp_path, "py_dpo.jsonl")
    with pytest.raises(SchemaError, match=r"schema 'orca' needs column\(s\) question"):
        detect_schema(ls.columns, None, requested="orca")
    with pytest.raises(SchemaError, match="unknown schema 'alpaca'"):
        detect_schema(ls.columns, None, requested="alpaca")


def test_clean_text_keeps_code_indentation():
    code = "def f(x):\r\n    if x:  \r\n        return 1\r\n\r\n\r\n\r\n    return 0  \n"
    assert clean_text(code) == "def f(x):\n    if x:\n        return 1\n\n    return 0"
    assert clean_text("\u00a0 a\u200bb \t") == "ab"


def test_split_chatml_moves_the_system_turn():
    text = "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
    assert split_chatml(text) == ("S", "Q")
    assert split_chatml("plain") == ("", "plain")
    assert split_chatml("answer<|im_end|>\n") == ("", "answer")
