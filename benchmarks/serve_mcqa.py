"""MCQA serving throughput: concurrent users against a real `demo` server, batched vs one by one.

Starts the real app (`python -m stemqa.demo.cli`, the same as `uv run demo`) twice on
loopback with a tiny random-weight model: once with ``--max-batch-size 1`` (each question
scored alone: the baseline) and once with the default micro-batching (``--max-batch-size 16``).
For N = 1, 4, 16, 32 concurrent gradio_client users (one Client each, as separate browser
sessions would be), every user asks ``--per-user`` questions back to back through the
``/mcqa`` API; throughput is questions answered per second of wall time, latency is each
request's round trip. Both servers run in the same invocation, and ``--repeats`` alternates
them so drift on a shared machine hits both alike.

The default model is wider than `make-tiny-model`'s (``--hidden 320 --layers 4``, head size
80 as phi-2's, so the partial rotary dimension is phi-2's 32), so the forward pass, not Gradio's
per-request overhead, is what batching shares; ``--hidden 64 --layers 2`` is the test suite's
tiny model.

    uv run python benchmarks/serve_mcqa.py                      # N = 1 4 16 32, 1 repeat
    uv run python benchmarks/serve_mcqa.py --users 16 --repeats 3 --json out.json
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import print_table, write_json

SUBJECTS = ["capacitor", "entropy", "photon", "lattice", "torque", "enzyme", "isotope"]


def question(i: int) -> str:
    """A long-ish 4-option question (about 150 tokens, like an MMLU question)."""
    topic = SUBJECTS[i % len(SUBJECTS)]
    stem = (
        f"Question {i}: a student measures the {topic} in a laboratory experiment several "
        "times under carefully controlled conditions and records every value in a table. "
        "Which of the following statements about the systematic and random errors of these "
        f"repeated measurements of the {topic} is most accurate?"
    )
    options = "\n".join(
        f"{letter}. statement {letter} about the {topic}: the errors are {kind}"
        for letter, kind in zip(
            "ABCD", ["independent", "correlated", "negligible", "dominant"], strict=True
        )
    )
    return f"{stem}\n{options}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, work: Path, batch: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    data = work / f"data-b{batch}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    cmd = [sys.executable, "-m", "stemqa.demo.cli", "--model_name_or_path", str(model)]
    cmd += ["--data_dir"]
    cmd += [str(data), "--port", str(port), "--max_batch_size", str(batch)]
    cmd += ["--queue_size", "256"]
    log = (work / f"server-b{batch}.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    from gradio_client import Client

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo exited: see {log.name}")
        try:
            status = Client(url, verbose=False).predict(api_name="/status")
            if status["model"] == "ready":
                return proc, url
        except Exception:
            pass
        time.sleep(1)
    proc.kill()
    raise SystemExit(f"demo not ready after 300 s: see {log.name}")


def load(url: str, users: int, per_user: int) -> dict:
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in range(users)]
    for c in clients[:1]:  # warm-up: first request pays one-time costs
        c.predict(question(0), "", False, 3, api_name="/mcqa")
    latencies: list[float] = []

    def user(u: int) -> list[float]:
        out = []
        for j in range(per_user):
            t0 = time.perf_counter()
            html, *_ = clients[u].predict(
                question(u * per_user + j), "", False, 3, api_name="/mcqa"
            )
            out.append(time.perf_counter() - t0)
            assert "data-letter" in html, html
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        for lat in pool.map(user, range(users)):
            latencies += lat
    wall = time.perf_counter() - start
    latencies.sort()
    return {
        "questions": len(latencies),
        "throughput_qps": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--per-user", type=int, default=6, help="questions each user asks")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16, help="the batched server's batch size")
    parser.add_argument("--hidden", type=int, default=320)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from stemqa.core.tiny_model import make_tiny_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = make_tiny_model(
            work / "model",
            hidden_size=args.hidden,
            num_hidden_layers=args.layers,
            intermediate_size=4 * args.hidden,
            num_attention_heads=max(1, args.hidden // 80),
        )
        servers = {b: start_server(model, work, b) for b in (1, args.batch)}
        try:
            results: dict[tuple[int, int], list[dict]] = {}
            for _ in range(args.repeats):
                for users in args.users:
                    for b in (1, args.batch):  # alternate: drift hits both alike
                        r = load(servers[b][1], users, args.per_user)
                        results.setdefault((users, b), []).append(r)
                        print(json.dumps({"users": users, "batch": b, **r}), flush=True)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(30)
    for users in args.users:
        one, many = results[(users, 1)], results[(users, args.batch)]
        med = lambda rs, key: statistics.median(r[key] for r in rs)  # noqa: E731
        spread = lambda rs: (  # noqa: E731
            max(r["throughput_qps"] for r in rs) / min(r["throughput_qps"] for r in rs)
        )
        rows.append(
            {
                "users": users,
                "one_qps": med(one, "throughput_qps"),
                "batched_qps": med(many, "throughput_qps"),
                "ratio": med(many, "throughput_qps") / med(one, "throughput_qps"),
                "one_p50_ms": med(one, "p50_ms"),
                "one_p95_ms": med(one, "p95_ms"),
                "batched_p50_ms": med(many, "p50_ms"),
                "batched_p95_ms": med(many, "p95_ms"),
                "repeat_spread": max(spread(one), spread(many)),
            }
        )
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
        f"model hidden {args.hidden} x {args.layers} layers; {args.per_user} questions/user; "
        f"{args.repeats} repeat(s)"
    )
    print_table(
        [
            "users",
            "one-by-one q/s",
            "batched q/s",
            "ratio",
            "p50 / p95 ms one-by-one",
            "p50 / p95 ms batched",
            "max/min over repeats",
        ],
        [
            [
                r["users"],
                f"{r['one_qps']:.1f}",
                f"{r['batched_qps']:.1f}",
                f"{r['ratio']:.2f}x",
                f"{r['one_p50_ms']:.0f} / {r['one_p95_ms']:.0f}",
                f"{r['batched_p50_ms']:.0f} / {r['batched_p95_ms']:.0f}",
                f"{r['repeat_spread']:.2f}",
            ]
            for r in rows
        ],
        align="rrrrll",
    )
    write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
