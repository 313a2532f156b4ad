"""Benchmark train-dpo against plain `trl dpo` on the same recipe.

Levers (default, CPU): time per epoch of `trl dpo` and of train-dpo with one speed lever at a
time, on the tiny model (4-bit NF4 + DoRA r16 on q/k/v/dense, batch 1 x grad acc 4, lr 5e-5,
beta 0.1, max_length 2048, gradient checkpointing, lora_dropout 0.05: the shipped recipe's
shape), in ONE process, interleaved: each repeat runs every configuration once, in a rotated
order, so machine load hits all of them alike. Time per epoch = Trainer.train() wall time plus
the reference log-prob precompute (which TRL runs in the trainer's constructor). Each run also
reports its final train loss and the reward accuracy on a held-out test split (evaluated after
the timer), so a lever that changes results shows.

    uv run python benchmarks/dpo_step.py [--rows 128] [--repeats 3] [--levers a,b] [--out f.json]

Per-step (--per-step): the older subprocess comparison of seconds per optimizer step
(N_long - N_short steps so start-up cancels), kept so earlier numbers in docs/BENCHMARKS.md
reproduce:

    uv run python benchmarks/dpo_step.py --per-step [--steps 12] [--lora-dropout 0]

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


#: train-dpo flags for runs without evaluation (trl dpo has no early stopping or test split).
NO_EVAL = [
    "--early_stopping_patience",
    "0",
    "--load_best_model_at_end",
    "false",
    "--dataset_test_split",
    "none",
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
        "train-dpo": [str(bin_dir / "train-dpo"), *NO_EVAL],
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


#: train-dpo with every lever off: the same work as `trl dpo` (the "unoptimized path").
UNOPTIMIZED = ["--auto_batch", "false", "--precompute_ref_log_probs", "false"]

#: name -> (tool, extra flags after SHARED). One lever per train-dpo row, against UNOPTIMIZED.
CONFIGS: dict[str, tuple[str, list[str]]] = {
    "trl dpo": ("trl", []),
    "train-dpo unoptimized": ("stemqa", UNOPTIMIZED),
    "precompute_ref_log_probs": (
        "stemqa",
        ["--auto_batch", "false", "--precompute_ref_log_probs", "true"],
    ),
    "gradient checkpointing off": (
        "stemqa",
        [*UNOPTIMIZED, "--gradient_checkpointing", "false"],
    ),
    "micro-batch 4 x grad acc 1": (
        "stemqa",
        [*UNOPTIMIZED, "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1"],
    ),
    "lora_dropout 0 (DoRA fast path; changes results)": (
        "stemqa",
        [*UNOPTIMIZED, "--lora_dropout", "0"],
    ),
    "torch.compile": ("stemqa", [*UNOPTIMIZED, "--torch_compile", "true"]),
    "train-dpo default (auto_batch)": ("stemqa", []),
    "train-dpo default + precompute_ref_log_probs": (
        "stemqa",
        ["--precompute_ref_log_probs", "true"],
    ),
}


def _lever_data(folder: Path, rows: int, test_rows: int) -> Path:
    """train.jsonl (``rows``) and test.jsonl (``test_rows``) of the arithmetic preference task;
    prompts and answers vary in length (the batching levers need that to show)."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    fillers = ["", " Think step by step.", " Please be brief and exact in your reply to this."]
    for split, n in (("train", rows), ("test", test_rows)):
        with (folder / f"{split}.jsonl").open("w") as fh:
            for _ in range(n):
                a, b = rng.randint(1, 999), rng.randint(1, 999)
                row = {
                    "prompt": f"Question: what is {a} plus {b}?{rng.choice(fillers)}\nAnswer:",
                    "chosen": f" The answer is {a + b}." + " Done." * rng.randint(0, 6),
                    "rejected": " I do not know." + " Sorry." * rng.randint(0, 6),
                }
                fh.write(json.dumps(row) + "\n")
    return folder


class _Capture:
    """Times DPOTrainer.train and the reference precompute, and keeps the trainer (both tools
    build a DPOTrainer), so that every configuration is measured the same way."""

    def __init__(self) -> None:
        from trl import DPOTrainer

        self.reset()
        capture = self
        train, precompute = DPOTrainer.train, DPOTrainer._precompute_ref_logps

        def timed_train(trainer, *args, **kwargs):
            start, cpu = time.perf_counter(), time.process_time()
            out = train(trainer, *args, **kwargs)
            capture.train_s += time.perf_counter() - start
            capture.train_cpu_s += time.process_time() - cpu
            capture.trainer, capture.output = trainer, out
            return out

        def timed_precompute(trainer, dataset, name, batch_size):
            start, cpu = time.perf_counter(), time.process_time()
            out = precompute(trainer, dataset, name, batch_size)
            if name == "train":
                capture.precompute_s += time.perf_counter() - start
                capture.precompute_cpu_s += time.process_time() - cpu
            return out

        DPOTrainer.train = timed_train
        DPOTrainer._precompute_ref_logps = timed_precompute

    def reset(self) -> None:
        self.train_s = 0.0
        self.precompute_s = 0.0
        self.train_cpu_s = 0.0
        self.precompute_cpu_s = 0.0
        self.trainer = None
        self.output = None


def _run_config(tool: str, argv: list[str]) -> None:
    if tool == "trl":
        from trl.scripts.dpo import main as trl_main
        from trl.scripts.dpo import make_parser

        parsed = make_parser().parse_args_and_config(args=argv, fail_with_unknown_args=False)
        trl_main(*parsed[:4])
    else:
        from stemqa.train.dpo import parse_args, run_dpo

        run_dpo(*parse_args(argv))


def cpu_levers(rows: int, repeats: int, names: list[str], test_rows: int = 32) -> dict:
    import shutil
    import statistics

    import torch

    from stemqa.core.tiny_model import make_tiny_model

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="dpo-levers-"))
    model = make_tiny_model(work / "tiny")
    data = _lever_data(work / "data-src", rows, test_rows)
    capture = _Capture()
    from datasets import load_dataset

    test = load_dataset("json", data_files={"test": str(data / "test.jsonl")})["test"]
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for repeat in range(repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            tool, extra = CONFIGS[name]
            run_dir = work / f"r{repeat}-c{names.index(name)}"
            # a fresh copy per run: TRL caches precomputed log-probs by dataset fingerprint
            shutil.copytree(data, run_dir / "data")
            argv = [
                "--model_name_or_path",
                str(model),
                "--dataset_name",
                str(run_dir / "data"),
                "--output_dir",
                str(run_dir / "out"),
                "--num_train_epochs",
                "1",
                *SHARED,
                "--logging_steps",
                "1000",
                "--disable_tqdm",
                "true",
            ]
            if tool == "stemqa":
                argv += [*NO_EVAL, *extra]
            capture.reset()
            record: dict = {"repeat": repeat}
            try:
                _run_config(tool, argv)
            except Exception as exc:  # a lever that does not work here is a result too
                record["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                runs[name].append(record)
                print(json.dumps({"config": name, **record}), flush=True)
                continue
            trainer = capture.trainer
            record["epoch_s"] = capture.train_s + capture.precompute_s
            record["precompute_s"] = capture.precompute_s
            record["epoch_cpu_s"] = capture.train_cpu_s + capture.precompute_cpu_s
            record["train_loss"] = capture.output.training_loss
            record["micro_batch"] = trainer.args.per_device_train_batch_size
            record["gradient_checkpointing"] = bool(trainer.args.gradient_checkpointing)
            try:
                metrics = trainer.evaluate(eval_dataset=test, metric_key_prefix="test")
            except Exception as exc:
                metrics = {}
                record["error"] = f"test evaluation: {type(exc).__name__}: {exc}"[:200]
            record["test_reward_accuracy"] = metrics.get(
                "test_rewards/accuracies", metrics.get("eval_rewards/accuracies", float("nan"))
            )
            runs[name].append(record)
            print(json.dumps({"config": name, **record}), flush=True)
            del trainer
            capture.reset()
    baseline = {r["repeat"]: r for r in runs.get("trl dpo", []) if "epoch_s" in r}
    table = []
    for name in names:
        ok = [r for r in runs[name] if "epoch_s" in r]
        row: dict = {"config": name, "runs": len(runs[name]), "ok": len(ok)}
        if ok:
            times = [r["epoch_s"] for r in ok]
            cpu = [r["epoch_cpu_s"] for r in ok]
            row.update(
                epoch_s_min=min(times),
                epoch_s_median=statistics.median(times),
                spread=(max(times) - min(times)) / statistics.median(times),
                epoch_cpu_s_min=min(cpu),
                epoch_cpu_s_median=statistics.median(cpu),
                cpu_spread=(max(cpu) - min(cpu)) / statistics.median(cpu),
                train_loss=statistics.mean(r["train_loss"] for r in ok),
                test_reward_accuracy=statistics.mean(r["test_reward_accuracy"] for r in ok),
                micro_batch=ok[0]["micro_batch"],
                gradient_checkpointing=ok[0]["gradient_checkpointing"],
            )
            for key, suffix in (("epoch_s", ""), ("epoch_cpu_s", "_cpu")):
                paired = [
                    r[key] / baseline[r["repeat"]][key] for r in ok if r["repeat"] in baseline
                ]
                if paired:
                    row.update(
                        {
                            f"ratio{suffix}_min": min(paired),
                            f"ratio{suffix}_median": statistics.median(paired),
                            f"ratio{suffix}_max": max(paired),
                        }
                    )
        else:
            row["error"] = runs[name][0].get("error") if runs[name] else None
        table.append(row)
    return {
        "table": table,
        "runs": runs,
        "settings": {
            "rows": rows,
            "test_rows": test_rows,
            "repeats": repeats,
            "model": "tiny phi (stemqa.core.tiny_model)",
            "threads": 1,
            "cpus": os.cpu_count(),
            "load_avg_at_end": os.getloadavg(),
        },
    }


def print_table(results: dict) -> None:
    """Markdown: CPU seconds of this process per epoch (robust to other processes' load on a
    shared machine) and wall seconds, each with the ratio to `trl dpo` paired by repeat."""
    print(
        "| configuration | CPU s/epoch median (spread) | ratio vs trl dpo, CPU: min / median "
        "/ max | wall s/epoch median (spread) | ratio, wall: min / median / max | train loss "
        "| test reward acc | micro-batch | ckpt |"
    )
    print("|---|---|---|---|---|---|---|---|---|")

    def ratio(row: dict, suffix: str) -> str:
        if f"ratio{suffix}_min" not in row:
            return "-"
        return " / ".join(f"{row[f'ratio{suffix}_{k}']:.2f}" for k in ("min", "median", "max"))

    for row in results["table"]:
        if "epoch_s_min" not in row:
            print(f"| {row['config']} | failed: {row.get('error')} | | | | | | | |")
            continue
        print(
            f"| {row['config']} | {row['epoch_cpu_s_median']:.1f} ({row['cpu_spread']:.0%}) | "
            f"{ratio(row, '_cpu')} | {row['epoch_s_median']:.1f} ({row['spread']:.0%}) | "
            f"{ratio(row, '')} | {row['train_loss']:.4f} | {row['test_reward_accuracy']:.3f} | "
            f"{row['micro_batch']} | {'on' if row['gradient_checkpointing'] else 'off'} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=128, help="levers: training rows (1 epoch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--levers",
        default=",".join(CONFIGS),
        help="levers: comma-separated configuration names (default: all). Known: "
        + "; ".join(CONFIGS),
    )
    parser.add_argument("--per-step", action="store_true", help="the older per-step comparison")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--short", type=int, default=2)
    parser.add_argument("--gpu-suite", action="store_true")
    parser.add_argument(
        "--lora-dropout",
        type=float,
        default=0.05,
        help="--per-step: adapter dropout for both tools. TRL's disable_dropout (on by default in "
        "`trl dpo`) zeroes it anyway, while train-dpo keeps it: 0 compares like with like",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.gpu_suite:
        results = gpu_suite(min(args.steps, 3))
    elif args.per_step:
        results = cpu_compare(args.steps, args.short, args.repeats, args.lora_dropout)
    else:
        names = [n.strip() for n in args.levers.split(",") if n.strip()]
        unknown = [n for n in names if n not in CONFIGS]
        if unknown:
            parser.error(f"unknown --levers {unknown}; known: {list(CONFIGS)}")
        if "trl dpo" not in names:
            names.insert(0, "trl dpo")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        results = cpu_levers(args.rows, args.repeats, names)
    text = json.dumps(results, indent=2)
    print(text)
    if "table" in results:
        print_table(results)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
