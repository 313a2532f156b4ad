"""RAG ingest and retrieval benchmark (stemqa.rag), every baseline measured in the same run.

    uv run --package stemqa-rag --group bench python benchmarks/ingest.py \
        [--pdfs tests/data/pdfs] [--questions tests/data/pdfs/questions.json] \
        [--sizes 10000,100000] [--repeats 2] [--out bench-ingest.json]

1. Ingest throughput (pages/s) of `Index.add` vs. a plain LangChain pipeline
   (PyPDFDirectoryLoader -> RecursiveCharacterTextSplitter(1000, 200) -> Chroma.from_documents)
   using the same embedding model; both with the model already loaded. Best of --repeats.
   `--our-chunks 500/100,4000/0` also times stemqa at other chunkings in the same run;
   4000/0 is `IndexConfig.whole_pages()`, the companion index of `multi_granularity`, whose
   ingest cost is the 500/100 time plus the 4000/0 time.
2. Re-ingest of unchanged files vs. the first ingest.
3. Query latency p50/p95 (k=5) per mode at each synthetic corpus size, with LangChain's
   Chroma.similarity_search_with_score on the same collection as the baseline. Synthetic chunks
   are sentences of words drawn from the course PDFs' vocabulary with random unit vectors as
   their embeddings (embedding 100k chunks on a small CPU would take hours and does not change
   what is measured: HNSW and BM25 search time; queries are still embedded by the real model).
4. Recall@k / MRR@10 per mode and preprocessing choice on the course questions.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
warnings.filterwarnings("ignore", category=DeprecationWarning)
logging.getLogger("pypdf").setLevel(logging.ERROR)  # the baseline reads PDFs through pypdf too

from stemqa.rag import Index  # noqa: E402
from stemqa.rag.embeddings import resolve_model  # noqa: E402
from stemqa.rag.evaluation import evaluate, format_table, load_questions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def count_pages(folder: Path) -> int:
    from pypdf import PdfReader

    return sum(len(PdfReader(p).pages) for p in sorted(folder.glob("*.pdf")))


def baseline_ingest(folder: Path, store: Path, embeddings) -> float:
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import PyPDFDirectoryLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    start = time.perf_counter()
    docs = PyPDFDirectoryLoader(str(folder)).load()
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    Chroma.from_documents(chunks, embeddings, persist_directory=str(store))
    return time.perf_counter() - start


def ours_ingest(folder: Path, store: Path, **options) -> tuple[float, Index]:
    start = time.perf_counter()
    index = Index(store, **options)
    report = index.add(folder)
    elapsed = time.perf_counter() - start
    assert not report.skipped, report.summary()
    return elapsed, index


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def synthetic_index(root: Path, size: int, vocabulary: list[str], queries: list[str]) -> dict:
    rng = random.Random(size)
    nrng = np.random.default_rng(size)
    index = Index(root / f"synthetic-{size}")
    dim = len(index.embeddings.embed_query("probe"))
    texts = [" ".join(rng.choices(vocabulary, k=rng.randint(80, 160))) for _ in range(size)]
    vectors = nrng.standard_normal((size, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"syn:{i}" for i in range(size)]
    metas = [{"source": f"synthetic-{i // 100}.pdf", "page": i % 100} for i in range(size)]
    start = time.perf_counter()
    index.add_texts(texts, metas, ids, embeddings=vectors)  # one call: one BM25 build
    build = time.perf_counter() - start
    out: dict = {"chunks": index.count(), "build_s": round(build, 1)}
    runners = {
        "langchain_dense": lambda q: index.store.similarity_search_with_score(q, k=5),
        "dense": lambda q: index.query(q, k=5, mode="dense"),
        "bm25": lambda q: index.query(q, k=5, mode="bm25"),
        "hybrid": lambda q: index.query(q, k=5, mode="hybrid"),
    }
    times: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():
        run(queries[0])  # warm: BM25 load, HNSW in memory
    for q in queries:  # interleaved, so load swings on a shared machine hit all alike
        for name, run in runners.items():
            t = time.perf_counter()
            run(q)
            times[name].append((time.perf_counter() - t) * 1000)
    for name, values in times.items():
        out[name] = {
            "p50_ms": round(percentile(values, 50), 1),
            "p95_ms": round(percentile(values, 95), 1),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", default=str(REPO / "tests/data/pdfs"))
    parser.add_argument("--questions", default=str(REPO / "tests/data/pdfs/questions.json"))
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument(
        "--our-chunks",
        default="",
        help="also time stemqa at these chunk size/overlap pairs, e.g. 500/100 (same run)",
    )
    parser.add_argument(
        "--parts", default="ingest,recall,latency", help="comma list of ingest, recall, latency"
    )
    args = parser.parse_args()
    folder = Path(args.pdfs)
    pages = count_pages(folder)
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "load_average_at_start": os.getloadavg(),
        "pages": pages,
    }
    from langchain_huggingface import HuggingFaceEmbeddings

    from stemqa.rag.embeddings import DEFAULT_EMBEDDING_MODEL, get_embeddings

    # Exactly the call Index makes: get_embeddings is cached per argument tuple, and
    # get_embeddings() (no arguments) is another entry, which left the model load inside our
    # timing while the baseline's model was loaded before it (runs before 2026-12-01).
    ours_embedder = get_embeddings(DEFAULT_EMBEDDING_MODEL, "cpu")
    baseline_embedder = HuggingFaceEmbeddings(
        model_name=resolve_model("sentence-transformers/all-MiniLM-L6-v2"),
        encode_kwargs={"normalize_embeddings": True},
    )
    for e in (ours_embedder, baseline_embedder):
        e.embed_documents(["warm up the model"] * 8)

    root = Path(tempfile.mkdtemp(prefix="stemqa-bench-"))
    try:
        parts = set(args.parts.split(","))
        index = None
        if "ingest" in parts:
            base_times, our_times = [], []
            extra_times: dict[str, list[float]] = {}
            extra_chunks = [
                tuple(int(x) for x in spec.split("/"))
                for spec in args.our_chunks.split(",")
                if spec
            ]
            for r in range(args.repeats):
                base_times.append(
                    baseline_ingest(folder, root / f"baseline-{r}", baseline_embedder)
                )
                elapsed, index = ours_ingest(folder, root / f"ours-{r}")
                our_times.append(elapsed)
                for size, overlap in extra_chunks:
                    t, _ = ours_ingest(
                        folder,
                        root / f"ours-{size}-{r}",
                        chunk_size=size,
                        chunk_overlap=overlap,
                    )
                    extra_times.setdefault(f"{size}/{overlap}", []).append(round(t, 2))
                print(
                    f"repeat {r}: baseline {base_times[-1]:.1f}s, ours {our_times[-1]:.1f}s, "
                    f"other chunkings {extra_times}",
                    flush=True,
                )
            base, ours = min(base_times), min(our_times)
            results["ingest"] = {
                "baseline_s": [round(t, 2) for t in base_times],
                "ours_s": [round(t, 2) for t in our_times],
                "baseline_pages_per_s": round(pages / base, 2),
                "ours_pages_per_s": round(pages / ours, 2),
                "speedup": round(base / ours, 2),
                "chunks": index.count(),
                "ours_other_chunkings_s": extra_times,
                "speedup_other_chunkings": {
                    name: round(base / min(times), 2) for name, times in extra_times.items()
                },
            }
            start = time.perf_counter()
            report = Index(index.path).add(folder)
            again = time.perf_counter() - start
            # every document in the folder (the PDFs and, since .md is ingested too, README.md)
            assert report.unchanged == len(index.documents()), report.summary()
            assert report.chunks == 0, report.summary()
            results["reingest"] = {
                "first_s": round(ours, 2),
                "unchanged_s": round(again, 3),
                "speedup": round(ours / again, 1),
            }
            print(json.dumps(results, indent=1), flush=True)
        if index is None:
            index = ours_ingest(folder, root / "ours")[1]

        questions = load_questions(args.questions)
        if "recall" in parts:
            evals = evaluate(index, questions, variants=True)
            results["recall"] = [r.row() for r in evals]
            results["recall_table"] = format_table(evals)
            print(results["recall_table"], flush=True)

        vocabulary = sorted(
            {
                w
                for w in " ".join(index._get_all(["documents"])["documents"]).split()
                if w.isalpha() and len(w) > 2
            }
        )
        queries = [q.question for q in questions][: args.queries]
        results["latency"] = {}
        for size in (int(s) for s in args.sizes.split(",") if s and "latency" in parts):
            results["latency"][size] = synthetic_index(root, size, vocabulary, queries)
            print(size, json.dumps(results["latency"][size]), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results["load_average_at_end"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    print(json.dumps({k: v for k, v in results.items() if k != "recall_table"}, indent=1))


if __name__ == "__main__":
    main()
