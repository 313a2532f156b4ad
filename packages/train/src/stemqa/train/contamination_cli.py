"""`uv run check-contamination --train DATA... --eval DATA...`: which eval questions leaked.

A thin shell over `stemqa.train.contamination.check_contamination`; prints the table, writes the
JSON report with `--output_path` (the file `eval-mcqa --contamination-report` reads).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from stemqa.core.cli_args import ArgumentParser
from stemqa.train.contamination import (
    DEFAULT_N,
    ContaminationError,
    check_contamination,
    write_report,
)
from stemqa.train.mcqa_data import FORMATS


def build_parser() -> ArgumentParser:
    """The team's flag vocabulary (stemqa.core.cli_args): snake_case, dashed aliases accepted."""
    parser = ArgumentParser(
        prog="check-contamination",
        renamed={"--out": "--output_path"},
        description=(
            "Report, per training source and eval set, the eval questions that share an n-gram "
            "(13 normalized tokens by default, as GPT-3 / lm-eval decontamination) with any "
            "training text, with the shared span."
        ),
    )
    parser.add_argument(
        "--train",
        nargs="+",
        required=True,
        metavar="DATA",
        help="training data: a merge-datasets output folder, preference jsonl/json/parquet/csv, "
        "or MCQs in any layout eval-mcqa reads (train-mcqa's input)",
    )
    parser.add_argument(
        "--eval",
        nargs="+",
        required=True,
        metavar="DATA",
        help="eval questions: MMLU CSV file/folder, cais/mmlu parquet/jsonl, GPQA csv, course "
        "jsonl",
    )
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="n-gram length in tokens")
    parser.add_argument(
        "--train_format",
        default="auto",
        choices=("auto", "preference", "mcq", *FORMATS[1:]),
        help="auto: preference data when it has prompt/chosen/rejected, else MCQs",
    )
    parser.add_argument("--eval_format", default="auto", choices=FORMATS)
    parser.add_argument(
        "--output_path",
        type=Path,
        help="write the JSON report here (eval-mcqa --contamination_report reads it)",
    )
    parser.add_argument(
        "--list",
        type=int,
        default=20,
        metavar="N",
        help="overlaps to print (all are in --output_path)",
    )
    parser.add_argument("--no_progress", action="store_true", help="hide progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n < 1:
        print("check-contamination: error: --n must be at least 1", file=sys.stderr)
        return 2
    if args.no_progress:
        import datasets

        datasets.disable_progress_bars()
    try:
        report = check_contamination(
            args.train,
            args.eval,
            n=args.n,
            train_format=args.train_format,
            eval_format=args.eval_format,
            progress=not args.no_progress,
        )
    except ContaminationError as exc:
        print(f"check-contamination: error: {exc}", file=sys.stderr)
        return 2
    print(report.table(max_listed=args.list))
    if args.output_path is not None:
        print(f"\nReport: {write_report(report, args.output_path)} ({report.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
