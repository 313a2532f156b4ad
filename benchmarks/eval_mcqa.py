"""eval-mcqa throughput: questions per second of the whole evaluation (prompt building, scoring,
metrics), logits vs. generate, measured in one run so the ratio is honest.

CPU mode (default): the tiny random-weight phi model on the six MMLU CSVs in tests/data/mmlu
(800 questions), logits (baseline) vs. generate, batch 16.

GPU mode (``--gpu``): a phi-2-shaped model (core's shipped phi-2 config, random weights, the
tiny tokenizer — no download) in bf16 and in 4-bit NF4 (double quant, bf16 compute), logits
scoring at batch 1, 8 and 32, questions/s and peak GPU memory; bf16 at batch 1 is the baseline.
Finishes in well under 3 minutes on one H100.

    uv run python benchmarks/eval_mcqa.py                 # CPU, tiny model, 800 questions
    uv run python benchmarks/eval_mcqa.py --gpu           # GPU, phi-2 shape, bf16 vs nf4
    uv run python benchmarks/eval_mcqa.py --gpu --questions 128 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from stemqa.core import load_model, phi2_config_path
from stemqa.core.tiny_model import make_tiny_model
from stemqa.train.eval_mcqa import evaluate_mcqa
from stemqa.train.mcqa_data import load_mcqs

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mmlu"


def run(model, tokenizer, mcqs, **kwargs) -> tuple[float, float]:
    """(seconds, accuracy) of one full evaluation."""
    start = time.perf_counter()
    result = evaluate_mcqa(model, tokenizer, mcqs, progress=False, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result.conditions["closed_book"].overall.accuracy


def cpu_mode(args: argparse.Namespace, work: Path) -> dict:
    torch.set_num_threads(args.threads)
    tiny = make_tiny_model(work / "tiny")
    model, tokenizer = load_model(str(tiny), device="cpu")
    mcqs = load_mcqs(DATA)[: args.questions]
    rows = []
    for method in ("logits", "generate"):  # warm-up: allocator, tokenizer caches
        run(model, tokenizer, mcqs[:16], method=method, batch_size=16)
    for method, batch in (("logits", 16), ("generate", 16), ("logits", 1)):
        seconds, acc = run(model, tokenizer, mcqs, method=method, batch_size=batch)
        rows.append(
            {
                "method": method,
                "batch": batch,
                "questions": len(mcqs),
                "seconds": round(seconds, 2),
                "questions_per_s": round(len(mcqs) / seconds, 2),
                "accuracy": round(acc, 3),
            }
        )
        print(rows[-1], flush=True)
    base = rows[0]["questions_per_s"]
    for row in rows:
        row["vs_logits_b16"] = round(row["questions_per_s"] / base, 3)
    return {"mode": "cpu", "threads": args.threads, "rows": rows}


def random_phi2_folder(work: Path, device: str, **overrides: int) -> Path:
    """phi-2's architecture with random bf16 weights and the tiny tokenizer, saved so that the
    4-bit path can load it through from_pretrained like a real checkpoint. ``overrides``
    (e.g. num_hidden_layers) shrink it for --smoke."""
    from transformers import PhiConfig, PhiForCausalLM

    tiny = make_tiny_model(work / "tiny")
    config = PhiConfig(**{**json.loads(phi2_config_path().read_text()), **overrides})
    with torch.device(device):
        torch.manual_seed(0)
        model = PhiForCausalLM(config).to(torch.bfloat16)
    out = work / "random-phi2"
    model.save_pretrained(out)
    del model
    for file in tiny.iterdir():
        if file.name.startswith(("tokenizer", "special_tokens")):
            (out / file.name).write_bytes(file.read_bytes())
    return out


def gpu_mode(args: argparse.Namespace, work: Path) -> dict:
    """bf16 vs nf4 at batch 1/8/32. ``--smoke`` runs the same code on CPU with a 2-layer,
    320-wide phi-2 (head_dim 80 as phi-2) so the path can be checked without a GPU (its numbers mean nothing)."""
    cuda = not args.smoke
    if cuda and not torch.cuda.is_available():
        raise SystemExit("--gpu needs a CUDA device (or --smoke to check the path on CPU)")
    device = "cuda" if cuda else "cpu"
    shrink = {} if cuda else {"num_hidden_layers": 2, "hidden_size": 320, "intermediate_size": 640}
    shrink.update({} if cuda else {"num_attention_heads": 4, "num_key_value_heads": 4})
    folder = random_phi2_folder(work, device, **shrink)
    mcqs = load_mcqs(DATA)[: args.questions]
    rows = []
    for quantization in ("none", "nf4"):
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        model, tokenizer = load_model(
            str(folder), quantization=quantization, device=device, dtype="bfloat16"
        )
        loaded = torch.cuda.max_memory_allocated() if cuda else 0
        run(model, tokenizer, mcqs[:8], batch_size=8)  # warm-up (kernels, allocator)
        for batch in (1, 8, 32):
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            seconds, _ = run(model, tokenizer, mcqs, method="logits", batch_size=batch)
            peak = torch.cuda.max_memory_allocated() if cuda else 0
            rows.append(
                {
                    "weights": "bf16" if quantization == "none" else "nf4",
                    "batch": batch,
                    "questions": len(mcqs),
                    "seconds": round(seconds, 2),
                    "questions_per_s": round(len(mcqs) / seconds, 1),
                    "weights_gib": round(loaded / 2**30, 2),
                    "peak_gib": round(peak / 2**30, 2),
                }
            )
            print(rows[-1], flush=True)
        del model
        if cuda:
            torch.cuda.empty_cache()
    base = rows[0]["questions_per_s"]
    for row in rows:
        row["vs_bf16_b1"] = round(row["questions_per_s"] / base, 2)
    name = (
        torch.cuda.get_device_name(0) if cuda else "cpu (smoke: shrunk phi-2, numbers meaningless)"
    )
    return {"mode": "gpu", "device": name, "rows": rows}


def markdown(report: dict) -> str:
    rows = report["rows"]
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", action="store_true", help="phi-2-shaped model on CUDA")
    parser.add_argument(
        "--smoke", action="store_true", help="with --gpu: check the GPU path on CPU, tiny shape"
    )
    parser.add_argument("--questions", type=int, help="default: 800 (CPU), 256 (GPU)")
    parser.add_argument("--threads", type=int, default=1, help="CPU mode torch threads")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    args.questions = args.questions or (256 if args.gpu else 800)
    if args.smoke:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-eval-mcqa-") as tmp:
        report = gpu_mode(args, Path(tmp)) if args.gpu else cpu_mode(args, Path(tmp))
    report.update(
        {
            "command": "uv run python benchmarks/eval_mcqa.py " + " ".join(sys.argv[1:]),
            "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
            f"torch {torch.__version__}",
        }
    )
    print(markdown(report))
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
