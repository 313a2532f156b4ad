"""eval-mcqa with 1 process vs N data-parallel processes (torchrun), same questions, same model.

    uv run python benchmarks/eval_parallel.py [--model DIR] [--limit 800] [--processes 2]
        [--repeats 3] [--threads 1] [--batch-size 16]

Each configuration runs the real CLI (`python -m stemqa.train.eval_cli`, under
`torch.distributed.run` for N > 1) and is timed end to end (start-up and model loading
included: what a user waits for) and by the evaluation itself (`seconds` in results.json,
rank 0's scoring + gathering). Runs alternate 1, N, 1, N … so that load changes on a shared
machine hit both alike; medians and min-max are printed, and the N-process predictions are
checked equal to the 1-process ones. Every process gets ``--threads`` intra-op threads, so N
processes use N x threads cores: on a machine with fewer free cores the ratio shows contention,
not the method.

Default model: the tiny random phi model (`make-tiny-model`), built in a temp folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MMLU = ROOT / "tests" / "data" / "mmlu"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(model: str, out: Path, processes: int, args: argparse.Namespace) -> tuple[float, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
    cli = ["-m", "stemqa.train.eval_cli", "--model_name_or_path", model]
    cli += ["--dataset_name", str(MMLU), "--limit", str(args.limit), "--device", "cpu"]
    cli += ["--batch_size", str(args.batch_size), "--no_progress", "--output_path", str(out)]
    if processes == 1:
        cmd = [sys.executable, *cli]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
        cmd += ["--master_addr", "127.0.0.1", "--master_port", str(free_port()), *cli]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return wall, float(json.loads(out.read_text())["seconds"])


def predictions(path: Path) -> list:
    data = json.loads(path.read_text())["conditions"]["closed_book"]["predictions"]
    return [(p["predicted"], p["probs"]) for p in data]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: tiny model)")
    parser.add_argument("--limit", type=int, default=800, help="first N questions (800: all)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model = args.model
        if model is None:
            from stemqa.core.tiny_model import make_tiny_model

            model = str(make_tiny_model(tmp_path / "tiny"))
        times: dict[int, list[tuple[float, float]]] = {1: [], args.processes: []}
        for repeat in range(args.repeats):
            for n in (1, args.processes):
                out = tmp_path / f"n{n}-r{repeat}" / "results.json"
                times[n].append(run(model, out, n, args))
                print(f"repeat {repeat + 1}, {n} process(es): wall {times[n][-1][0]:.2f} s, "
                      f"eval {times[n][-1][1]:.2f} s", flush=True)  # fmt: skip
        same = predictions(tmp_path / "n1-r0" / "results.json") == predictions(
            tmp_path / f"n{args.processes}-r0" / "results.json"
        )
        questions = len(predictions(tmp_path / "n1-r0" / "results.json"))

    wall1 = [w for w, _ in times[1]]
    walln = [w for w, _ in times[args.processes]]
    eval1 = [e for _, e in times[1]]
    evaln = [e for _, e in times[args.processes]]
    print()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; {questions} questions, batch {args.batch_size}, "
          f"{args.threads} thread(s)/process, {args.repeats} repeats")  # fmt: skip
    print("| processes | wall (median, min-max) | eval seconds (median, min-max) |")
    print("|---|---|---|")
    print(f"| 1 | {spread(wall1)} | {spread(eval1)} |")
    print(f"| {args.processes} | {spread(walln)} | {spread(evaln)} |")
    print(
        f"speed-up {args.processes} vs 1: wall {statistics.median(wall1) / statistics.median(walln):.2f}x, "
        f"eval {statistics.median(eval1) / statistics.median(evaln):.2f}x; "
        f"predictions and probabilities identical: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
