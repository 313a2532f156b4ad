"""``uv run export-model RUN_OR_ADAPTER --output_dir DIR [--dtype bfloat16|float16|float32] [--repo_id REPO]``.

Flags follow the shared vocabulary (stemqa.core.cli_args): ``--output_dir`` and ``--repo_id``
as in every other command; ``--out`` and ``--push-to`` fail with a line naming them.

Merges a train-dpo/train-mcqa adapter (and the adapters it was trained on top of) into the
full-precision base model and writes a folder that vLLM, TGI, llama.cpp converters and plain
``transformers`` load without peft. See :mod:`stemqa.train.export` for the merge rules.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from stemqa.core.cli_args import ArgumentParser
from stemqa.train.export import EXPORT_DTYPES


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="export-model",
        renamed={"--out": "--output_dir", "--push-to": "--repo_id", "--push_to": "--repo_id"},
        description="Merge a trained adapter into its base model and write a standalone "
        "transformers folder (safetensors, config, tokenizer, generation config, model card).",
    )
    parser.add_argument("source", help="output_dir of a training run, or an adapter folder")
    parser.add_argument("--output_dir", required=True, help="new (or empty) folder")
    parser.add_argument(
        "--dtype",
        default="bfloat16",
        choices=EXPORT_DTYPES,
        help="dtype of the written weights (the merge itself runs in float32)",
    )
    parser.add_argument(
        "--base",
        default=None,
        help="full-precision base model to merge into (default: the run's base_model); use it "
        "for a local copy of a Hub id, or when the recorded base is a quantized checkpoint",
    )
    parser.add_argument("--max_shard_size", default="5GB", help="safetensors shard size")
    parser.add_argument(
        "--repo_id",
        default=None,
        metavar="REPO",
        help="also upload the folder to this Hub repo (USER/NAME), in one commit",
    )
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from tqdm.auto import tqdm

    from stemqa.core.loading import ModelLoadError
    from stemqa.train.export import ExportError, export_model
    from stemqa.train.push import PushError

    bar = tqdm(desc="export-model", unit="step", disable=args.no_progress)

    def progress(message: str) -> None:
        bar.set_postfix_str(message[-60:])
        bar.update(1)

    try:
        result = export_model(
            args.source,
            args.output_dir,
            dtype=args.dtype,
            base=args.base,
            max_shard_size=args.max_shard_size,
            push_to=args.repo_id,
            private=args.private,
            progress=progress,
        )
    except (ExportError, ModelLoadError, PushError) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    merged = [s for s in result.chain if s.merged]
    print(
        f"Merged {len(merged)} adapter(s) into {merged[0].base_model if merged else '?'} -> "
        f"{result.out} ({result.dtype}, {len(result.files)} files)"
    )
    for step in result.chain:
        note = "merged" if step.merged else "continued by the next run (already inside it)"
        print(f"  {step.method}: {step.adapter}  [{note}]")
    if result.url:
        print(f"Uploaded to {result.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
