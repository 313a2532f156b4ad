"""`uv run merge-datasets --config configs/dpo_mix.yaml --output_dir DIR`: a thin shell over
`stemqa.train.merge`, so the same merge is a function call in tests and notebooks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stemqa.core.cli_args import ArgumentParser
from stemqa.train.merge import (
    LENGTH_POLICIES,
    ConfigError,
    MergeError,
    load_config,
    merge_preferences,
)
from stemqa.train.merge.config import parse_decontaminate


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="merge-datasets",
        renamed={"--out": "--output_dir"},
        description=(
            "Merge preference datasets (Hub ids or local files) into one DPO DatasetDict with "
            "prompt/chosen/rejected/source columns, split by prompt, following a YAML recipe."
        ),
    )
    parser.add_argument(
        "--config", required=True, type=Path, help="YAML recipe (see configs/dpo_mix.yaml)"
    )
    parser.add_argument(
        "--output_dir", required=True, type=Path, help="output folder (DatasetDict.save_to_disk)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output_dir")
    parser.add_argument("--seed", type=int, help="override the recipe's seed")
    parser.add_argument("--tokenizer", help="override the recipe's tokenizer (Hub id or folder)")
    parser.add_argument("--max_length", type=int, help="override the recipe's max_length")
    parser.add_argument("--length_policy", choices=LENGTH_POLICIES, help="override length_policy")
    parser.add_argument(
        "--decontaminate",
        nargs="+",
        metavar="EVAL",
        help="drop pairs sharing a 13-gram with these eval sets (adds to the recipe's list)",
    )
    parser.add_argument("--cache_dir", help="datasets cache folder for Hub and file sources")
    parser.add_argument("--no_progress", action="store_true", help="hide progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.no_progress:
        import datasets

        datasets.disable_progress_bars()
    try:
        config = load_config(args.config)
        if args.seed is not None:
            config.seed = args.seed
        if args.tokenizer is not None:
            config.tokenizer = args.tokenizer
        if args.max_length is not None:
            if args.max_length <= config.reserve_tokens:
                raise ConfigError("--max_length must be larger than reserve_tokens")
            config.max_length = args.max_length
        if args.length_policy is not None:
            config.length_policy = args.length_policy
        if args.decontaminate:
            config.decontaminate += parse_decontaminate(args.decontaminate, Path.cwd())
        if args.output_dir.exists() and any(args.output_dir.iterdir()) and not args.overwrite:
            raise ConfigError(
                f"--output_dir {args.output_dir} is not empty; pass --overwrite to replace it"
            )
        result = merge_preferences(config, cache_dir=args.cache_dir, progress=not args.no_progress)
        if args.output_dir.exists() and args.overwrite:
            import shutil

            shutil.rmtree(args.output_dir)
        result.save(args.output_dir)
    except MergeError as exc:
        print(f"merge-datasets: error: {exc}", file=sys.stderr)
        return 2
    print(result.table())
    print(
        f"\nSaved {result.stats['totals']['kept']} rows to {args.output_dir} (stats in {args.output_dir / 'stats.json'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
