"""Which retrieval query should an MCQ use: the stem, the stem with its options, or both fused?

Runs eval-mcqa's own path (`evaluate_mcqa` → the answer engine) with a real index over the
course PDFs in tests/data/pdfs and the course MCQs in tests/data/pdfs/mcqs.jsonl (each with
the PDF page(s) that answer it), once per query mode, and reads off the passages every
prediction was given: hit@k (a gold page among the k passages the model saw) and MRR@k. The
tiny random-weight model's accuracy is reported too but is noise by construction (it answers
at chance); retrieval quality is what this decides.

    uv run python benchmarks/rag_query.py                   # k=3 (eval-mcqa's default), all modes
    uv run python benchmarks/rag_query.py --k 1 3 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import print_table, write_json

REPO = Path(__file__).resolve().parents[1]
PDFS = REPO / "tests" / "data" / "pdfs"
MCQS = PDFS / "mcqs.jsonl"
CACHE = REPO / ".cache" / "bench-rag-query-index"


def gold_pages(path: Path) -> list[set[tuple[str, int]]]:
    """Per question, in file order: {(pdf, 0-based page)} from the `pdf` and `pages` fields."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [{(row["pdf"], int(p)) for p in row["pages"]} for row in rows]


def open_index(rebuild: bool):
    from stemqa.core.retrieval import open_retriever
    from stemqa.rag import Index

    if rebuild or not CACHE.exists():
        index = Index(CACHE)
        report = index.add(sorted(PDFS.glob("*.pdf")))
        print(report.summary(), file=sys.stderr)
    return open_retriever(str(CACHE))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, nargs="+", default=[3])
    parser.add_argument("--rebuild", action="store_true", help="re-ingest the PDFs")
    parser.add_argument("--json", type=Path, help="write the table as JSON here")
    args = parser.parse_args(argv)

    import torch

    from stemqa.core import load_model
    from stemqa.core.answering import QUERY_MODES
    from stemqa.core.tiny_model import make_tiny_model
    from stemqa.train.eval_mcqa import WITH_CONTEXT, evaluate_mcqa
    from stemqa.train.mcqa_data import load_mcqs

    torch.set_num_threads(1)
    retriever = open_index(args.rebuild)
    mcqs = load_mcqs(MCQS, format="mmlu-hub")
    gold = gold_pages(MCQS)
    if len(gold) != len(mcqs):
        raise SystemExit(f"{MCQS}: {len(mcqs)} questions loaded but {len(gold)} rows")
    with tempfile.TemporaryDirectory() as tmp:
        model, tokenizer = load_model(str(make_tiny_model(Path(tmp) / "tiny")), device="cpu")
        rows = []
        for k in args.k:
            for mode in QUERY_MODES:
                start = time.perf_counter()
                result = evaluate_mcqa(
                    model,
                    tokenizer,
                    mcqs,
                    retriever=retriever,
                    k=k,
                    query_mode=mode,
                    progress=False,
                )
                seconds = time.perf_counter() - start
                preds = result.conditions[WITH_CONTEXT].predictions
                hits, rr = 0, 0.0
                for pages, pred in zip(gold, preds, strict=True):
                    ranks = [
                        r
                        for r, p in enumerate(pred.passages, start=1)
                        if (p["source"], p["page"]) in pages
                    ]
                    hits += bool(ranks)
                    rr += 1 / ranks[0] if ranks else 0.0
                rows.append(
                    {
                        "k": k,
                        "query_mode": mode,
                        "questions": len(mcqs),
                        "hit_at_k": round(hits / len(mcqs), 3),
                        "mrr_at_k": round(rr / len(mcqs), 3),
                        "accuracy_tiny_model": round(
                            result.conditions[WITH_CONTEXT].overall.accuracy, 3
                        ),
                        "seconds": round(seconds, 1),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    print(f"\nmachine: {platform.machine()}, {platform.python_version()}, questions: {len(mcqs)}")
    print_table(
        ["k", "query", "hit@k", "MRR@k", "tiny-model accuracy (noise)", "s"],
        [
            [
                r["k"],
                r["query_mode"],
                f"{r['hit_at_k']:.3f}",
                f"{r['mrr_at_k']:.3f}",
                f"{r['accuracy_tiny_model']:.3f}",
                r["seconds"],
            ]
            for r in rows
        ],
        align="rl",
    )
    write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
