"""`uv run demo`: start the app. Every flag also reads an environment variable (see --help)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from stemqa.core.cli_args import ArgumentParser
from stemqa.demo.settings import ENV_VARS, QUANTIZATION_CHOICES, Settings, SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="demo",
        renamed={"--model": "--model_name_or_path"},
        description="stemqa's Gradio app: MCQA, chat, documents and model tabs.",
        epilog="Flags override environment variables, which override the defaults.",
    )

    def add(flag: str, key: str, help: str, **kwargs: object) -> None:
        parser.add_argument(
            flag, dest=key, default=None, help=f"{help} [env {ENV_VARS[key]}]", **kwargs
        )  # type: ignore[arg-type]

    add(
        "--model_name_or_path",
        "model",
        "Hub id or local folder of the base model (default microsoft/phi-2)",
    )
    add("--adapter", "adapter", "PEFT adapter folder or Hub id applied on top of the model")
    add(
        "--quantization",
        "quantization",
        "auto: nf4 on CUDA, none on CPU",
        choices=QUANTIZATION_CHOICES,
    )
    add(
        "--index",
        "index",
        "folder of the embedded Chroma index (default <data_dir>/index)",
        type=Path,
    )
    add("--chroma_host", "chroma_host", "use a `chroma run` server instead of the embedded store")
    add("--chroma_port", "chroma_port", "port of the Chroma server (default 8000)", type=int)
    add("--embedding_model", "embedding_model", "sentence-transformers model for the index")
    add("--data_dir", "data_dir", "where the index, uploads and caches live", type=Path)
    add("--runs_dir", "runs_dir", "training runs listed in the Model tab", type=Path)
    add("--host", "host", "address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    add("--port", "port", "port to listen on (default 7860)", type=int)
    add("--max_upload_mb", "max_upload_mb", "largest PDF accepted (default 50)", type=int)
    add(
        "--model_concurrency",
        "model_concurrency",
        "requests using the model at once (default 1)",
        type=int,
    )
    add("--queue_size", "queue_size", "requests waiting before 'queue full' (default 64)", type=int)
    add("--max_new_tokens", "max_new_tokens", "default chat answer length (default 256)", type=int)
    add(
        "--max_batch_size",
        "max_batch_size",
        "MCQA questions of concurrent users scored in one forward pass (default 16; 1: one by one)",
        type=int,
    )
    add(
        "--confidence_threshold",
        "confidence_threshold",
        "MCQA answers below this calibrated confidence show as 'not sure' (default 0.5)",
        type=float,
    )
    add(
        "--calibration",
        "calibration",
        "calibration.json from eval-mcqa --calibrate_on (default: next to the adapter)",
        type=Path,
    )
    add(
        "--read_only_library",
        "read_only_library",
        "visitors cannot change the shared library; each adds private documents instead",
        action="store_true",
    )
    add(
        "--session_ttl_minutes",
        "session_ttl_minutes",
        "remove a browser session's private documents after this long unused (default 1440)",
        type=int,
    )
    add(
        "--auth",
        "auth",
        "USER:PASS[,USER:PASS...]: require a login; each user keeps a persistent library "
        "(prefer the variable: flags show in the process list)",
    )
    add(
        "--hf_oauth",
        "hf_oauth",
        "show 'Sign in with Hugging Face' (default: on a Space with hf_oauth)",
        action="store_true",
    )
    parser.add_argument(
        "--no_model", action="store_true", help="start without loading a model (documents only)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in vars(args).items() if k != "no_model"}
    try:
        settings = Settings.from_env(**overrides)
    except SettingsError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    if args.no_model:
        settings.load_model_on_start = False

    from stemqa.demo.app import build_app, launch  # imports gradio: after argument errors

    demo = build_app(settings)
    print(
        f"stemqa demo: data folder {settings.data_dir}; loading {settings.model} in the background"
    )
    launch(demo, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
