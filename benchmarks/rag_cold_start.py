"""Cold start of the rag commands: an unchanged re-ingest and one query per mode, as new processes.

What a user waits for is a fresh process: imports (chromadb, bm25s, torch when embedding),
opening the index and, for dense/hybrid, loading the embedder. Each command is run as its own
process, alternating a baseline checkout and the working tree in the same run (so machine load
hits both alike), `--repeats` times. Wall time depends on the machine's load, so user+system CPU
seconds are reported too (a shared 2-core box: CPU time is the steadier number).

    uv run python benchmarks/rag_cold_start.py --baseline-ref HEAD~5 --repeats 3

The baseline is a `git worktree` of `--baseline-ref` whose `packages/*/src` go first on
PYTHONPATH, so the same venv runs the old code. Without `--baseline-ref` only the working tree is
measured. Needs WordNet for the default preprocessing (or pass --preprocess lowercase,stopwords).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PDFS = ("PHY102_Electromagnetism.pdf", "PHY202_Statistical_Mechanics.pdf")


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, user+system CPU seconds of the child) for one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-1000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-ref", help="git ref to compare against (worktree)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preprocess", default=None, help="index preprocessing (default: rag's)")
    parser.add_argument("--out", type=Path, help="write the raw timings as JSON")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rag-cold-"))
    pdfs = work / "pdfs"
    pdfs.mkdir()
    for name in PDFS:
        shutil.copy(REPO / "tests" / "data" / "pdfs" / name, pdfs / name)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    variants: dict[str, dict[str, str]] = {"current": dict(env)}
    if args.baseline_ref:
        tree = work / "baseline"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.baseline_ref],
            check=True,
            capture_output=True,
        )
        src = [str(p) for p in sorted((tree / "packages").glob("*/src"))]
        variants = {"baseline": {**env, "PYTHONPATH": os.pathsep.join(src)}, **variants}

    extra = ["--preprocess", args.preprocess] if args.preprocess else []
    commands = {}
    for name, venv in variants.items():
        index = work / f"index-{name}"
        # Build once (not timed): the timed re-ingest finds every file unchanged.
        subprocess.run(
            [str(bin_dir / "rag-ingest"), str(pdfs), "--index", str(index), "--quiet", *extra],
            env=venv,
            check=True,
            capture_output=True,
        )
        commands[name] = {
            "unchanged re-ingest": ["rag-ingest", str(pdfs), "--index", str(index), "--quiet"],
            **{
                f"rag-query --mode {mode}": [
                    "rag-query",
                    "Maxwell's equations",
                    "--index",
                    str(index),
                    "--mode",
                    mode,
                ]
                for mode in ("bm25", "dense", "hybrid")
            },
        }

    timings: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for _ in range(args.repeats):
        for label in commands["current"]:
            for name, venv in variants.items():  # alternate: load hits both alike
                cmd = commands[name][label]
                result = _run([str(bin_dir / cmd[0]), *cmd[1:]], venv)
                timings.setdefault(label, {}).setdefault(name, []).append(result)

    load = os.getloadavg()[0]
    print(f"{args.repeats} repeats, median (min-max); load average at the end {load:.1f}")
    header = "| command | " + " | ".join(f"{n} wall s | {n} CPU s" for n in variants)
    if len(variants) == 2:
        header += " | wall ratio | CPU ratio"
    print(header + " |")
    print("|" + "---|" * (1 + 2 * len(variants) + (2 if len(variants) == 2 else 0)))
    for label, by_name in timings.items():
        cells, medians = [], {}
        for name in variants:
            walls = [w for w, _ in by_name[name]]
            cpus = [c for _, c in by_name[name]]
            medians[name] = (statistics.median(walls), statistics.median(cpus))
            cells.append(f"{medians[name][0]:.1f} ({min(walls):.1f}-{max(walls):.1f})")
            cells.append(f"{medians[name][1]:.1f} ({min(cpus):.1f}-{max(cpus):.1f})")
        if len(variants) == 2:
            (bw, bc), (cw, cc) = medians["baseline"], medians["current"]
            cells += [f"{bw / cw:.1f}x", f"{bc / cc:.1f}x"]
        print(f"| {label} | " + " | ".join(cells) + " |")
    if args.out:
        args.out.write_text(json.dumps(timings, indent=1))
    if args.baseline_ref:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(work / "baseline")],
            check=False,
            capture_output=True,
        )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
