"""End-to-end merges on the schema fixtures, with exact counts for every drop reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import pytest
import yaml
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from stemqa.core.loading import load_tokenizer
from stemqa.train.merge import (
    ConfigError,
    SourceError,
    load_config,
    merge_preferences,
    parse_config,
)
from stemqa.train.merge.pipeline import assign_splits, split_targets

DATA = Path(__file__).parent / "data" / "merge"
REPO = Path(__file__).resolve().parents[3]

ALL_SOURCES = [
    {"name": "m1", "path": "m1_preference_data.json"},
    {"name": "intel", "path": "intel_orca_dpo_pairs.jsonl"},
    {"name": "neural", "path": "neural_dpo.jsonl", "fraction": 0.6},
    {"name": "orca_math", "path": "orca_math_dpo.jsonl", "rows": 5000},
    {"name": "openhermes", "path": "openhermes_dpo_alpha.jsonl"},
    {"name": "distilabel", "path": "distilabel_math_preference_dpo.jsonl"},
    {"name": "distilabel_int", "path": "distilabel_math_preference_dpo_int.csv"},
    {"name": "py", "path": "py_dpo.jsonl"},
    {"name": "h4", "path": "h4_orca_dpo_pairs.jsonl"},
    {"name": "hh", "path": "hh_conversational.jsonl"},
    {
        "name": "mapped",
        "path": "unknown_schema.jsonl",
        "columns": {"prompt": "instruction_text", "chosen": "good", "rejected": "bad"},
    },
]

# source: (rows read, candidate pairs, {non-zero drops}, kept)
EXPECTED = {
    "m1": (
        4,
        15,
        {"malformed": 1, "tie": 2, "empty": 1, "identical": 1, "duplicate": 1, "capped": 2},
        7,
    ),
    "intel": (5, 5, {"identical": 1, "duplicate": 1}, 3),
    "neural": (5, 5, {"sampled_out": 2}, 3),
    # row 3 repeats an Intel pair: orca_math_dpo was built from Intel/orca_dpo_pairs
    "orca_math": (6, 6, {"malformed": 1, "duplicate": 1}, 4),
    "openhermes": (5, 5, {"tie": 1}, 4),
    "distilabel": (5, 5, {"tie": 1}, 4),
    "distilabel_int": (3, 3, {"tie": 1}, 2),
    "py": (4, 4, {}, 4),
    "h4": (3, 3, {}, 3),
    "hh": (3, 3, {"malformed": 1}, 2),
    "mapped": (2, 2, {}, 2),
}


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="module")
def word_tokenizer():
    """One token per whitespace-separated word, so length expectations are exact."""
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "[EOS]": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="[EOS]")


def _config(sources, **overrides):
    data = {"tokenizer": "tiny", "max_length": 2048, "max_pairs_per_prompt": 6, "sources": sources}
    data.update(overrides)
    return parse_config(data, base_dir=DATA)


def _merge(tmp_path, config, tokenizer):
    return merge_preferences(config, tokenizer=tokenizer, cache_dir=str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def full_merge(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("full")
    return _merge(tmp, _config(ALL_SOURCES), load_tokenizer(tiny_model_dir))


def test_every_source_is_accounted_for_exactly(full_merge):
    by_name = {s["name"]: s for s in full_merge.stats["sources"]}
    assert list(by_name) == list(EXPECTED)
    for name, (read, candidates, drops, kept) in EXPECTED.items():
        s = by_name[name]
        assert (s["rows_read"], s["candidates"], s["kept"]) == (read, candidates, kept), name
        assert {r: n for r, n in s["dropped"].items() if n} == drops, name
        assert sum(s["splits"].values()) == kept, name
    totals = full_merge.stats["totals"]
    assert totals["kept"] == 38 == sum(len(d) for d in full_merge.dataset.values())
    assert totals["candidates"] == 56 and totals["rows_read"] == 45


def test_malformed_rows_are_listed_with_source_and_row(full_merge):
    by_name = {s["name"]: s for s in full_merge.stats["sources"]}
    assert by_name["orca_math"]["malformed_rows"] == [
        {"row": 2, "error": "column 'chosen' is missing or null"}
    ]
    assert [r["row"] for r in by_name["m1"]["malformed_rows"]] == [3]
    assert "preference[0]" in by_name["m1"]["malformed_rows"][0]["error"]


def test_output_columns_and_no_prompt_in_two_splits(full_merge):
    dd = full_merge.dataset
    assert list(dd) == ["train", "eval", "test"]
    for split in dd.values():
        assert split.column_names == ["prompt", "chosen", "rejected", "source", "system"]
    prompts = {name: set(zip(d["system"], d["prompt"], strict=True)) for name, d in dd.items()}
    assert not prompts["train"] & prompts["eval"]
    assert not prompts["train"] & prompts["test"]
    assert not prompts["eval"] & prompts["test"]
    # the 6 surviving pairs of M1 question 101 share one prompt, hence one split
    derivative = [
        name
        for name, d in dd.items()
        for p in d["prompt"]
        if p.startswith("What is the derivative")
    ]
    assert len(derivative) == 6 and len(set(derivative)) == 1
    # the table's split sizes are within one prompt group of the 0.75/0.125/0.125 targets
    targets = split_targets(38, {"train": 0.75, "eval": 0.125, "test": 0.125})
    for name, d in dd.items():
        assert abs(len(d) - targets[name]) <= 6


def test_text_is_normalised_in_the_output(full_merge):
    rows = [r for d in full_merge.dataset.values() for r in d]
    for r in rows:
        for key in ("prompt", "chosen", "rejected"):
            assert r[key] == r[key].strip() and r[key]
            assert "<|im_" not in r[key] and "\r" not in r[key]
        assert r["chosen"] != r["rejected"]
        assert not r["prompt"].startswith("Question:")
    py = [r for r in rows if r["source"] == "py"]
    assert any("\n    for k in range(2, n + 1):\n        result *= k" in r["chosen"] for r in py)


def test_same_seed_same_output_other_seed_other_choices(tmp_path, full_merge, tiny_tokenizer):
    again = _merge(tmp_path, _config(ALL_SOURCES), tiny_tokenizer)
    for name in full_merge.dataset:
        assert again.dataset[name].to_dict() == full_merge.dataset[name].to_dict()
    m1_only = [{"name": "m1", "path": "m1_preference_data.json"}]
    kept_sets = set()
    for seed in range(5):
        result = _merge(tmp_path, _config(m1_only, seed=seed), tiny_tokenizer)
        rows = [r for d in result.dataset.values() for r in d]
        derivative = [r["chosen"] for r in rows if r["prompt"].startswith("What is the derivative")]
        assert len(derivative) == 6  # the per-prompt cap
        kept_sets.add(frozenset(derivative))
    assert len(kept_sets) > 1  # which 6 of the 8 stay is a seeded choice


def test_fraction_and_rows_sample_exactly(tmp_path, tiny_tokenizer):
    sources = [
        {"name": "neural", "path": "neural_dpo.jsonl", "fraction": 0.6},
        {"name": "py", "path": "py_dpo.jsonl", "rows": 2},
    ]
    result = _merge(tmp_path, _config(sources), tiny_tokenizer)
    by_name = {s["name"]: s for s in result.stats["sources"]}
    assert by_name["neural"]["kept"] == 3 and by_name["neural"]["dropped"]["sampled_out"] == 2
    assert by_name["py"]["kept"] == 2 and by_name["py"]["dropped"]["sampled_out"] == 2
    assert by_name["py"]["warnings"] == []
    assert "system" in result.dataset["train"].column_names  # neural has system prompts


def test_rows_beyond_the_source_warn_instead_of_oversampling(tmp_path, tiny_tokenizer):
    sources = [{"name": "py", "path": "py_dpo.jsonl", "rows": 10}]
    result = _merge(tmp_path, _config(sources), tiny_tokenizer)
    (stats,) = result.stats["sources"]
    assert stats["kept"] == 4
    assert stats["warnings"] == [
        "asked for rows: 10 but only 4 pairs remain after clean-up; keeping all 4 (no oversampling)"
    ]
    assert "no oversampling" in result.table()
    assert "system" not in result.dataset["train"].column_names


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


@pytest.fixture
def long_rows(tmp_path):
    return _write_jsonl(
        tmp_path / "long.jsonl",
        [
            {"system": "", "question": _words("a", 10), "chosen": _words("c", 5), "rejected": _words("r", 5)},
            {"system": "", "question": _words("b", 40), "chosen": _words("c", 5), "rejected": _words("r", 8)},
            {"system": "", "question": _words("d", 12), "chosen": _words("c", 40), "rejected": _words("r", 3)},
            {"system": _words("s", 10), "question": _words("e", 15), "chosen": _words("c", 10), "rejected": _words("r", 2)},
        ],
    )  # fmt: skip


def test_truncate_keeps_responses_and_cuts_prompts_from_the_left(
    tmp_path, long_rows, word_tokenizer
):
    config = _config(
        [{"name": "long", "path": str(long_rows)}], max_length=31, splits={"train": 1.0}
    )
    result = _merge(tmp_path, config, word_tokenizer)  # budget: 31 - 1 reserved for EOS = 30
    (stats,) = result.stats["sources"]
    assert stats["truncated"] == 3 and stats["kept"] == 4 and stats["dropped"]["too_long"] == 0
    rows = {r["prompt"].split()[0][0]: r for r in result.dataset["train"]}
    assert rows["a"]["prompt"] == _words("a", 10)  # fits: untouched
    assert rows["b"]["prompt"] == " ".join(f"b{i}" for i in range(18, 40))  # last 30 - 8 words
    assert rows["b"]["rejected"] == _words("r", 8)
    # a 40-word answer cannot stay whole: the prompt keeps a quarter of the window (7 words)
    assert rows["d"]["prompt"] == " ".join(f"d{i}" for i in range(5, 12))
    assert rows["d"]["chosen"] == _words("c", 23) and rows["d"]["rejected"] == _words("r", 3)
    # the system prompt counts against the window in plain mode: 30 - 10 - 10 = 10 prompt words
    assert rows["e"]["prompt"] == " ".join(f"e{i}" for i in range(5, 15))
    for r in result.dataset["train"]:
        longest = max(len(r["chosen"].split()), len(r["rejected"].split()))
        assert len(r["system"].split()) + len(r["prompt"].split()) + longest <= 30


def test_drop_policy_counts_too_long_pairs(tmp_path, long_rows, word_tokenizer):
    config = _config(
        [{"name": "long", "path": str(long_rows)}],
        max_length=31,
        length_policy="drop",
        splits={"train": 1.0},
    )
    result = _merge(tmp_path, config, word_tokenizer)
    (stats,) = result.stats["sources"]
    assert stats["dropped"]["too_long"] == 3 and stats["kept"] == 1 and stats["truncated"] == 0
    assert result.dataset["train"]["prompt"] == [_words("a", 10)]


def test_real_tokenizer_truncation_fits_the_window(tmp_path, tiny_tokenizer):
    config = _config(ALL_SOURCES[:2], max_length=40)
    result = _merge(tmp_path, config, tiny_tokenizer)
    assert result.stats["totals"]["truncated"] > 0 and result.stats["totals"]["kept"] > 0
    for d in result.dataset.values():
        for r in d:
            n = lambda t: len(tiny_tokenizer(t, add_special_tokens=False)["input_ids"])  # noqa: E731
            assert (
                n(r.get("system", "")) + n(r["prompt"]) + max(n(r["chosen"]), n(r["rejected"]))
                <= 39
            )


def test_split_sizes_are_exact_when_prompts_are_unique(tmp_path, tiny_tokenizer):
    rows = [
        {"prompt": f"Question number {i}?", "chosen": f"Answer {i}.", "rejected": "No idea."}
        for i in range(40)
    ]
    path = _write_jsonl(tmp_path / "unique.jsonl", rows)
    result = _merge(tmp_path, _config([{"name": "u", "path": str(path)}]), tiny_tokenizer)
    assert {k: len(v) for k, v in result.dataset.items()} == {"train": 30, "eval": 5, "test": 5}
    assert split_targets(38, {"train": 0.75, "eval": 0.125, "test": 0.125}) == {
        "train": 28,
        "eval": 5,
        "test": 5,
    }


def test_assign_splits_never_splits_a_prompt():
    import random

    keys = [("", (), f"p{i % 7}") for i in range(50)]
    assignment = assign_splits(keys, {"train": 0.6, "test": 0.4}, random.Random(0))
    for key in set(keys):
        assert len({a for k, a in zip(keys, assignment, strict=True) if k == key}) == 1
    assert set(assignment) == {"train", "test"}


def test_chatml_format_folds_system_and_history_into_the_prompt(tmp_path, tiny_tokenizer):
    sources = [
        {"name": "h4", "path": "h4_orca_dpo_pairs.jsonl"},
        {"name": "hh", "path": "hh_conversational.jsonl"},
    ]
    result = _merge(
        tmp_path, _config(sources, chat_format="chatml", splits={"all": 1.0}), tiny_tokenizer
    )
    prompts = result.dataset["all"]["prompt"]
    assert result.dataset["all"].column_names == ["prompt", "chosen", "rejected", "source"]
    assert (
        "<|im_start|>system\nYou are a helpful physics tutor.<|im_end|>\n"
        "<|im_start|>user\nWhat is Ohm's law?<|im_end|>\n<|im_start|>assistant\n"
    ) in prompts
    assert any(p.count("<|im_start|>user") == 2 for p in prompts)  # multi-turn history kept


def test_tokenizer_chat_format_needs_a_template(tmp_path, tiny_tokenizer):
    config = _config(ALL_SOURCES[:1], chat_format="tokenizer")
    with pytest.raises(ConfigError, match="has no chat template"):
        _merge(tmp_path, config, tiny_tokenizer)


def _hub_layout(root: Path) -> dict[str, Path]:
    """Folders laid out like the Hub repositories of the recipe's datasets, from the fixtures."""

    def parquet(jsonl: str, folder: Path, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        ds = datasets.load_dataset("json", data_files=str(DATA / jsonl), split="train")
        ds.to_parquet(str(folder / name))
        return folder.parent if folder.name == "data" else folder

    neural = root / "NeuralNovel__Neural-DPO"
    neural.mkdir(parents=True)
    shutil.copy(DATA / "neural_dpo.jsonl", neural / "Neural-DPO.jsonl")
    return {
        "mlabonne/chatml-OpenHermes2.5-dpo-binarized-alpha": parquet(
            "openhermes_dpo_alpha.jsonl",
            root / "openhermes" / "data",
            "train-00000-of-00001.parquet",
        ),
        "NeuralNovel/Neural-DPO": neural,
        "kyujinpy/orca_math_dpo": parquet(
            "orca_math_dpo.jsonl",
            root / "orca_math" / "data",
            "train-00000-of-00001-84e7d771ad0e860b.parquet",
        ),
        "jondurbin/py-dpo-v0.1": parquet("py_dpo.jsonl", root / "py-dpo", "py-dpo.parquet"),
    }


def test_the_recipe_runs_with_hub_ids_pointed_at_local_folders(tmp_path, tiny_tokenizer):
    recipe = yaml.safe_load((REPO / "configs" / "dpo_mix.yaml").read_text())
    layout = _hub_layout(tmp_path / "hub")
    for block in recipe["sources"]:
        if "hub" in block:  # same load_dataset(path, name, split, revision) call as a Hub id
            block["hub"] = str(layout[block["hub"]])
        else:
            block["path"] = str(DATA / "m1_preference_data.json")
    config = parse_config(recipe, base_dir=tmp_path)
    result = _merge(tmp_path, config, tiny_tokenizer)
    by_name = {s["name"]: s for s in result.stats["sources"]}
    assert {n: s["schema"] for n, s in by_name.items()} == {
        "m1": "m1",
        "openhermes": "openhermes",
        "neural-dpo": "orca",
        "orca-math": "orca",
        "py-dpo": "prompt",
    }
    assert {n: s["kept"] for n, s in by_name.items()} == {
        "m1": 7,
        "openhermes": round(0.6 * 4),
        "neural-dpo": 3,
        "orca-math": 5,  # rows: 5000 of 5 valid rows: all of them, with a warning
        "py-dpo": 4,
    }
    assert by_name["orca-math"]["warnings"]
    assert sum(len(d) for d in result.dataset.values()) == 7 + 2 + 3 + 5 + 4


def test_dpo_mix_recipe_encodes_the_report(tmp_path):
    config = load_config(REPO / "configs" / "dpo_mix.yaml")
    assert (config.tokenizer, config.max_length, config.length_policy) == (
        "microsoft/phi-2",
        2048,
        "truncate",
    )
    assert config.max_pairs_per_prompt == 6 and config.chat_format == "none"
    assert config.splits == {"train": 0.75, "eval": 0.125, "test": 0.125}
    take = {s.name: (s.hub, s.fraction, s.rows) for s in config.sources}
    assert take == {
        "m1": (None, None, None),
        "openhermes": ("mlabonne/chatml-OpenHermes2.5-dpo-binarized-alpha", 0.6, None),
        "neural-dpo": ("NeuralNovel/Neural-DPO", 0.6, None),
        "orca-math": ("kyujinpy/orca_math_dpo", None, 5000),
        "py-dpo": ("jondurbin/py-dpo-v0.1", None, None),
    }
    assert config.sources[0].path == (REPO / "data" / "M1_preference_data_15052024.json")


def test_unreadable_sources_are_all_named(tmp_path, tiny_tokenizer):
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    sources = [
        {"name": "ok", "path": "py_dpo.jsonl"},
        {"name": "broken", "path": str(corrupt)},
        {"name": "missing", "path": str(tmp_path / "nope.jsonl")},
        {"name": "weird", "path": str(_write_jsonl(tmp_path / "x.txt", []))},
    ]
    with pytest.raises(SourceError) as err:
        _merge(tmp_path, _config(sources), tiny_tokenizer)
    lines = str(err.value).splitlines()
    assert len(lines) == 3  # one line per unreadable source, all of them; 'ok' is not one
    assert lines[0].startswith(f"source 'broken': {corrupt}: not a readable parquet file (")
    assert lines[0].endswith(
        "); re-export it, e.g. with Dataset.to_parquet or pandas.DataFrame.to_parquet"
    )
    assert (
        lines[1]
        == f"source 'missing': {tmp_path / 'nope.jsonl'}: no such file or folder; check the path"
    )
    assert lines[2] == (
        f"source 'weird': {tmp_path / 'x.txt'}: cannot tell the format of 'x.txt' from its "
        "extension; set format: json, jsonl, parquet or csv in the source block"
    )


def test_offline_hub_id_error_names_the_source(tmp_path, tiny_tokenizer):
    sources = [{"name": "orca", "hub": "Intel/orca_dpo_pairs", "split": "train"}]
    with pytest.raises(
        SourceError,
        match=r"^source 'orca': Intel/orca_dpo_pairs: cannot load it from the Hugging Face Hub "
        r"\(split='train'\): .*download the dataset and pass its local path$",
    ):
        _merge(tmp_path, _config(sources), tiny_tokenizer)


def test_unknown_columns_stop_the_merge_naming_the_source(tmp_path, tiny_tokenizer):
    from stemqa.train.merge import SchemaError

    sources = [{"name": "mystery", "path": "unknown_schema.jsonl"}]
    with pytest.raises(
        SchemaError,
        match=r"source 'mystery' \(.*unknown_schema.jsonl\): its columns \(bad, good, instruction_text\)",
    ):
        _merge(tmp_path, _config(sources), tiny_tokenizer)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"fractoin": 0.5},
            "unknown key 'fractoin' in sources\\[0\\] \\('py'\\); did you mean 'fraction'",
        ),
        ({"fraction": 1.5}, "'sources\\[0\\] \\('py'\\).fraction' must be a number in \\(0, 1\\]"),
        ({"fraction": 0.5, "rows": 3}, "give 'fraction' or 'rows', not both"),
        ({"hub": "a/b"}, "give exactly one of 'hub'"),
        ({"max_pairs_per_prompt": 0}, "max_pairs_per_prompt' must be an integer >= 1"),
    ],
)
def test_bad_source_values_name_their_key(change, message):
    block = {"name": "py", "path": "py_dpo.jsonl", **change}
    with pytest.raises(ConfigError, match=message):
        _config([block])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"splits": {"train": 0.8, "test": 0.1}}, "'splits' ratios must sum to 1"),
        ({"length_policy": "cut"}, "'length_policy' must be one of truncate, drop"),
        ({"chat_format": "alpaca"}, "'chat_format' must be one of"),
        ({"max_lenght": 10}, "did you mean 'max_length'"),
        ({"tokenizer": None}, "'tokenizer' is required when 'max_length' is set"),
    ],
)
def test_bad_top_level_values_name_their_key(change, message):
    with pytest.raises(ConfigError, match=message):
        _config([{"name": "py", "path": "py_dpo.jsonl"}], **change)


def test_long_texts_are_cut_from_a_window_not_tokenised_whole(tmp_path, word_tokenizer):
    path = _write_jsonl(
        tmp_path / "very_long.jsonl",
        [
            {"prompt": _words("w", 3000), "chosen": _words("c", 10), "rejected": _words("r", 5)},
            {"prompt": _words("q", 50), "chosen": _words("x", 3000), "rejected": _words("y", 5)},
        ],
    )
    config = _config([{"name": "v", "path": str(path)}], max_length=101, splits={"train": 1.0})
    result = _merge(tmp_path, config, word_tokenizer)
    rows = {r["prompt"][0]: r for r in result.dataset["train"]}
    assert rows["w"]["prompt"] == " ".join(f"w{i}" for i in range(2910, 3000))
    assert rows["q"]["prompt"] == " ".join(f"q{i}" for i in range(25, 50))  # a quarter of 100
    assert rows["q"]["chosen"] == _words("x", 75)
    assert result.stats["totals"]["truncated"] == 2


def test_counting_caps_long_texts_and_ignores_leftover_padding(word_tokenizer):
    from stemqa.train.merge.lengths import TokenCounter, count_tokens

    word_tokenizer.backend_tokenizer.enable_padding(length=512)  # left on by an earlier caller
    try:
        counter = TokenCounter(word_tokenizer)
        long_text = _words("w", 10_000)  # far over the cap: only its head is tokenised
        wide_words = " ".join(f"{'x' * 30}{i}" for i in range(50))  # long in characters only
        counts = count_tokens(counter, [long_text, wide_words, "a b c"], cap=100)
    finally:
        word_tokenizer.backend_tokenizer.no_padding()
    assert 100 < counts[long_text] < 10_000
    assert counts[wide_words] == 50 and counts["a b c"] == 3


def test_tokenizer_chat_format_uses_its_template(tmp_path, tiny_model_dir):
    tokenizer = load_tokenizer(tiny_model_dir)  # a private copy: the template is set on it only
    tokenizer.chat_template = (
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    sources = [{"name": "h4", "path": "h4_orca_dpo_pairs.jsonl"}]
    config = _config(sources, chat_format="tokenizer", splits={"all": 1.0})
    prompts = _merge(tmp_path, config, tokenizer).dataset["all"]["prompt"]
    assert (
        "[system] You are a helpful physics tutor.\n[user] What is Ohm's law?\n[assistant]"
        in prompts
    )
    assert "[user] Define kinetic energy.\n[assistant]" in prompts  # empty system: no system turn
