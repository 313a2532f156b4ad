"""`uv run eval-mcqa`: a thin CLI over `stemqa.train.eval_mcqa.evaluate_mcqa`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from stemqa.core.answering import DEFAULT_K, DEFAULT_QUERY_MODE, METHODS, QUERY_MODES
from stemqa.core.cli_args import ArgumentParser
from stemqa.core.loading import QUANTIZATIONS
from stemqa.train.eval_mcqa import evaluate_mcqa, write_results
from stemqa.train.eval_parallel import init_from_env, is_main_process, process_device
from stemqa.train.mcqa_data import FORMATS, MCQDataError, load_mcqs

#: Flags renamed to the shared vocabulary (stemqa.core.cli_args); the old ones fail naming these.
RENAMED = {
    "--model": "--model_name_or_path",
    "--revision": "--model_revision",
    "--data": "--dataset_name",
    "--split": "--dataset_split",
    "--rag-index": "--index",
    "--rag_index": "--index",
    "--out": "--output_path",
}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="eval-mcqa",
        renamed=RENAMED,
        description=(
            "Evaluate a causal LM (optionally with a LoRA/DoRA adapter) on multiple-choice "
            "questions: accuracy per subject with 95%% Wilson intervals, invalid-answer rate, "
            "probability mass on the option letters; with --index, closed-book and "
            "with-context side by side."
        ),
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model_name_or_path", required=True, help="Hub id or local folder of the base model"
    )
    model.add_argument("--adapter", help="PEFT adapter folder or Hub id to put on the model")
    model.add_argument("--quantization", default="none", choices=QUANTIZATIONS)
    model.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when available)")
    model.add_argument("--dtype", help="float32, bfloat16, float16 (default: core's choice)")
    model.add_argument("--model_revision", help="model revision (branch, tag or commit)")

    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset_name",
        nargs="+",
        required=True,
        metavar="FILE_OR_ID",
        help="MMLU CSV file/folder, cais/mmlu-schema parquet/jsonl, GPQA csv, course jsonl, or a "
        "Hub id (cais/mmlu, Idavidrein/gpqa:gpqa_diamond)",
    )
    data.add_argument("--format", default="auto", choices=FORMATS)
    data.add_argument("--dataset_split", help="Hub split (default: test for MMLU, train for GPQA)")
    data.add_argument(
        "--subjects",
        nargs="+",
        help="keep only these subjects (e.g. college_physics machine_learning; "
        "groups: course, stem)",
    )
    data.add_argument("--limit", type=int, help="first N questions of each dataset")
    data.add_argument("--seed", type=int, default=0, help="GPQA option-shuffling seed")

    method = parser.add_argument_group("method")
    method.add_argument("--method", default="logits", choices=METHODS)
    method.add_argument("--batch_size", type=int, default=16)
    method.add_argument("--shots", type=int, default=0, help="worked examples before each question")
    method.add_argument(
        "--shots_from",
        nargs="+",
        metavar="FILE_OR_ID",
        help="where the worked examples come from (e.g. MMLU dev CSVs); default: the eval set, "
        "never the question itself",
    )
    method.add_argument("--max_new_tokens", type=int, default=8, help="generate method only")
    method.add_argument(
        "--no_subject_header",
        action="store_true",
        help="drop MMLU's 'The following are multiple choice questions about …' line",
    )

    rag = parser.add_argument_group("retrieval")
    rag.add_argument(
        "--index",
        metavar="DIR_OR_URL",
        help="document index to retrieve context from (a rag-ingest folder or http://HOST:PORT)",
    )
    rag.add_argument("--k", type=int, default=DEFAULT_K, help="passages per question")
    rag.add_argument(
        "--query_mode",
        default=DEFAULT_QUERY_MODE,
        choices=QUERY_MODES,
        help="retrieval query: the stem, the stem with its options, or both fused (default, "
        "measured best on the course questions)",
    )
    rag.add_argument(
        "--mode",
        help=(
            "retrieval mode of the index (dense, bm25, hybrid, or multi for an index built with "
            "rag-ingest --page-index; default: the index's)"
        ),
    )
    rag.add_argument(
        "--retriever_kind",
        default="chroma",
        help="entry point in the 'stemqa.retrievers' group (stemqa-rag registers 'chroma')",
    )
    rag.add_argument(
        "--retriever_option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra option for the retriever (repeatable), e.g. collection=stemqa",
    )

    trust = parser.add_argument_group("calibration and contamination")
    trust.add_argument(
        "--calibrate_on",
        nargs="+",
        metavar="FILE_OR_ID",
        help="held-out questions to fit a temperature on (never the test data); the results "
        "then show the calibration before and after, and calibration.json is written",
    )
    trust.add_argument(
        "--calibration_out",
        metavar="PATH",
        help="where to write calibration.json (default: the --adapter folder when it is a local "
        "folder, where `uv run demo` finds it; else beside --output_path)",
    )
    trust.add_argument(
        "--contamination_report",
        metavar="FILE",
        help="check-contamination --output_path JSON: flag those questions and report accuracy with "
        "and without them",
    )

    out = parser.add_argument_group("output")
    out.add_argument(
        "--output_path", default="results.json", help="JSON path; markdown goes beside it"
    )
    out.add_argument("--no_progress", action="store_true")
    return parser


def _options(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"eval-mcqa: --retriever_option expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def _load_all(sources: Sequence[str], args: argparse.Namespace) -> list:
    mcqs = []
    for source in sources:
        mcqs.extend(
            load_mcqs(
                source,
                format=args.format,
                subjects=args.subjects,
                split=args.dataset_split,
                seed=args.seed,
                limit=args.limit,
            )
        )
    return mcqs


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    init_from_env()  # under torchrun/accelerate launch: join the group, split the questions
    try:
        mcqs = _load_all(args.dataset_name, args)
        shot_pool = None
        if args.shots_from:
            shot_pool = []
            for source in args.shots_from:
                shot_pool.extend(
                    load_mcqs(source, format=args.format, subjects=args.subjects, seed=args.seed)
                )
        held_out = _load_all(args.calibrate_on, args) if args.calibrate_on else None
    except MCQDataError as exc:
        print(f"eval-mcqa: {exc}", file=sys.stderr)
        return 2
    problem = _calibration_problem(args, mcqs, held_out)
    if problem:
        print(f"eval-mcqa: {problem}", file=sys.stderr)
        return 2
    contaminated = None
    if args.contamination_report:
        from stemqa.train.contamination import ContaminationError, read_contaminated_ids

        try:
            contaminated = read_contaminated_ids(args.contamination_report)
        except ContaminationError as exc:
            print(f"eval-mcqa: --contamination_report: {exc}", file=sys.stderr)
            return 2

    retriever = None
    if args.index:
        from stemqa.core.retrieval import open_retriever

        options = _options(args.retriever_option)
        if args.mode:
            options["mode"] = args.mode
        try:
            retriever = open_retriever(args.index, kind=args.retriever_kind, **options)
        except (LookupError, TypeError, ValueError, OSError) as exc:
            print(f"eval-mcqa: cannot open --index {args.index!r}: {exc}", file=sys.stderr)
            return 2

    from stemqa.core import ModelLoadError, load_model

    try:
        model, tokenizer = load_model(
            args.model_name_or_path,
            adapter=args.adapter,
            quantization=args.quantization,
            device=process_device(args.device),
            dtype=args.dtype,
            revision=args.model_revision,
        )
    except ModelLoadError as exc:
        print(f"eval-mcqa: {exc}", file=sys.stderr)
        return 2

    config = {
        k: v
        for k, v in vars(args).items()
        if k not in ("no_progress",) and v not in (None, [], False)
    }
    from stemqa.core import PromptTooLongError

    calibration = None
    try:
        if held_out is not None:
            calibration = _fit(model, tokenizer, held_out, args, retriever)
        result = evaluate_mcqa(
            model,
            tokenizer,
            mcqs,
            method=args.method,
            batch_size=args.batch_size,
            shots=args.shots,
            shot_pool=shot_pool,
            retriever=retriever,
            k=args.k,
            query_mode=args.query_mode,
            max_new_tokens=args.max_new_tokens,
            subject_header=not args.no_subject_header,
            progress=not args.no_progress and is_main_process(),
            config=config,
            calibration=calibration,
            contaminated=contaminated,
            contamination_report=args.contamination_report,
        )
    except PromptTooLongError as exc:
        print(f"eval-mcqa: {exc}", file=sys.stderr)
        return 2
    if not is_main_process():
        return 0  # rank 0 holds the same gathered result and writes the one result file
    json_path, md_path = write_results(result, args.output_path)
    print(result.to_markdown())
    print(f"wrote {json_path} and {md_path}")
    if calibration is not None:
        from stemqa.train.calibration import save_calibration

        saved = save_calibration(calibration, _calibration_path(args))
        print(f"wrote {saved} (T = {calibration.temperature:.3f})")
    return 0


def _calibration_problem(args: argparse.Namespace, mcqs: list, held_out: list | None) -> str:
    """Refuse to fit a temperature on the test questions themselves, or without probabilities."""
    if held_out is None:
        return ""
    if args.method != "logits":
        return "--calibrate_on needs --method logits (generate has no option probabilities)"
    test = {(m.question, m.choices) for m in mcqs}
    shared = [m for m in held_out if (m.question, m.choices) in test]
    if shared:
        return (
            f"--calibrate_on shares {len(shared)} question(s) with --dataset_name (first: "
            f"{shared[0].source or shared[0].question[:60]!r}); fit the temperature on held-out "
            "questions (e.g. MMLU's dev or val split), never on the test data"
        )
    return ""


def _fit(model: Any, tokenizer: Any, held_out: list, args: argparse.Namespace, retriever: Any):
    from stemqa.train.eval_calibration import fit_calibration

    held = evaluate_mcqa(
        model,
        tokenizer,
        held_out,
        method="logits",
        batch_size=args.batch_size,
        retriever=retriever,
        k=args.k,
        query_mode=args.query_mode,
        subject_header=not args.no_subject_header,
        progress=not args.no_progress,
    )
    return fit_calibration(held, fitted_on=" ".join(args.calibrate_on))


def _calibration_path(args: argparse.Namespace):
    from pathlib import Path

    if args.calibration_out:
        return Path(args.calibration_out)
    if args.adapter and Path(args.adapter).is_dir():
        return Path(args.adapter)
    out = Path(args.output_path)
    return out.with_name(f"{out.stem}.calibration.json")


if __name__ == "__main__":
    raise SystemExit(main())
