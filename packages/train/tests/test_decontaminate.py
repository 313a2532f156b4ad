"""`decontaminate: [eval sets]` drops exactly the planted training rows (merge-datasets)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import yaml

from stemqa.train.contamination import question_text
from stemqa.train.mcqa_data import load_mcqs
from stemqa.train.merge import ConfigError, merge_preferences, parse_config
from stemqa.train.merge_cli import main as merge_main

REPO = Path(__file__).resolve().parents[3]
MMLU = REPO / "tests" / "data" / "mmlu" / "machine_learning_test.csv"


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    """20 clean rows; rows 3, 8 and 15 carry an eval question in prompt / chosen / rejected."""
    mcqs = load_mcqs(MMLU)
    folder = tmp_path_factory.mktemp("mix")
    rows = [
        {
            "prompt": f"Explain topic number {i} in two sentences.",
            "chosen": f"Topic {i} is explained here carefully and well.",
            "rejected": f"I do not know topic {i}.",
        }
        for i in range(20)
    ]
    rows[2]["prompt"] += " " + mcqs[3].question
    rows[7]["chosen"] += " " + question_text(mcqs[10])
    rows[14]["rejected"] = "Similar to: " + mcqs[20].question + " " + " ".join(mcqs[20].choices)
    path = folder / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    planted = {rows[i]["prompt"] for i in (2, 7, 14)}
    return path, planted


def _recipe(path: Path, **extra) -> dict:
    return {
        "max_length": None,
        "splits": {"train": 0.8, "test": 0.2},
        "sources": [{"name": "pairs", "path": str(path)}],
        **extra,
    }


def test_merge_drops_exactly_the_planted_rows(tmp_path, mix) -> None:
    path, planted = mix
    config = parse_config(_recipe(path, decontaminate=[str(MMLU)]), base_dir=tmp_path)
    result = merge_preferences(config, cache_dir=str(tmp_path / "cache"))
    (source,) = result.stats["sources"]
    assert source["dropped"]["contaminated"] == 3
    assert source["kept"] == 17
    assert result.stats["decontaminate"] == {"eval_sets": [str(MMLU)], "n": 13}
    prompts = {p for split in result.dataset.values() for p in split["prompt"]}
    assert len(prompts) == 17 and not (prompts & planted)
    assert "contaminated" in result.table()
    # without the key nothing is dropped
    clean = merge_preferences(parse_config(_recipe(path), base_dir=tmp_path))
    assert clean.stats["sources"][0]["dropped"]["contaminated"] == 0
    assert clean.stats["totals"]["kept"] == 20


def test_merge_cli_flag_and_bad_eval_set(tmp_path, mix, capsys) -> None:
    path, planted = mix
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_recipe(path)))
    out = tmp_path / "out"
    code = merge_main(
        [
            "--config",
            str(recipe),
            "--output_dir",
            str(out),
            "--no-progress",
            "--decontaminate",
            str(MMLU),
        ]
    )
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["totals"]["dropped"]["contaminated"] == 3
    saved = datasets.load_from_disk(str(out))
    assert not {p for s in saved.values() for p in s["prompt"]} & planted
    code = merge_main(
        [
            "--config",
            str(recipe),
            "--output_dir",
            str(tmp_path / "o2"),
            "--no-progress",
            "--decontaminate",
            "nope.csv",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'decontaminate'" in err[0] and "nope.csv" in err[0]


def test_bad_decontaminate_value(tmp_path, mix) -> None:
    path, _ = mix
    with pytest.raises(ConfigError, match="'decontaminate' must be a list"):
        parse_config(_recipe(path, decontaminate=[3]), base_dir=tmp_path)


def test_train_mcqa_decontaminate_drops_exactly_the_planted_questions(tmp_path, capsys) -> None:
    from stemqa.train.mcqa import MCQAScriptArguments, load_splits

    mcqs = load_mcqs(MMLU)
    rows = [
        {"question": f"Which option is number {i}?\nA. one\nB. two\nC. three", "answer": "A"}
        for i in range(10)
    ]
    for i, q in ((2, mcqs[5]), (6, mcqs[30])):  # two MMLU test questions in the training set
        options = "\n".join(f"{'ABCD'[j]}. {c}" for j, c in enumerate(q.choices))
        rows[i] = {"question": f"{q.question}\n{options}", "answer": q.answer_letter}
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = MCQAScriptArguments(dataset_name=str(data), eval_fraction=0.0, decontaminate=[str(MMLU)])
    splits = load_splits(args, seed=0)
    kept = {m.question for m in splits["train"]}
    assert len(kept) == 8
    assert mcqs[5].question not in kept and mcqs[30].question not in kept
    assert "dropped 2 training question(s)" in capsys.readouterr().out
    args.decontaminate = [str(tmp_path / "missing.csv")]
    with pytest.raises(SystemExit, match=r"decontaminate: .*missing\.csv"):
        load_splits(args, seed=0)
