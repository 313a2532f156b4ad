"""Benchmark `merge-datasets`: a generated 30k-row preference mix through the whole pipeline.

    uv run python benchmarks/merge.py            # 30k rows, both tokenizers
    uv run python benchmarks/merge.py --rows 3000

The mix copies the recipe's shape: M1-style records (several pairs per prompt, some ties), Orca
system/question rows, OpenHermes ChatML rows in parquet and py-dpo code rows, with a long tail of
prompts beyond 2048 tokens so the truncation path does real work. It runs twice: with the tiny
test tokenizer (`stemqa.core.tiny_model`) and with a GPT-2-sized byte-level BPE (50,257 entries)
trained here on the generated text. The baseline, measured in the same run on the same rows, is
the notebook way of enforcing the length limit: one tokenizer call per prompt+response string.
Goal: 30k rows through the whole pipeline in under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import resource
import tempfile
import time
from pathlib import Path

import datasets
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from stemqa.core.loading import load_tokenizer
from stemqa.core.tiny_model import make_tiny_model
from stemqa.train.merge import merge_preferences, parse_config

SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "sa",
    "tu",
    "ri",
    "po",
    "de",
    "ga",
    "fu",
    "hi",
    "jo",
    "ze",
    "va",
    "qu",
    "ex",
    "th",
    "ion",
    "ent",
    "al",
    "ic",
    "ous",
    "er",
]


def _lexicon(rng: random.Random, size: int) -> list[str]:
    words = {"".join(rng.choices(SYLLABLES, k=rng.randint(1, 4))) for _ in range(size * 2)}
    return sorted(words)[:size]


class TextMaker:
    """Zipf-distributed words with some punctuation, digits and code, so BPE has real work."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = _lexicon(self.rng, 100000)
        self.cum_weights = list(itertools.accumulate(1 / (i + 1) for i in range(len(self.words))))

    def words_(self, n: int) -> str:
        picked = self.rng.choices(self.words, cum_weights=self.cum_weights, k=n)
        out = []
        for i, w in enumerate(picked):
            out.append(w)
            if i % 13 == 12:
                out[-1] += self.rng.choice([".", ",", ";", " = 3.14", " (x^2)"])
        return " ".join(out)

    def length(self, mean: int, long_share: float = 0.0, long_words: int = 2500) -> int:
        if self.rng.random() < long_share:
            return self.rng.randint(long_words, long_words * 2)
        return max(3, int(self.rng.expovariate(1 / mean)))

    def code(self, n_lines: int) -> str:
        lines = ["def f(values):"]
        lines += [
            f"    {self.words_(1)} = {self.words_(3).replace(' ', ' + ')}" for _ in range(n_lines)
        ]
        return "```python\n" + "\n".join(lines) + "\n    return values\n```"


def generate(root: Path, rows: int, seed: int = 0) -> dict[str, Path]:
    """Write the mix; shares of candidate pairs: M1 40%, Orca 25%, OpenHermes 20%, py-dpo 15%."""
    t = TextMaker(seed)
    n_m1, n_orca, n_oh = int(rows * 0.40), int(rows * 0.25), int(rows * 0.20)
    n_py = rows - n_m1 - n_orca - n_oh
    paths = {}
    m1, made = [], 0
    while made < n_m1:
        k = min(t.rng.randint(1, 9), n_m1 - made)
        prefs = []
        for _ in range(k):
            overall = t.rng.choices(["A", "B", "Tie"], weights=[47, 47, 6])[0]
            prefs.append(
                {"A": t.words_(t.length(110)), "B": t.words_(t.length(90)), "overall": overall,
                 "criteria": {"overall": overall, "correctness": "AB", "relevance": "A", "clarity": "B",
                              "completeness": "AB", "other": "Conciseness: A; Engagement: B"}}
            )  # fmt: skip
        m1.append({"question_id": len(m1), "course_id": 1, "preference": prefs,
                   "question_complete": "Question: " + t.words_(t.length(60, 0.03))})  # fmt: skip
        made += k
    paths["m1"] = root / "m1.json"
    paths["m1"].write_text(json.dumps(m1))
    systems = ["", "You are an AI assistant. You must generate a detailed and long answer.",
               "You are a helpful assistant, who always provide explanation."]  # fmt: skip
    orca = [{"system": t.rng.choice(systems), "question": t.words_(t.length(70, 0.03)),
             "chosen": t.words_(t.length(120)), "rejected": t.words_(t.length(60))}
            for _ in range(n_orca)]  # fmt: skip
    paths["orca"] = root / "orca.jsonl"
    paths["orca"].write_text("".join(json.dumps(r) + "\n" for r in orca))
    oh = {"chosen": [], "rejected": [], "question": [], "delta_score": []}
    for _ in range(n_oh):
        oh["question"].append(
            f"<|im_start|>user\n{t.words_(t.length(50, 0.02))}<|im_end|>\n<|im_start|>assistant\n"
        )
        oh["chosen"].append(t.words_(t.length(150)) + "<|im_end|>\n")
        oh["rejected"].append(t.words_(t.length(100)) + "<|im_end|>\n")
        oh["delta_score"].append(round(t.rng.uniform(0, 6), 1))
    paths["openhermes"] = root / "openhermes.parquet"
    datasets.Dataset.from_dict(oh).to_parquet(str(paths["openhermes"]))
    py = {"prompt": [t.words_(t.length(25)) for _ in range(n_py)],
          "chosen": [t.code(t.rng.randint(2, 20)) for _ in range(n_py)],
          "rejected": [t.code(t.rng.randint(1, 8)) for _ in range(n_py)]}  # fmt: skip
    paths["py"] = root / "py.parquet"
    datasets.Dataset.from_dict(py).to_parquet(str(paths["py"]))
    return paths


def gpt2_sized_tokenizer(corpus_files: list[Path], out: Path) -> PreTrainedTokenizerFast:
    """A 50,257-entry byte-level BPE like GPT-2's / phi-2's, trained on the generated text."""

    def lines():
        for path in corpus_files:
            if path.suffix == ".parquet":
                ds = datasets.Dataset.from_parquet(str(path))
                for col in ds.column_names:
                    yield from (v for v in ds[col] if isinstance(v, str))
            else:
                yield from path.read_text().splitlines()

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=50257,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(itertools.islice(lines(), 40000), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", model_max_length=2048
    )
    fast.save_pretrained(str(out))
    return fast


def recipe(paths: dict[str, Path]) -> dict:
    return {
        "seed": 42,
        "tokenizer": "benchmark",
        "max_length": 2048,
        "max_pairs_per_prompt": 6,
        "sources": [
            {"name": "m1", "path": str(paths["m1"])},
            {"name": "orca", "path": str(paths["orca"])},
            {"name": "openhermes", "path": str(paths["openhermes"]), "fraction": 0.9},
            {"name": "py", "path": str(paths["py"])},
        ],
    }


def per_row_baseline(tokenizer, dataset_rows: list[tuple[str, str, str]], max_length: int) -> float:
    """The notebook way: tokenize prompt+response strings one call at a time."""
    start = time.perf_counter()
    over = 0
    for prompt, chosen, rejected in dataset_rows:
        for response in (chosen, rejected):
            if (
                len(
                    tokenizer(prompt + response, add_special_tokens=False, verbose=False)[
                        "input_ids"
                    ]
                )
                > max_length
            ):
                over += 1
    return time.perf_counter() - start


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads: on a shared machine this, not wall
    time, says what the merge costs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(tokenizer, label: str, paths: dict[str, Path], cache: Path) -> dict:
    config = parse_config(recipe(paths), base_dir=cache)
    cpu0, start = _cpu_seconds(), time.perf_counter()
    result = merge_preferences(config, tokenizer=tokenizer, cache_dir=str(cache))
    total, cpu = time.perf_counter() - start, _cpu_seconds() - cpu0
    rows = [(r["prompt"], r["chosen"], r["rejected"]) for d in result.dataset.values() for r in d]
    baseline = per_row_baseline(tokenizer, rows, 2048)
    stats = result.stats
    return {
        "tokenizer": label,
        "vocab": len(tokenizer),
        "candidates": stats["totals"]["candidates"],
        "kept": stats["totals"]["kept"],
        "truncated": stats["totals"]["truncated"],
        "total_s": round(total, 2),
        "cpu_s": round(cpu, 2),
        "load": round(os.getloadavg()[0], 1),
        "stages_s": stats["timings_s"],
        "baseline_length_s": round(baseline, 2),
        "length_speedup": round(baseline / max(stats["timings_s"]["length"], 1e-9), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30000)
    args = parser.parse_args()
    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory(prefix="merge-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        paths = generate(root, args.rows)
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        tiny = load_tokenizer(make_tiny_model(root / "tiny"))
        big = gpt2_sized_tokenizer(list(paths.values()), root / "bpe50k")
        tok_s = time.perf_counter() - t0
        results = []
        for label, tok in (
            ("tiny (stemqa.core.tiny_model)", tiny),
            ("GPT-2-sized byte-level BPE", big),
        ):
            # a fresh cache per run, so both pay for reading the files
            results.append(run(tok, label, paths, root / f"cache-{len(results)}"))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', 'unset')}")  # fmt: skip
    print(
        f"generated {args.rows} candidate rows in {gen_s:.1f} s; tokenizers built in {tok_s:.1f} s\n"
    )
    print(
        "| tokenizer | vocab | pairs | kept | truncated | whole merge, wall (s) | CPU (s) "
        "| load avg | read | normalize | length | split+build | per-row length baseline (s) "
        "| length speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        st = r["stages_s"]
        print(f"| {r['tokenizer']} | {r['vocab']} | {r['candidates']} | {r['kept']} | {r['truncated']} | "
              f"{r['total_s']} | {r['cpu_s']} | {r['load']} | {st['read']} | {st['normalize']} | {st['length']} | {st['split_and_build']} | "
              f"{r['baseline_length_s']} | {r['length_speedup']}x |")  # fmt: skip


if __name__ == "__main__":
    main()
