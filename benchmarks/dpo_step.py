"""Benchmark train-dpo.

CPU (default): seconds per optimizer step and peak RSS of `train-dpo` vs the plain `trl dpo`
CLI with the same settings (tiny model, 4-bit NF4 + DoRA r16 on q/k/v/dense, batch 1 x grad
acc 4, lr 5e-5, beta 0.1), in the same run, each in its own process. Per-step time is the
difference of two runs (N_long - N_short steps) so start-up cost cancels. Ratio goal <= 1.05.

    uv run python benchmarks/dpo_step.py [--steps 12] [--out bench.json]

GPU (--gpu-suite): a phi-2-shaped random-weight model built from the shipped config (no
download), 4-bit QDoRA, sequences of 1024 and 2048 tokens, lora_dropout 0.05 vs 0; tokens/s and
peak GPU memory through train-dpo's own model builder and TRL's DPOTrainer.

    uv run python benchmarks/dpo_step.py --gpu-suite --out dpo_gpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _data(folder: Path, rows: int = 64) -> Path:
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "train.jsonl").open("w") as fh:
        for _ in range(rows):
            a, b = rng.randint(1, 99), rng.randint(1, 99)
            fh.write(
                json.dumps(
                    {
                        "prompt": f"Question: what is {a} plus {b}?\nAnswer:",
                        "chosen": f" The answer is {a + b}.",
                        "rejected": " I do not know.",
                    }
                )
                + "\n"
            )
    return folder


SHARED = [
    "--load_in_4bit",
    "true",
    "--bnb_4bit_quant_type",
    "nf4",
    "--use_bnb_nested_quant",
    "true",
    "--dtype",
    "float32",
    "--use_peft",
    "true",
    "--use_dora",
    "true",
    "--lora_r",
    "16",
    "--lora_alpha",
    "16",
    "--lora_dropout",
    "0.05",
    "--lora_target_modules",
    "q_proj",
    "k_proj",
    "v_proj",
    "dense",
    "--learning_rate",
    "5e-5",
    "--per_device_train_batch_size",
    "1",
    "--gradient_accumulation_steps",
    "4",
    "--beta",
    "0.1",
    "--max_length",
    "2048",
    "--bf16",
    "false",
    "--report_to",
    "none",
    "--eval_strategy",
    "no",
    "--save_strategy",
    "no",
    "--gradient_checkpointing",
    "true",
    "--logging_steps",
    "1",
    "--seed",
    "42",
    "--dataloader_pin_memory",
    "false",
]


def _child_rss(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """train_runtime and the child's own peak RSS (KiB) via wait4."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT
    )
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{out[-3000:]}")
    match = re.findall(r"'train_runtime': '?([\d.]+)", out)
    if not match:
        raise SystemExit(f"no train_runtime in output of {cmd[:4]}:\n{out[-2000:]}")
    return float(match[-1]), int(usage.ru_maxrss)


def cpu_compare(steps: int, short: int, repeats: int, lora_dropout: float = 0.05) -> dict:
    from stemqa.core.tiny_model import make_tiny_model

    work = Path(tempfile.mkdtemp(prefix="dpo-bench-"))
    model = make_tiny_model(work / "tiny")
    data = _data(work / "data")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    bin_dir = Path(sys.executable).parent
    tools = {
        "train-dpo": [
            str(bin_dir / "train-dpo"),
            "--early_stopping_patience",
            "0",
            "--load_best_model_at_end",
            "false",
            "--dataset_test_split",
            "none",
        ],
        "trl dpo": [str(bin_dir / "trl"), "dpo"],
    }
    results: dict = {}
    for name, base in tools.items():
        per_step, rss = [], 0
        for r in range(repeats):
            times = {}
            for n in (short, steps):
                cmd = [
                    *base,
                    "--model_name_or_path",
                    str(model),
                    "--dataset_name",
                    str(data),
                    "--output_dir",
                    str(work / f"{name.replace(' ', '_')}-{r}-{n}"),
                    "--max_steps",
                    str(n),
                    *SHARED,
                    "--lora_dropout",  # later flags win: override SHARED's 0.05
                    str(lora_dropout),
                ]
                runtime, peak = _child_rss(cmd, env)
                times[n] = runtime
                rss = max(rss, peak)
            per_step.append((times[steps] - times[short]) / (steps - short))
        results[name] = {
            "s_per_step": min(per_step),
            "s_per_step_all": per_step,
            "peak_rss_mib": rss / 1024,
        }
    results["ratio_time"] = results["train-dpo"]["s_per_step"] / results["trl dpo"]["s_per_step"]
    results["ratio_peak_rss"] = (
        results["train-dpo"]["peak_rss_mib"] / results["trl dpo"]["peak_rss_mib"]
    )
    results["settings"] = {
        "steps": steps,
        "short": short,
        "repeats": repeats,
        "model": "tiny phi (stemqa.core.tiny_model)",
        "lora_dropout": lora_dropout,
    }
    return results


def gpu_suite(steps: int) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoConfig, AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer, ModelConfig

    from stemqa.core.loading import phi2_config_path
    from stemqa.train.training.lifecycle import guard_adapter
    from stemqa.train.training.model import build_qdora_model, configure_dropout

    assert torch.cuda.is_available(), "--gpu-suite needs a CUDA GPU"
    work = Path(tempfile.mkdtemp(prefix="phi2-random-"))
    t0 = time.perf_counter()
    config = AutoConfig.from_pretrained(str(phi2_config_path()))
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(work / "model")  # random phi-2-shaped weights, never downloaded
    del model
    torch.cuda.empty_cache()
    tiny_tok = Path(tempfile.mkdtemp(prefix="tok-"))
    from stemqa.core.tiny_model import make_tiny_model

    make_tiny_model(tiny_tok)  # tokenizer only: ids are random anyway
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (work / "model" / name).write_bytes((tiny_tok / name).read_bytes())
    build_s = time.perf_counter() - t0
    results = {
        "device": torch.cuda.get_device_name(0),
        "random_model_build_s": round(build_s, 1),
        "runs": [],
    }
    rng = random.Random(0)
    for dropout in (0.05, 0.0):
        margs = ModelConfig(
            model_name_or_path=str(work / "model"),
            dtype="bfloat16",
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            use_bnb_nested_quant=True,
            use_peft=True,
            use_dora=True,
            lora_r=16,
            lora_alpha=16,
            lora_dropout=dropout,
            lora_target_modules=["q_proj", "k_proj", "v_proj", "dense"],
        )
        torch.cuda.reset_peak_memory_stats()
        model, tok = build_qdora_model(margs, gradient_checkpointing=True)  # once per dropout
        vocab = len(tok)
        for seq in (1024, 2048):
            torch.cuda.reset_peak_memory_stats()

            def text(n: int, tok=tok, vocab=vocab) -> str:
                # random token ids decoded: about n tokens once re-encoded
                return tok.decode([rng.randrange(1, vocab) for _ in range(n)])

            # prompt ~ half the window, answers fill the rest (TRL drops rows whose prompt
            # alone reaches max_length; the collator truncates the rest to max_length)
            rows = [
                {
                    "prompt": text(seq // 2 - 16),
                    "chosen": text(seq // 2),
                    "rejected": text(seq // 2),
                }
                for _ in range(steps * 4 + 8)
            ]
            args = DPOConfig(
                output_dir=str(work / "out"),
                learning_rate=5e-5,
                per_device_train_batch_size=1,
                gradient_accumulation_steps=4,
                max_steps=steps,
                beta=0.1,
                max_length=seq,
                bf16=True,
                gradient_checkpointing=True,
                report_to="none",
                save_strategy="no",
                logging_steps=1,
                disable_dropout=False,
                disable_tqdm=True,
            )
            trainer = DPOTrainer(
                model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok
            )
            if "ref" in model.peft_config:  # as train-dpo: reference = adapter disabled
                model.delete_adapter("ref")
                model.set_adapter("default")
            configure_dropout(trainer.model, disable_base_dropout=True)
            guard_adapter(trainer.model)
            ds = trainer.train_dataset
            seq_tokens = [
                min(len(p) + max(len(c), len(r)), seq)
                for p, c, r in zip(
                    ds["prompt_ids"], ds["chosen_ids"], ds["rejected_ids"], strict=True
                )
            ]
            step_times: list[float] = []
            from transformers import TrainerCallback

            class Timer(TrainerCallback):
                def on_step_begin(self, a, s, c, **k):
                    torch.cuda.synchronize()
                    self.t = time.perf_counter()

                def on_step_end(self, a, s, c, **k):
                    torch.cuda.synchronize()
                    self.times.append(time.perf_counter() - self.t)

            timer = Timer()
            timer.times = step_times
            trainer.add_callback(timer)
            trainer.train()
            timed = step_times[1:] or step_times  # first step warms up
            tokens_per_step = (
                4 * 2 * sum(seq_tokens) / len(seq_tokens)
            )  # grad acc 4, chosen + rejected
            sec = sum(timed) / len(timed)
            results["runs"].append(
                {
                    "lora_dropout": dropout,
                    "seq_len": seq,
                    "s_per_step": round(sec, 3),
                    "tokens_per_s": round(tokens_per_step / sec, 1),
                    "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                    "mean_tokens_per_sequence": round(sum(seq_tokens) / len(seq_tokens), 1),
                    "rows_kept": len(seq_tokens),
                }
            )
            print(json.dumps(results["runs"][-1]), flush=True)
            del trainer
            torch.cuda.empty_cache()
        del model
        torch.cuda.empty_cache()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--short", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--gpu-suite", action="store_true")
    parser.add_argument(
        "--lora-dropout",
        type=float,
        default=0.05,
        help="CPU mode: adapter dropout for both tools. TRL's disable_dropout (on by default in "
        "`trl dpo`) zeroes it anyway, while train-dpo keeps it: 0 compares like with like",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.gpu_suite:
        results = gpu_suite(min(args.steps, 3))
    else:
        results = cpu_compare(args.steps, args.short, args.repeats, args.lora_dropout)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
