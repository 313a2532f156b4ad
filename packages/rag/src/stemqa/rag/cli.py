"""`rag-ingest`, `rag-query`, `rag-eval`: thin command lines over `stemqa.rag.Index`.

Exit codes: 0 success; 1 some input was skipped or nothing matched (the rest still done);
2 bad arguments or an index/config problem (the message says which setting or path).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from stemqa.core.retrieval import cite
from stemqa.rag.config import IndexConfig
from stemqa.rag.embeddings import EmbeddingModelError
from stemqa.rag.errors import RagIndexError
from stemqa.rag.index import Index, IngestReport, outdated_note
from stemqa.rag.locking import DEFAULT_LOCK_TIMEOUT
from stemqa.rag.nltk_data import NltkDataError
from stemqa.rag.retriever import page_index, page_index_where, retriever_for
from stemqa.rag.retrievers import DEFAULT_MODE, MODES, PAGE_INDEX_MODES

USER_ERRORS = (RagIndexError, EmbeddingModelError, NltkDataError, ValueError)
#: What --mode accepts: one index's modes, then those that also need its page index.
ALL_MODES = MODES + PAGE_INDEX_MODES
MODE_HELP = (
    f"{', '.join(MODES)} (one index) or multi (also its page index, from rag-ingest "
    "--page-index: the measured-best ranking, docs/BENCHMARKS.md)"
)


def _index_args(parser: argparse.ArgumentParser, *, building: bool) -> None:
    parser.add_argument("--index", help="index folder (Chroma store + BM25 index)")
    parser.add_argument("--chroma-host", help="use a Chroma server instead of an index folder")
    parser.add_argument("--chroma-port", type=int, default=None, help="Chroma server port (8000)")
    parser.add_argument("--collection", default="stemqa", help="Chroma collection name")
    if building:
        IndexConfig.add_arguments(parser)
        parser.add_argument("--max-pages", type=int, default=None, help="skip longer PDFs")
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=DEFAULT_LOCK_TIMEOUT,
            help="seconds to wait while another process writes to the same index "
            f"({DEFAULT_LOCK_TIMEOUT:g}; then fail with a message)",
        )


def _open(args: argparse.Namespace, *, create: bool) -> Index:
    if not args.index and not args.chroma_host:
        raise RagIndexError("give --index DIR or --chroma-host HOST")

    return Index(
        args.index,
        config=IndexConfig.from_options(vars(args)),
        chroma_host=args.chroma_host,
        chroma_port=args.chroma_port,
        collection=args.collection,
        create=create,
        max_pages=getattr(args, "max_pages", None),
        lock_timeout=getattr(args, "lock_timeout", DEFAULT_LOCK_TIMEOUT),
    )


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


class _TqdmProgress:
    """Adapts Index.add's gr.Progress-style callback to a tqdm bar (percent of the work)."""

    def __init__(self, disable: bool) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=100, unit="%", disable=disable, file=sys.stderr, leave=False)

    def __call__(self, fraction: float, desc: str = "") -> None:
        self.bar.set_description_str(desc[:60])
        self.bar.update(max(0, round(fraction * 100) - self.bar.n))

    def close(self) -> None:
        self.bar.close()


def ingest_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rag-ingest",
        description="Add PDFs (files or folders, recursive) to an index; re-runs are idempotent.",
    )
    parser.add_argument("paths", nargs="*", help="PDF files or folders")
    _index_args(parser, building=True)
    parser.add_argument("--list", action="store_true", help="list indexed documents and exit")
    parser.add_argument("--delete", metavar="SOURCE", action="append", help="remove a document")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--page-index",
        action="store_true",
        help="also build a companion index of the same files with one entry per page, at "
        "INDEX/pages (same embedder), for `rag-query --mode multi`, the measured-best retrieval; "
        "meant with --chunk-size 500 --chunk-overlap 100 for the main index (not forced). It "
        "adds about a third to the ingest time (17 s on top of 58 s, five course PDFs). Once it "
        "exists, every rag-ingest and --delete keeps it in step (a server: collection "
        "COLLECTION-pages)",
    )
    args = parser.parse_args(argv)
    if not args.paths and not args.list and not args.delete:
        parser.error("give PDF files/folders to ingest, --list or --delete SOURCE")
    try:
        index = _open(args, create=bool(args.paths))
        # An existing page index is always kept in step; --page-index creates it.
        pages = page_index(index, create=bool(args.paths) and args.page_index)
    except USER_ERRORS as exc:
        return _fail(str(exc))
    try:
        return _ingest(index, pages, args)
    except USER_ERRORS as exc:  # another writer past --lock-timeout, a server that died...
        return _fail(str(exc))


def _ingest(index: Index, pages: Index | None, args: argparse.Namespace) -> int:
    status = 0
    for source in args.delete or ():
        removed = index.delete(source)
        from_pages = pages.delete(source) if pages is not None else 0
        if removed or from_pages:
            also = f", {from_pages} from the page index" if pages is not None else ""
            print(f"deleted {source}: {removed} chunks{also}")
        if not removed:
            known = ", ".join(d.source for d in index.documents()) or "none"
            print(f"error: {source!r} is not in the index (indexed: {known})", file=sys.stderr)
            status = 1
    if args.paths:
        for target, label in ((index, ""), (pages, "page index: ")):
            if target is None:
                continue
            report = _add(target, args)
            if report is None:
                return 130
            print(label + report.summary())
            if report.skipped:
                status = 1
    if args.list:
        _list(index, pages)
    return status


def _add(index: Index, args: argparse.Namespace) -> IngestReport | None:
    """`index.add(args.paths)` under a progress bar; None when interrupted (Ctrl-C)."""
    bar = _TqdmProgress(disable=args.quiet or not sys.stderr.isatty())
    try:
        return index.add(args.paths, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        print(
            "interrupted: what was written is kept; run the same command again to finish "
            "(finished files are skipped, partial ones resumed)",
            file=sys.stderr,
        )
        return None
    finally:
        bar.close()


def _list(index: Index, pages: Index | None) -> None:
    docs = index.documents()
    if not docs:
        print("(index is empty)")
    for doc in docs:
        line = f"{doc.source}\t{doc.pages} pages\t{doc.chunks} chunks\tadded {doc.added}"
        if not doc.complete:
            line += f"\t{doc.state.upper()}: {doc.note}"
        if doc.outdated:
            line += f"\tOUTDATED: {outdated_note(doc)}"
        print(line)
    if pages is None:
        return
    in_pages = {d.source: d for d in pages.documents()}
    served = [d for d in in_pages.values() if d.complete]
    print(
        f"page index at {page_index_where(index)}: {len(served)} documents, "
        f"{sum(d.chunks for d in served)} pages (for rag-query --mode multi)"
    )
    behind = [
        d.source
        for d in docs
        if d.source not in in_pages
        or not in_pages[d.source].complete
        or in_pages[d.source].sha256 != d.sha256
    ]
    if behind:
        print(f"page index: not in step for {', '.join(behind)}: rerun rag-ingest on them")


def query_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rag-query", description="Retrieve passages for a question."
    )
    parser.add_argument("question")
    _index_args(parser, building=False)
    parser.add_argument("-k", type=int, default=5, help="number of passages (5)")
    parser.add_argument("--mode", choices=ALL_MODES, default=DEFAULT_MODE, help=MODE_HELP)
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args(argv)
    try:
        retriever = retriever_for(_open(args, create=False), mode=args.mode, k=args.k)
        passages = retriever.retrieve(args.question)
    except USER_ERRORS as exc:
        return _fail(str(exc))
    if args.json:
        rows = [
            {
                "source": p.source,
                "page": p.page,  # 0-based, as in LangChain; page_number is what a viewer opens
                "page_number": p.page_number,
                "page_label": p.page_label,
                "score": p.score,
                "text": p.text,
            }
            for p in passages
        ]
        print(json.dumps(rows, ensure_ascii=False))
    else:
        if not passages:
            print("no passages found")
        for n, p in enumerate(passages, 1):
            print(f"[{n}] {cite(p)}  score {p.score:.4f}")
            print("    " + " ".join(p.text.split())[:500])
    return 0 if passages else 1


def eval_main(argv: Sequence[str] | None = None) -> int:
    from stemqa.rag.evaluation import (
        QuestionsError,
        evaluate,
        format_table,
        load_questions,
        measure,
    )

    parser = argparse.ArgumentParser(
        prog="rag-eval",
        description="Recall@1/3/5/10 and MRR@10 for each retrieval mode and preprocessing choice.",
    )
    _index_args(parser, building=False)
    parser.add_argument("--questions", required=True, help="JSON list of {question, source, pages}")
    parser.add_argument(
        "--quick", action="store_true", help="only the index as built (no preprocessing variants)"
    )
    parser.add_argument(
        "--mode",
        choices=ALL_MODES,
        default=None,
        help="measure only this mode, as rag-query runs it (no preprocessing variants): "
        + MODE_HELP,
    )
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    args = parser.parse_args(argv)
    try:
        questions = load_questions(args.questions)
        index = _open(args, create=False)
        retriever = retriever_for(index, mode=args.mode, k=10) if args.mode else None
    except (QuestionsError, *USER_ERRORS) as exc:
        return _fail(str(exc))
    missing = sorted({q.source for q in questions} - {d.source for d in index.documents()})
    if missing:
        print(f"warning: sources not in the index: {', '.join(missing)}", file=sys.stderr)
    if retriever is not None:
        from tqdm.auto import tqdm

        bar = tqdm(
            questions,
            desc=f"rag-eval --mode {args.mode}",
            disable=not sys.stderr.isatty(),
            file=sys.stderr,
        )
        results = [measure(index, bar, args.mode, lambda text: retriever.retrieve(text, 10))]
    else:
        results = evaluate(
            index, questions, variants=not args.quick, progress=lambda m: print(m, file=sys.stderr)
        )
    if args.json:
        print(json.dumps([r.row() for r in results]))
    else:
        print(f"{len(questions)} questions, index {args.index or args.chroma_host}")
        print(format_table(results))
    return 0
