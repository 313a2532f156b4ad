"""`merge-datasets` as a user runs it: exit codes, saved DatasetDict, stats.json, printed table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import yaml

from stemqa.train.merge_cli import main

DATA = Path(__file__).parent / "data" / "merge"


def _recipe(tmp_path: Path, tiny_model_dir: Path, sources: list[dict], **extra) -> Path:
    recipe = {
        "seed": 3,
        "tokenizer": str(tiny_model_dir),
        "max_length": 256,
        "max_pairs_per_prompt": 6,
        "sources": sources,
        **extra,
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


SOURCES = [
    {"name": "m1", "path": str(DATA / "m1_preference_data.json")},
    {"name": "py", "path": str(DATA / "py_dpo.jsonl"), "rows": 3},
    {"name": "intel", "path": str(DATA / "intel_orca_dpo_pairs.jsonl")},
]


def test_cli_writes_dataset_stats_and_table(tmp_path, tiny_model_dir, capsys):
    recipe = _recipe(tmp_path, tiny_model_dir, SOURCES)
    out = tmp_path / "out"
    code = main(
        [
            "--config",
            str(recipe),
            "--output_dir",
            str(out),
            "--no-progress",
            "--cache-dir",
            str(tmp_path / "c"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "TOTAL" in printed and "Splits (no prompt appears in two splits)" in printed
    dd = datasets.load_from_disk(str(out))
    assert list(dd) == ["train", "eval", "test"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["totals"]["kept"] == 7 + 3 + 3 == sum(len(d) for d in dd.values())
    assert {s["name"]: s["kept"] for s in stats["sources"]} == {"m1": 7, "py": 3, "intel": 3}
    assert {n: s["rows"] for n, s in stats["splits"].items()} == {n: len(d) for n, d in dd.items()}
    assert yaml.safe_load((out / "merge_config.yaml").read_text())["seed"] == 3


def test_cli_refuses_a_non_empty_out_folder_without_overwrite(tmp_path, tiny_model_dir, capsys):
    recipe = _recipe(tmp_path, tiny_model_dir, SOURCES[1:2])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main(["--config", str(recipe), "--output_dir", str(out), "--no-progress"]) == 2
    assert "is not empty; pass --overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"
    assert (
        main(
            [
                "--config",
                str(recipe),
                "--output_dir",
                str(out),
                "--no-progress",
                "--overwrite",
                "--seed",
                "9",
            ]
        )
        == 0
    )
    assert not (out / "keep.txt").exists()
    assert json.loads((out / "stats.json").read_text())["seed"] == 9


def test_cli_reports_unknown_schema_and_bad_config_without_traceback(
    tmp_path, tiny_model_dir, capsys
):
    recipe = _recipe(
        tmp_path, tiny_model_dir, [{"name": "mystery", "path": str(DATA / "unknown_schema.jsonl")}]
    )
    assert (
        main(["--config", str(recipe), "--output_dir", str(tmp_path / "o"), "--no-progress"]) == 2
    )
    err = capsys.readouterr().err
    assert "merge-datasets: error: source 'mystery'" in err
    assert "bad, good, instruction_text" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: []\n")
    assert main(["--config", str(bad), "--output_dir", str(tmp_path / "o")]) == 2
    assert "'sources' must be a non-empty list" in capsys.readouterr().err


def test_cli_bad_tokenizer_names_the_key(tmp_path, tiny_model_dir, capsys):
    recipe = _recipe(tmp_path, tiny_model_dir, SOURCES[1:2])
    code = main(
        [
            "--config",
            str(recipe),
            "--output_dir",
            str(tmp_path / "o"),
            "--tokenizer",
            str(tmp_path / "none"),
        ]
    )
    assert code == 2
    assert "'tokenizer': cannot load" in capsys.readouterr().err


def test_console_script_runs_end_to_end(tmp_path, tiny_model_dir):
    script = shutil.which("merge-datasets", path=str(Path(sys.executable).parent))
    assert script, "the merge-datasets console script is not installed in this environment"
    recipe = _recipe(tmp_path, tiny_model_dir, SOURCES)
    out = tmp_path / "out"
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [script, "--config", str(recipe), "--output_dir", str(out)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Saved 13 rows" in proc.stdout
    assert "normalising m1" in proc.stderr  # tqdm progress bars go to stderr
    assert sum(len(d) for d in datasets.load_from_disk(str(out)).values()) == 13


@pytest.mark.parametrize("flag", ["--help"])
def test_help_lists_the_options(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([flag])
    assert exit_info.value.code == 0
    assert "--config" in capsys.readouterr().out
