"""Questions per second: one-pass letter scoring vs. generate-then-extract, same model and prompts.

Both paths answer the same real MMLU questions (tests/data/mmlu) with the same lm-eval-harness
prompts, at batch 1 and 16, in one run, so the ratio is measured on the same machine under the
same load; each timing is the best of ``--repeats`` passes over all questions. Default model:
the tiny random-weight phi model (built into a temp folder); pass ``--model`` (a path or Hub id)
with ``--device cuda --dtype bfloat16|nf4`` for a GPU run. ``--model random-phi2`` builds phi-2's
full architecture (2.7B parameters, shipped config) with random weights and the tiny tokenizer:
realistic timings without a download, noise for answers.

    uv run python benchmarks/mcqa_scoring.py
    uv run python benchmarks/mcqa_scoring.py --model microsoft/phi-2 --device cuda --dtype nf4
    uv run python benchmarks/mcqa_scoring.py --model random-phi2 --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from stemqa.core import (
    MCQ,
    generate_letters,
    load_model,
    load_tokenizer,
    phi2_config_path,
    score_letters,
)
from stemqa.core.answering import prepare_mcqs
from stemqa.core.tiny_model import make_tiny_model

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mmlu"


def load_questions(folder: Path, n: int) -> list[MCQ]:
    """The first questions of each subject, round-robin, so every subject is represented."""
    per_subject = []
    for path in sorted(folder.glob("*_test.csv")):
        subject = path.name.removesuffix("_test.csv")
        with path.open(newline="") as f:
            per_subject.append(
                [
                    MCQ(q, tuple(c), answer=a, subject=subject, source=f"{path.name}:{i}")
                    for i, (q, *c, a) in enumerate(csv.reader(f), 1)
                ]
            )
    questions: list[MCQ] = []
    for i in range(max(len(s) for s in per_subject)):
        for subject in per_subject:
            if i < len(subject) and len(questions) < n:
                questions.append(subject[i])
    return questions


def timed(fn, repeats: int) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls: the least disturbed by other load on the machine."""
    best, result = float("inf"), None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def random_phi2(tokenizer_dir: Path, device: str, dtype: str):
    """phi-2's exact architecture with random weights, for timing without the Hub."""
    from transformers import PhiConfig, PhiForCausalLM

    if dtype == "nf4":
        raise SystemExit("--model random-phi2 supports float32/bfloat16/float16, not nf4")
    tokenizer = load_tokenizer(tokenizer_dir)
    config = PhiConfig.from_json_file(phi2_config_path())
    config.pad_token_id = tokenizer.pad_token_id
    with torch.device(device):
        model = PhiForCausalLM(config).to(getattr(torch, dtype)).eval()
    return model, tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model path or Hub id (default: tiny random phi model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16", "nf4"],
        help="weights dtype; nf4 = 4-bit NF4 + double quant, bf16 compute",
    )
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the best counts")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        if args.model == "random-phi2":
            model, tokenizer = random_phi2(
                make_tiny_model(Path(tmp) / "tiny"), args.device, args.dtype
            )
        else:
            model_path = args.model or str(make_tiny_model(Path(tmp) / "tiny"))
            quantization = "nf4" if args.dtype == "nf4" else "none"
            dtype = None if args.dtype == "nf4" else args.dtype
            model, tokenizer = load_model(
                model_path, quantization=quantization, device=args.device, dtype=dtype
            )

    questions = load_questions(args.data, args.questions)
    prompts = [p.prompt for p in prepare_mcqs(questions, tokenizer)]  # the answer engine's
    gold = [q.answer_letter for q in questions]
    n_tokens = [len(tokenizer(p)["input_ids"]) for p in prompts]
    print(
        f"model={args.model or 'tiny random phi (make-tiny-model)'} device={args.device} "
        f"dtype={args.dtype} questions={len(prompts)} prompt tokens mean={sum(n_tokens) / len(n_tokens):.0f} "
        f"max={max(n_tokens)} torch threads={torch.get_num_threads()} repeats={args.repeats}"
    )
    if args.device.startswith("cuda"):
        print(f"gpu={torch.cuda.get_device_name()}")
    # Warm-up (first-call allocations, kernel selection) so neither path pays it in the timing.
    score_letters(model, tokenizer, prompts[:2], batch_size=2)
    generate_letters(model, tokenizer, prompts[:2], batch_size=2, max_new_tokens=2)

    rows = []
    for batch_size in args.batch_sizes:
        t_score, scores = timed(
            lambda b=batch_size: score_letters(model, tokenizer, prompts, batch_size=b),
            args.repeats,
        )
        t_gen, generated = timed(
            lambda b=batch_size: generate_letters(
                model, tokenizer, prompts, batch_size=b, max_new_tokens=args.max_new_tokens
            ),
            args.repeats,
        )
        score_letters_ = [s.letter for s in scores]
        gen_letters = [letter for _, letter in generated]
        row = {
            "batch_size": batch_size,
            "scoring_qps": len(prompts) / t_score,
            "generate_qps": len(prompts) / t_gen,
            "speedup": t_gen / t_score,
            "scoring_accuracy": sum(a == g for a, g in zip(score_letters_, gold, strict=True))
            / len(gold),
            "generate_accuracy": sum(a == g for a, g in zip(gen_letters, gold, strict=True))
            / len(gold),
            "generate_unparsed": sum(letter is None for letter in gen_letters) / len(gold),
        }
        rows.append(row)
        print(
            f"batch {batch_size:>3}: letter scoring {row['scoring_qps']:8.1f} q/s | "
            f"generate+extract {row['generate_qps']:8.1f} q/s | speedup x{row['speedup']:.1f} | "
            f"accuracy {row['scoring_accuracy']:.2f} vs {row['generate_accuracy']:.2f} "
            f"(unparsed {row['generate_unparsed']:.0%})"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "machine": platform.platform(),
                    "results": rows,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
