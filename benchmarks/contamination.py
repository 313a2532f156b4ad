"""Benchmark `check-contamination`: 30k generated preference rows × 14k generated MMLU-like
questions, end to end (files read through the package's loaders, index, scan, report).

    uv run python benchmarks/contamination.py                  # full size, + baseline
    uv run python benchmarks/contamination.py --rows 3000 --questions 1400 --no-baseline

Goal: under 60 s on 2 cores. The baseline, measured in the same run on the same texts, is the
straightforward pure-Python way (lm-eval's janitor style): a `set` of 13-token tuples of every
eval question, then every 13-token tuple of every training text looked up in it. Both must find
the same planted overlaps (200 questions pasted into chosen/rejected/prompt texts), which the
script checks. Vocabulary: 5,000 pseudo-words (Zipf-like draws, weight 1/(rank+10)), so unrelated texts share
short n-grams but not 13-grams — as real English does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

from stemqa.train.contamination import (
    check_contamination,
    normalize_tokens,
    question_text,
)
from stemqa.train.mcqa_data import load_mcqs

LETTERS = "ABCD"


def _vocab(size: int, rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "sa", "tu", "ri", "po", "de", "ga", "fu", "th", "ion"]
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    return sorted(words)


_WEIGHTS: list[float] = []


def _text(rng: random.Random, vocab: list[str], words: int) -> str:
    # Zipf-like (weight 1 / (rank + 10)), plus punctuation the normalizer strips.
    if len(_WEIGHTS) != len(vocab):
        _WEIGHTS[:] = [1.0 / (r + 10) for r in range(len(vocab))]
    drawn = rng.choices(vocab, weights=_WEIGHTS, k=words)
    return " ".join(w + ("," if i % 11 == 10 else "") for i, w in enumerate(drawn)) + "."


def generate(folder: Path, rows: int, questions: int, planted: int, seed: int = 0):
    rng = random.Random(seed)
    vocab = _vocab(5000, rng)
    csv_dir = folder / "mmlu"
    csv_dir.mkdir()
    import csv

    subjects = [f"subject_{i:02d}" for i in range(57)]
    per_subject = -(-questions // len(subjects))
    count = 0
    for subject in subjects:
        with (csv_dir / f"{subject}_test.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            for _ in range(per_subject):
                if count == questions:
                    break
                stem = _text(rng, vocab, rng.randint(15, 60))
                options = [_text(rng, vocab, rng.randint(1, 8)) for _ in LETTERS]
                writer.writerow([stem, *options, rng.choice(LETTERS)])
                count += 1
    mcqs = load_mcqs(csv_dir)
    targets = rng.sample(range(len(mcqs)), planted)
    fields = ["prompt", "chosen", "rejected"]
    plant_at = dict(zip(rng.sample(range(rows), planted), targets, strict=True))
    truth = set()
    train = folder / "mix.jsonl"
    with train.open("w") as handle:
        for r in range(rows):
            row = {
                "prompt": _text(rng, vocab, rng.randint(20, 120)),
                "chosen": _text(rng, vocab, rng.randint(50, 300)),
                "rejected": _text(rng, vocab, rng.randint(30, 250)),
            }
            if r in plant_at:
                q = mcqs[plant_at[r]]
                f = fields[r % 3]
                row[f] = row[f] + " " + question_text(q) + " " + _text(rng, vocab, 20)
                truth.add((q.source, r + 1))
            handle.write(json.dumps(row) + "\n")
    return train, csv_dir, mcqs, truth


def baseline(train: Path, mcqs, n: int) -> tuple[set, float]:
    """Pure-Python sets of token tuples (same normalization), same files."""
    start = time.perf_counter()
    grams: dict[tuple, set[str]] = {}
    for m in mcqs:
        tokens = normalize_tokens(question_text(m))
        for i in range(len(tokens) - n + 1):
            grams.setdefault(tuple(tokens[i : i + n]), set()).add(m.source)
    found = set()
    with train.open() as handle:
        for r, line in enumerate(handle, start=1):
            row = json.loads(line)
            for f in ("prompt", "chosen", "rejected"):
                tokens = normalize_tokens(row[f])
                for i in range(len(tokens) - n + 1):
                    owners = grams.get(tuple(tokens[i : i + n]))
                    if owners:
                        found.update((s, r) for s in owners)
    return found, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--questions", type=int, default=14_000)
    parser.add_argument("--planted", type=int, default=200)
    parser.add_argument("--n", type=int, default=13)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        train, csv_dir, mcqs, truth = generate(folder, args.rows, args.questions, args.planted)
        words = sum(len(line.split()) for line in train.open())
        print(
            f"generated {args.rows} rows ({words / 1e6:.1f} M words, "
            f"{train.stat().st_size / 1e6:.0f} MB) x {len(mcqs)} questions "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        os.environ["HF_DATASETS_CACHE"] = str(folder / "cache")
        t0 = time.perf_counter()
        import datasets  # noqa: F401  (imported once by the CLI too; timed apart)

        print(
            f"import datasets: {time.perf_counter() - t0:.1f} s (PYTHONDONTWRITEBYTECODE="
            f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})"
        )
        times = []
        for i in range(args.repeats):
            start = time.perf_counter()
            report = check_contamination([str(train)], [str(csv_dir)], n=args.n)
            times.append(time.perf_counter() - start)
            found = {(o.eval_id, o.row) for o in report.overlaps}
            assert found == truth, (len(found), len(truth), sorted(found ^ truth)[:5])
            print(f"check-contamination run {i + 1}: {times[-1]:.1f} s ({len(found)} overlaps)")
        line = {
            "rows": args.rows,
            "questions": len(mcqs),
            "words_M": round(words / 1e6, 2),
            "check_s": [round(t, 2) for t in times],
            "cpus": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)),
            "load1": round(os.getloadavg()[0], 2),
            "machine": platform.processor() or platform.machine(),
        }
        if not args.no_baseline:
            base_found, base_s = baseline(train, mcqs, args.n)
            assert base_found == truth, "baseline disagrees"
            line["baseline_s"] = round(base_s, 2)
            line["speedup_vs_min"] = round(base_s / min(times), 2)
            print(f"baseline (python sets of tuples, no file loaders): {base_s:.1f} s")
        print(json.dumps(line))


if __name__ == "__main__":
    main()
