"""Cold start of the rag commands, per embedder backend, and the backends' embedding throughput.

What a user waits for is a fresh process: imports (chromadb, bm25s, and for dense/hybrid the
embedder: torch + sentence-transformers, or onnxruntime + tokenizers), opening the index and
loading the model. Each command runs as its own process, the variants alternating within each
repeat (so machine load hits them alike), `--repeats` times. Wall time depends on the machine's
load, so user+system CPU seconds are reported too (on a shared 2-core box CPU time is the
steadier number), with the 1-minute load average seen at the start of each command.

Variants (`--variants`, the first is the reference the ratios divide by):

- `torch`: STEMQA_EMBEDDER=torch (sentence-transformers, the path before the ONNX embedder);
- `onnx`: STEMQA_EMBEDDER=onnx (the ONNX Runtime export; exported before timing starts);
- `torch-nopyc`, `onnx-nopyc`: the same with no usable bytecode (PYTHONPYCACHEPREFIX points at
  an empty folder and PYTHONDONTWRITEBYTECODE=1), i.e. a venv installed without
  `compile-bytecode`, where every process compiles every module it imports;
- `baseline` (with `--baseline-ref REF`): a `git worktree` of REF whose `packages/*/src` go first
  on PYTHONPATH, so the same venv runs the old code.

Commands: an unchanged re-ingest, one `rag-query` per mode, and (`--fresh-ingest`) a new index
of the same two PDFs. Then, unless `--no-throughput`, the embedding throughput of both backends in
one process over every chunk of the course PDFs in tests/data/pdfs (rag's splitter settings),
alternating backends, `--repeats` passes each.

    uv run python benchmarks/rag_cold_start.py --variants torch,onnx --repeats 3 --fresh-ingest

Needs WordNet for the default preprocessing (or pass --preprocess lowercase,stopwords).
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
PDF_DIR = REPO / "tests" / "data" / "pdfs"
PDFS = ("PHY102_Electromagnetism.pdf", "PHY202_Statistical_Mechanics.pdf")
VARIANTS = ("torch", "onnx", "torch-nopyc", "onnx-nopyc", "baseline")


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, user+system CPU s of the child, load average at start) for one fresh process."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-1000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load


def _environments(names: list[str], work: Path, baseline_ref: str | None) -> dict[str, dict]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    empty = work / "no-pyc"
    empty.mkdir()
    out: dict[str, dict[str, str]] = {}
    for name in names:
        if name == "baseline":
            if not baseline_ref:
                raise SystemExit("variant baseline needs --baseline-ref")
            tree = work / "baseline"
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), baseline_ref],
                check=True,
                capture_output=True,
            )
            src = [str(p) for p in sorted((tree / "packages").glob("*/src"))]
            out[name] = {**env, "PYTHONPATH": os.pathsep.join(src), "STEMQA_EMBEDDER": "torch"}
            continue
        backend, _, nopyc = name.partition("-")
        out[name] = {**env, "STEMQA_EMBEDDER": backend}
        if nopyc:
            out[name] |= {"PYTHONPYCACHEPREFIX": str(empty), "PYTHONDONTWRITEBYTECODE": "1"}
    return out


def _table(timings: dict[str, dict[str, list]], names: list[str]) -> None:
    ref = names[0]
    header = "| command | " + " | ".join(f"{n} wall s | {n} CPU s" for n in names)
    others = names[1:]
    header += "".join(f" | {n} CPU ratio | {n} wall ratio" for n in others)
    print(header + " |")
    print("|" + "---|" * (1 + 2 * len(names) + 2 * len(others)))
    for label, by_name in timings.items():
        cells, medians = [], {}
        for name in names:
            walls = [w for w, _, _ in by_name[name]]
            cpus = [c for _, c, _ in by_name[name]]
            medians[name] = (statistics.median(walls), statistics.median(cpus))
            cells.append(f"{medians[name][0]:.1f} ({min(walls):.1f}-{max(walls):.1f})")
            cells.append(f"{medians[name][1]:.1f} ({min(cpus):.1f}-{max(cpus):.1f})")
        for name in others:
            (rw, rc), (w, c) = medians[ref], medians[name]
            cells += [f"{rc / c:.2f}x", f"{rw / w:.2f}x"]
        print(f"| {label} | " + " | ".join(cells) + " |")


def _course_chunks() -> list[str]:
    """Every chunk rag's splitter makes of the course PDFs (the texts an ingest embeds)."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from stemqa.rag.config import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
    from stemqa.rag.loading import load_pdf

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=DEFAULT_CHUNK_SIZE, chunk_overlap=DEFAULT_CHUNK_OVERLAP
    )
    chunks = []
    for path in sorted(PDF_DIR.glob("*.pdf")):
        chunks += [c for page in load_pdf(path).pages for c in splitter.split_text(page.text)]
    return chunks


def throughput(repeats: int) -> dict[str, list[tuple[float, float, float]]]:
    """(wall s, process CPU s, load) per pass of embedding every course chunk, per backend."""
    from stemqa.rag.embeddings import get_embeddings

    chunks = _course_chunks()
    embedders = {b: get_embeddings(backend=b) for b in ("torch", "onnx")}
    for embedder in embedders.values():
        embedder.embed_documents(chunks[:64])  # warm-up (first-call allocations)
    passes: dict[str, list[tuple[float, float, float]]] = {b: [] for b in embedders}
    for _ in range(repeats):
        for backend, embedder in embedders.items():
            load = os.getloadavg()[0]
            cpu, started = time.process_time(), time.perf_counter()
            embedder.embed_documents(chunks)
            passes[backend].append((time.perf_counter() - started, time.process_time() - cpu, load))
    n = len(chunks)
    print(f"\nembedding throughput: {n} chunks of {len(list(PDF_DIR.glob('*.pdf')))} course PDFs")
    print("| backend | chunks/s (wall) | CPU s per pass | wall s per pass | load |")
    print("|---|---|---|---|---|")
    for backend, rows in passes.items():
        walls = [w for w, _, _ in rows]
        cpus = [c for _, c, _ in rows]
        loads = [lo for _, _, lo in rows]
        print(
            f"| {backend} | {n / statistics.median(walls):.1f} "
            f"({n / max(walls):.1f}-{n / min(walls):.1f}) | {statistics.median(cpus):.1f} | "
            f"{statistics.median(walls):.1f} | {min(loads):.1f}-{max(loads):.1f} |"
        )
    (tw, tc), (ow, oc) = (
        (statistics.median(x[0] for x in passes[b]), statistics.median(x[1] for x in passes[b]))
        for b in ("torch", "onnx")
    )
    print(f"onnx vs torch: {tw / ow:.2f}x chunks/s (wall), {tc / oc:.2f}x less CPU per chunk")
    return passes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="torch,onnx", help=f"comma list of {VARIANTS}")
    parser.add_argument("--baseline-ref", help="git ref for the baseline variant (worktree)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preprocess", default=None, help="index preprocessing (default: rag's)")
    parser.add_argument("--fresh-ingest", action="store_true", help="also time a new index")
    parser.add_argument("--no-throughput", action="store_true", help="skip the throughput part")
    parser.add_argument("--out", type=Path, help="write the raw timings as JSON")
    args = parser.parse_args()
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    if args.baseline_ref and "baseline" not in names:
        names.insert(0, "baseline")
    if unknown := set(names) - set(VARIANTS):
        parser.error(f"--variants: unknown {sorted(unknown)}; choose from {VARIANTS}")

    work = Path(tempfile.mkdtemp(prefix="rag-cold-"))
    pdfs = work / "pdfs"
    pdfs.mkdir()
    for name in PDFS:
        shutil.copy(PDF_DIR / name, pdfs / name)
    bin_dir = Path(sys.executable).parent
    variants = _environments(names, work, args.baseline_ref)

    extra = ["--preprocess", args.preprocess] if args.preprocess else []
    commands = {}
    for name, venv in variants.items():
        index = work / f"index-{name}"
        # Build once (not timed; this also makes the ONNX export): the timed re-ingest finds
        # every file unchanged.
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

    timings: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
    for repeat in range(args.repeats):
        for label in commands[names[0]]:
            for name, venv in variants.items():  # alternate: load hits all alike
                cmd = commands[name][label]
                result = _run([str(bin_dir / cmd[0]), *cmd[1:]], venv)
                timings.setdefault(label, {}).setdefault(name, []).append(result)
        if args.fresh_ingest:
            for name, venv in variants.items():
                fresh = work / f"fresh-{name}-{repeat}"
                cmd = [str(bin_dir / "rag-ingest"), str(pdfs), "--index", str(fresh), "--quiet"]
                result = _run([*cmd, *extra], venv)
                timings.setdefault("rag-ingest, new index (2 PDFs)", {}).setdefault(
                    name, []
                ).append(result)
                shutil.rmtree(fresh, ignore_errors=True)

    loads = [lo for by_name in timings.values() for rows in by_name.values() for _, _, lo in rows]
    print(
        f"{args.repeats} repeats, median (min-max); 1-min load average at command starts "
        f"{min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f}) on "
        f"{os.cpu_count()} CPUs"
    )
    _table(timings, names)
    out: dict = {"commands": timings}
    if not args.no_throughput:
        out["throughput"] = throughput(args.repeats)
    if args.out:
        args.out.write_text(json.dumps(out, indent=1))
    if "baseline" in variants:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(work / "baseline")],
            check=False,
            capture_output=True,
        )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
