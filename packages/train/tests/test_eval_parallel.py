"""Data-parallel eval-mcqa: the split/gather rules on plain lists, then 2 real CPU processes
(torchrun, gloo) on the tiny model giving exactly the single-process results."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stemqa.train.eval_parallel import batch_shard, length_order, reassemble, strided

ROOT = Path(__file__).resolve().parents[3]
MMLU = ROOT / "tests" / "data" / "mmlu" / "college_physics_test.csv"


@pytest.mark.parametrize(
    ("n", "batch_size", "world"), [(0, 4, 2), (1, 4, 2), (30, 4, 2), (31, 5, 3), (7, 16, 4)]
)
def test_batch_shards_cover_every_item_once_and_rebuild_the_global_batches(n, batch_size, world):
    rng = random.Random(n)
    lengths = [rng.randint(5, 40) for _ in range(n)]  # many ties: the stable order matters
    order = length_order(lengths)
    global_batches = [order[s : s + batch_size] for s in range(0, n, batch_size)]
    shards = [batch_shard(order, batch_size, r, world) for r in range(world)]
    assert sorted(i for shard in shards for i in shard) == list(range(n))
    for rank, shard in enumerate(shards):
        # what the scorer does on this rank: stable length sort, then batch_size chunks
        local = length_order([lengths[i] for i in shard])
        assert local == list(range(len(shard)))  # already in global order: the sort keeps it
        chunks = [shard[s : s + batch_size] for s in range(0, len(shard), batch_size)]
        assert chunks == global_batches[rank::world]


def test_length_order_is_longest_first_and_stable():
    assert length_order([3, 5, 3, 5, 1]) == [1, 3, 0, 2, 4]


def test_strided_and_reassemble_round_trip():
    items = [f"q{i}" for i in range(11)]
    parts = [(strided(11, r, 3), [items[i] for i in strided(11, r, 3)]) for r in range(3)]
    assert reassemble(parts, 11) == items
    with pytest.raises(ValueError, match="two ranks"):
        reassemble([*parts, ([0], ["again"])], 11)
    with pytest.raises(ValueError, match="no rank"):
        reassemble(parts[:2], 11)
    with pytest.raises(ValueError, match="not in a world"):
        strided(3, 2, 2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _eval(tiny: Path, out: Path, processes: int, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    args = ["--model_name_or_path", str(tiny), "--dataset_name", str(MMLU), "--limit", "30"]
    args += ["--batch_size", "4", "--device", "cpu", "--no_progress", "--output_path", str(out)]
    args += list(extra)
    if processes == 1:
        cmd = [sys.executable, "-m", "stemqa.train.eval_cli", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
        cmd += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
        cmd += ["-m", "stemqa.train.eval_cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400, cwd=ROOT)


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("extra", [(), ("--shots", "1")])
def test_two_cpu_processes_give_exactly_the_single_process_results(
    tiny_model_dir: Path, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    """30 questions in batches of 4 (8 batches, the last one short), 2 gloo processes: the
    same predictions and bit-identical probabilities; rank 0 alone writes the result."""
    one = _eval(tiny_model_dir, tmp_path / "one" / "results.json", 1, *extra)
    assert one.returncode == 0, one.stderr[-3000:]
    two = _eval(tiny_model_dir, tmp_path / "two" / "results.json", 2, *extra)
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-3000:]
    assert two.stdout.count("wrote ") == 1  # one result file, from rank 0
    a = json.loads((tmp_path / "one" / "results.json").read_text())["conditions"]["closed_book"]
    b = json.loads((tmp_path / "two" / "results.json").read_text())["conditions"]["closed_book"]
    assert len(b["predictions"]) == 30
    keys = ("index", "source", "answer", "predicted", "correct", "probs", "mass")
    for p, q in zip(a["predictions"], b["predictions"], strict=True):
        assert {k: p[k] for k in keys} == {k: q[k] for k in keys}  # exact, not approximate
    assert a["overall"] == b["overall"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )


def test_a_failed_rank_raises_its_error_instead_of_returning_a_partial_list():
    from stemqa.train.eval_parallel import all_gather_parts

    assert all_gather_parts([1, 0], ["b", "a"], 2) == ["a", "b"]
    with pytest.raises(ValueError, match="prompt too long"):
        all_gather_parts([0], ValueError("prompt too long"), 1)
