"""Benchmark the one dataset reader against `datasets.load_dataset` on the same files.

    uv run python benchmarks/dataset_reader.py               # 100k rows, 5 repeats
    uv run python benchmarks/dataset_reader.py --rows 20000 --repeats 3

`stemqa.train.dataset_files.load_split` adds checks before `datasets` reads a text file (UTF-8
for jsonl; UTF-8 and field counts for csv) and changes nothing for a file that loads. The
baseline is the bare `datasets.load_dataset(builder, data_files=..., split="train")` call the
commands made before, on the same file, in the same run, each from a cold cache folder, in
alternating order. Reported: median and min/max per repeat, and the ratio of medians.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import datasets

from stemqa.train.dataset_files import check_csv, check_utf8, iter_csv_rows, load_split


def _write(folder: Path, rows: int) -> dict[str, Path]:
    records = [
        {
            "prompt": f"Question {i}: why is the sky blue? " + "Explain the physics. " * 8,
            "chosen": "Rayleigh scattering: shorter wavelengths scatter more. " * 4,
            "rejected": "Because it reflects the ocean. " * 4,
        }
        for i in range(rows)
    ]
    jsonl = folder / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    table = folder / "pairs.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return {"json": jsonl, "csv": table}


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):.3f} s ({min(xs):.3f}–{max(xs):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    datasets.disable_progress_bars()
    folder = Path(tempfile.mkdtemp(prefix="reader-bench-"))
    files = _write(folder, args.rows)
    print(f"# {args.rows} rows; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(
        "| file | MB | datasets.load_dataset | dataset_files.load_split | ratio | checks alone "
        "| csv-module field check |"
    )
    print("|---|---|---|---|---|---|---|")
    for builder, path in files.items():
        base: list[float] = []
        ours: list[float] = []
        checks: list[float] = []
        module: list[float] = []  # the field-count check done with the csv module alone
        for r in range(args.repeats):

            def bare(r=r, builder=builder, path=path):
                datasets.load_dataset(
                    builder,
                    data_files=str(path),
                    split="train",
                    cache_dir=str(folder / f"a{builder}{r}"),
                )

            def reader(r=r, builder=builder, path=path):
                load_split(path, cache_dir=str(folder / f"b{builder}{r}"))

            pair = [(base, bare), (ours, reader)]
            for times, fn in pair if r % 2 == 0 else pair[::-1]:
                times.append(_time(fn))
            checks.append(_time(lambda path=path: check_utf8(path)))
            if builder == "csv":
                checks[-1] += _time(lambda path=path: check_csv(path))
                module.append(_time(lambda path=path: sum(1 for _ in iter_csv_rows(path))))
        ratio = statistics.median(ours) / statistics.median(base)
        size = path.stat().st_size / 1e6
        print(
            f"| {path.suffix} | {size:.1f} | {_fmt(base)} | {_fmt(ours)} | {ratio:.2f} "
            f"| {_fmt(checks)} | {_fmt(module) if module else '-'} |"
        )


if __name__ == "__main__":
    main()
