"""Retrieval-quality levers, measured in memory on the course PDFs (no Chroma, cached vectors).

    uv run python benchmarks/rag_quality.py [--questions tests/data/pdfs/questions.json] \
        [--grid extract|chunks|fusion|aggregate|multi|pages|final|levers|granularity|real|all] \
        [--extractor pdfium] [--out rag-quality.json]

Every row reports all questions and two halves split by `split_questions` (stratified by PDF,
seed 14): levers are chosen on "tune" and kept only if they also help on "valid", because the
held-out question sets check the same PDFs with other questions. "real" builds real indexes
(Chroma + bm25s through `Index`) and checks the in-memory replica against them.

Each row is one configuration of the same pipeline the index runs (page text -> cleaning ->
RecursiveCharacterTextSplitter -> all-MiniLM-L6-v2 + bm25s -> RRF -> optional page
aggregation), scored with `stemqa.rag.evaluation.score` (recall@k, MRR@10 over (source, page)).
Embeddings are cached by text in ~/.cache/stemqa-bench so re-runs only embed new chunks: the
2-core box is shared, and the lever is what is measured, not the embedder's speed.
Extraction speed and debris are measured once per extractor over all pages.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
logging.getLogger("pypdf").setLevel(logging.ERROR)

from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: E402

from stemqa.rag.aggregation import score_pages  # noqa: E402
from stemqa.rag.bm25 import Bm25Params, Bm25Store  # noqa: E402
from stemqa.rag.cleaning import debris_stats  # noqa: E402
from stemqa.rag.embeddings import get_embeddings  # noqa: E402
from stemqa.rag.evaluation import KS, load_questions, score  # noqa: E402
from stemqa.rag.fusion import reciprocal_rank_fusion  # noqa: E402
from stemqa.rag.loading import load_pdf  # noqa: E402
from stemqa.rag.preprocess import (  # noqa: E402
    Preprocessor,
    context_header,
    strip_boilerplate,
)

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("STEMQA_BENCH_CACHE", Path.home() / ".cache" / "stemqa-bench"))


class VectorCache:
    """all-MiniLM-L6-v2 vectors by sha1 of the exact input text, pickled between runs."""

    def __init__(self, name: str = "minilm") -> None:
        self.path = CACHE / f"vectors-{name}.pkl"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            self.vectors = pickle.loads(self.path.read_bytes())
        self.embedder = get_embeddings()
        self.dirty = False

    @staticmethod
    def key(text: str, kind: str) -> str:
        return hashlib.sha1(f"{kind}\0{text}".encode()).hexdigest()

    def get(self, texts: Sequence[str], kind: str = "doc") -> np.ndarray:
        keys = [self.key(t, kind) for t in texts]
        missing = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self.vectors}.items()
        )
        if missing:
            embed = self.embedder.embed_query if kind == "query" else None
            if embed is not None:
                new = [embed(t) for _k, t in missing]
            else:
                new = self.embedder.embed_documents([t for _k, t in missing])
            for (k, _t), v in zip(missing, new, strict=True):
                self.vectors[k] = np.asarray(v, dtype=np.float32)
            self.dirty = True
            self.save()
        return np.stack([self.vectors[k] for k in keys])

    def save(self) -> None:
        if self.dirty:
            CACHE.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(self.vectors))
            tmp.replace(self.path)
            self.dirty = False


@dataclass
class Corpus:
    ids: list[str]
    where: list[tuple[str, int]]
    texts: list[str]


def load_pages(folder: Path, extractor: str, clean: bool) -> tuple[list, float]:
    start = time.perf_counter()
    pages = []
    for path in sorted(folder.glob("*.pdf")):
        pdf = load_pdf(path, extractor=extractor, clean=clean)
        pages.extend((pdf.source, p.page, p.text) for p in pdf.pages)
    return pages, time.perf_counter() - start


def chunk(pages: list, size: int, overlap: int) -> Corpus:
    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
    ids, where, texts = [], [], []
    for source, page, text in pages:
        for n, piece in enumerate(splitter.split_text(text)):
            ids.append(f"{source}:{page}:{n}")
            where.append((source, page))
            texts.append(piece)
    return Corpus(ids, where, texts)


class Rankers:
    """Dense, BM25 and fused rankings (lists of corpus positions, best first).

    `embed_texts` / `index_texts` replace what is embedded / BM25-indexed per chunk (contextual
    headers), `queries` what both sides are asked (query cleanup); None = the plain texts.
    """

    def __init__(
        self,
        corpus: Corpus,
        vectors: VectorCache,
        questions,
        preprocess: str,
        *,
        embed_texts: Sequence[str] | None = None,
        index_texts: Sequence[str] | None = None,
        queries: Sequence[str] | None = None,
        bm25_params: Bm25Params | None = None,
    ) -> None:
        self.corpus = corpus
        self.matrix = vectors.get(embed_texts or corpus.texts)
        self.queries = list(queries or [q.question for q in questions])
        self.qmatrix = vectors.get(self.queries, "query")
        self.questions = questions
        self.pre = Preprocessor(preprocess)
        self.bm25 = Bm25Store(None, bm25_params)
        self.bm25.rebuild(corpus.ids, self.pre.many(index_texts or corpus.texts), "bench")
        self.position = {cid: n for n, cid in enumerate(corpus.ids)}

    def dense(self, depth: int) -> list[list[int]]:
        sims = self.qmatrix @ self.matrix.T
        # Python ints: fusion keys items by repr(), and np.int64(5) is not repr-equal to 5.
        return [[int(i) for i in np.argsort(-row, kind="stable")[:depth]] for row in sims]

    def sparse(self, depth: int) -> list[list[int]]:
        return [
            [self.position[i] for i, _s in self.bm25.search(self.pre.tokens(q), depth)]
            for q in self.queries
        ]

    def hybrid(
        self, depth: int, weights=(1.0, 1.0), rrf_k: int = 60
    ) -> list[list[tuple[int, float]]]:
        out = []
        for d, b in zip(self.dense(depth), self.sparse(depth), strict=True):
            out.append(reciprocal_rank_fusion([d, b], k=rrf_k, weights=list(weights)))
        return out


def pages_of(corpus: Corpus, ranking: Sequence[int]) -> list[tuple[str, int]]:
    return [corpus.where[i] for i in ranking]


def dedupe_pages(corpus: Corpus, ranking: Sequence[int]) -> list[tuple[str, int]]:
    """Page aggregation by the best chunk (max): each page once, at its best chunk's rank."""
    seen: dict[tuple[str, int], None] = {}
    for i in ranking:
        seen.setdefault(corpus.where[i], None)
    return list(seen)


def page_sum(
    corpus: Corpus, scored: Sequence[tuple[int, float]], top: int
) -> list[tuple[str, int]]:
    """Page aggregation by the sum of its best `top` chunk scores."""
    per: dict[tuple[str, int], list[float]] = {}
    for i, s in scored:
        per.setdefault(corpus.where[i], []).append(s)
    total = {p: sum(sorted(v, reverse=True)[:top]) for p, v in per.items()}
    return sorted(total, key=lambda p: -total[p])


#: slice name per question (from the questions file's "slice" key), set in main()
SLICES: list[str] = []
#: "tune" or "valid" per question (`split_questions`), set in main()
HALVES: list[str] = []
SPLIT_SEED = 14


def split_questions(sources: Sequence[str], seed: int = SPLIT_SEED) -> list[str]:
    """Tuning and validation halves, stratified by PDF, fixed seed: levers are chosen on
    "tune" and kept only if they also help on "valid" (held-out questions check the same PDFs)."""
    import random

    rng = random.Random(seed)
    halves = [""] * len(sources)
    by_source: dict[str, list[int]] = {}
    for n, source in enumerate(sources):
        by_source.setdefault(source, []).append(n)
    for source in sorted(by_source):
        members = by_source[source]
        rng.shuffle(members)
        for position, n in enumerate(members):
            halves[n] = "tune" if position % 2 == 0 else "valid"
    return halves


def row(name: str, questions, rankings) -> dict:
    recall, mrr = score(questions, rankings)
    out = {"config": name, **{f"R@{k}": round(recall[k], 3) for k in KS}, "MRR@10": round(mrr, 3)}
    subsets = [("v1", [n for n, s in enumerate(SLICES) if s == "v1"])]
    subsets += [
        (half, [n for n, h in enumerate(HALVES) if h == half]) for half in ("tune", "valid")
    ]
    for name_, picked in subsets:
        if picked:  # v1: the original 59 questions; tune/valid: the split halves
            sub_recall, sub_mrr = score(
                [questions[n] for n in picked], [rankings[n] for n in picked]
            )
            out.update(
                {
                    f"{name_}_R1": round(sub_recall[1], 3),
                    f"{name_}_R5": round(sub_recall[5], 3),
                    f"{name_}_MRR": round(sub_mrr, 3),
                }
            )
    return out


SPLIT_HEADER = (
    "| config | R@1 | R@3 | R@5 | R@10 | MRR@10 | tune: R@1 / R@5 / MRR | valid | v1 |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def print_split_row(r: dict) -> None:
    """One row: all questions (R@1, R@3, R@5, R@10, MRR@10), then R@1 / R@5 / MRR@10 of the
    tuning half, the validation half and the v1 slice."""
    cells = [f"{r[f'R@{k}']:.3f}" for k in KS] + [f"{r['MRR@10']:.3f}"]
    for part in ("tune", "valid", "v1"):
        cells.append(f"{r[f'{part}_R1']:.3f} / {r[f'{part}_R5']:.3f} / {r[f'{part}_MRR']:.3f}")
    print(f"| {r['config']} | " + " | ".join(cells) + " |", flush=True)


BM25_VARIANTS = ("none", "lowercase", "lowercase,stopwords", "lowercase,stopwords,lemmatize")
FULL = "lowercase,stopwords,lemmatize"


def page_fusion(corpus: Corpus, rankings: Sequence[Sequence[int]], rrf_k: int = 60) -> list:
    """Each ranking turned into pages (best chunk) first, then the page rankings fused by RRF."""
    page_rankings = [dedupe_pages(corpus, r) for r in rankings]
    return [p for p, _ in reciprocal_rank_fusion(page_rankings, k=rrf_k)]


def final_table(pages, vectors: VectorCache, questions, rows: list) -> None:
    """Every mode x preprocessing row, old and new defaults, in one run (docs/BENCHMARKS.md)."""

    def emit(name: str, rankings) -> None:
        r = row(name, questions, rankings)
        rows.append(r)
        print_split_row(r)

    # Page text and chunk size: the three modes, chunk fusion then pages, and page fusion.
    for extractor, clean, size, overlap in (
        ("pypdf", False, 1000, 200),
        ("pypdf", True, 1000, 200),
        ("pdfium", False, 1000, 200),
        ("pdfium", True, 1000, 200),
        ("pypdf", True, 500, 100),
        ("pdfium", True, 500, 100),
        ("pdfium", True, 300, 60),
    ):
        corpus = chunk(pages(extractor, clean), size, overlap)
        rk = Rankers(corpus, vectors, questions, FULL)
        label = f"{extractor}, {'cleaned' if clean else 'raw'}, {size}/{overlap}"
        dense, sparse = rk.dense(80), rk.sparse(80)
        emit(f"{label} | dense", [pages_of(corpus, r) for r in dense])
        emit(f"{label} | bm25", [pages_of(corpus, r) for r in sparse])
        chunk_fused = [
            [i for i, _ in reciprocal_rank_fusion([d[:40], b[:40]])]
            for d, b in zip(dense, sparse, strict=True)
        ]
        emit(f"{label} | hybrid", [pages_of(corpus, f) for f in chunk_fused])
        # under PageAggregator at k=5 the hybrid retriever fuses 80 per side, not 40
        emit(
            f"{label} | hybrid, then pages",
            [
                dedupe_pages(corpus, [i for i, _ in reciprocal_rank_fusion([d, b])])
                for d, b in zip(dense, sparse, strict=True)
            ],
        )
        emit(
            f"{label} | pages, then fused",
            [page_fusion(corpus, [d, b]) for d, b in zip(dense, sparse, strict=True)],
        )
    for label, extractor, clean, size, overlap in (
        ("old default (pypdf, raw text, 1000/200)", "pypdf", False, 1000, 200),
        ("new default (pdfium, cleaned, 500/100)", "pdfium", True, 500, 100),
    ):
        corpus = chunk(pages(extractor, clean), size, overlap)
        print(f"# {label}: {len(corpus.ids)} chunks", flush=True)
        rk = Rankers(corpus, vectors, questions, FULL)
        dense = rk.dense(80)
        emit(f"{label} | dense | - | raw", [pages_of(corpus, r) for r in dense])
        full = Preprocessor(FULL)
        pre_matrix = vectors.get([full.text(t) for t in corpus.texts])
        pre_q = vectors.get([full.text(q.question) for q in questions], "query")
        dense_pre = [
            [int(i) for i in np.argsort(-row_, kind="stable")[:80]] for row_ in pre_q @ pre_matrix.T
        ]
        emit(f"{label} | dense | - | preprocessed", [pages_of(corpus, r) for r in dense_pre])
        sparse: dict[str, list[list[int]]] = {}
        for variant in BM25_VARIANTS:
            pre = Preprocessor(variant)
            store = Bm25Store(None)
            store.rebuild(corpus.ids, pre.many(corpus.texts), "v")
            sparse[variant] = [
                [rk.position[i] for i, _s in store.search(pre.tokens(q.question), 80)]
                for q in questions
            ]
            emit(f"{label} | bm25 | {variant} | -", [pages_of(corpus, r) for r in sparse[variant]])
        for dense_input, d_rank in (("raw", dense), ("preprocessed", dense_pre)):
            for variant in BM25_VARIANTS:
                fused = [
                    [i for i, _ in reciprocal_rank_fusion([d[:40], b[:40]])]
                    for d, b in zip(d_rank, sparse[variant], strict=True)
                ]
                emit(
                    f"{label} | hybrid | {variant} | {dense_input}",
                    [pages_of(corpus, f) for f in fused],
                )
        for agg_label, fn in (("hybrid, then pages", None), ("pages, then fused", page_fusion)):
            if fn is None:
                fused = [
                    dedupe_pages(corpus, [i for i, _ in reciprocal_rank_fusion([d, b])])
                    for d, b in zip(dense, sparse[FULL], strict=True)
                ]
            else:
                fused = [fn(corpus, [d, b]) for d, b in zip(dense, sparse[FULL], strict=True)]
            emit(f"{label} | {agg_label} | {FULL} | raw", fused)


LEVER_DEPTH = 80  # what HybridRetriever fuses under PageAggregator at k=5 (max(40, 4 * 5 * 4))


def page_fused_scored(
    corpus: Corpus, rankings: Sequence[Sequence[int]], rrf_k: int = 60
) -> list[tuple[tuple[str, int], float]]:
    """`page_fusion` with the fused page scores (for neighbour scoring over fused pages)."""
    return reciprocal_rank_fusion([dedupe_pages(corpus, r) for r in rankings], k=rrf_k)


def lever_grid(pages, vectors: VectorCache, questions, rows: list, size: int, overlap: int) -> None:
    """The levers of issue 14's second round, each against the same baseline, split halves.

    Baseline: pypdfium2, cleaned, `size`/`overlap`, full BM25 preprocessing, hybrid RRF over
    the top 80 of each side; "+pages" = one passage per page (PageAggregator), "page-fused" =
    dense and BM25 turned into pages, then RRF (PageFusion).
    """

    def emit(name: str, rankings) -> dict:
        r = row(name, questions, rankings)
        rows.append(r)
        print_split_row(r)
        return r

    def both(name: str, rk: Rankers) -> None:
        fused = rk.hybrid(LEVER_DEPTH)
        emit(f"{name} | hybrid +pages", [dedupe_pages(rk.corpus, [i for i, _ in f]) for f in fused])
        emit(
            f"{name} | page-fused",
            [
                page_fusion(rk.corpus, [d, b])
                for d, b in zip(rk.dense(LEVER_DEPTH), rk.sparse(LEVER_DEPTH), strict=True)
            ],
        )

    page_list = pages("pdfium", True)
    page_text = {(source, page): text for source, page, text in page_list}
    corpus = chunk(page_list, size, overlap)
    tag = f"{size}/{overlap}"
    print(f"# lever grid: {len(corpus.ids)} chunks at {tag}", flush=True)
    base = Rankers(corpus, vectors, questions, FULL)
    both(f"baseline {tag}", base)

    # 1. Contextual chunk headers: title (+ the page's first line) before what is embedded
    #    and/or BM25-indexed; the stored chunk stays plain.
    for parts in (("title",), ("title", "heading")):
        headed = [
            context_header(src, page_text[(src, page)], parts) + text
            for (src, page), text in zip(corpus.where, corpus.texts, strict=True)
        ]
        label = "+".join(parts)
        for side, kwargs in (
            ("dense", {"embed_texts": headed}),
            ("bm25", {"index_texts": headed}),
            ("both", {"embed_texts": headed, "index_texts": headed}),
        ):
            both(f"context {label} on {side}", Rankers(corpus, vectors, questions, FULL, **kwargs))

    # 2. Multi-granularity: a second chunking (1000/200, or whole pages) fused at page level.
    coarse = chunk(page_list, 1000, 200)
    rk_coarse = Rankers(coarse, vectors, questions, FULL)
    whole = Corpus(
        [f"{s_}:{p_}" for s_, p_, _t in page_list],
        [(s_, p_) for s_, p_, _t in page_list],
        [t for _s, _p, t in page_list],
    )
    rk_whole = Rankers(whole, vectors, questions, FULL)
    fine_pages = [dedupe_pages(corpus, [i for i, _ in f]) for f in base.hybrid(LEVER_DEPTH)]
    for other_label, rk_other in (("1000/200", rk_coarse), ("whole pages", rk_whole)):
        other_pages = [
            dedupe_pages(rk_other.corpus, [i for i, _ in f]) for f in rk_other.hybrid(LEVER_DEPTH)
        ]
        emit(
            f"multi-granularity {tag} +pages, {other_label} +pages, RRF",
            [
                [p_ for p_, _ in reciprocal_rank_fusion([a, b])]
                for a, b in zip(fine_pages, other_pages, strict=True)
            ],
        )
        emit(
            f"multi-granularity dense+bm25 of {tag} and {other_label}, page-fused",
            [
                [p_ for p_, _ in reciprocal_rank_fusion([*map(list, pair)])]
                for pair in zip(
                    [dedupe_pages(corpus, r) for r in base.dense(LEVER_DEPTH)],
                    [dedupe_pages(corpus, r) for r in base.sparse(LEVER_DEPTH)],
                    [dedupe_pages(rk_other.corpus, r) for r in rk_other.dense(LEVER_DEPTH)],
                    [dedupe_pages(rk_other.corpus, r) for r in rk_other.sparse(LEVER_DEPTH)],
                    strict=True,
                )
            ],
        )

    # 3. Page scoring: max + a share of the page's other chunks, and of its neighbours' best.
    fused = base.hybrid(LEVER_DEPTH)
    page_fused = [
        page_fused_scored(corpus, [d, b])
        for d, b in zip(base.dense(LEVER_DEPTH), base.sparse(LEVER_DEPTH), strict=True)
    ]
    for sum_w, near_w in (
        (0.25, 0.0),
        (0.5, 0.0),
        (1.0, 0.0),
        (0.0, 0.1),
        (0.0, 0.25),
        (0.0, 0.5),
        (0.25, 0.25),
    ):
        emit(
            f"page scoring sum={sum_w} neighbour={near_w} | hybrid +pages",
            [
                [
                    key
                    for key, _ in score_pages([(corpus.where[i], s_) for i, s_ in f], sum_w, near_w)
                ]
                for f in fused
            ],
        )
        if not sum_w:  # page-fused pages have one score each: only neighbours apply
            emit(
                f"page scoring neighbour={near_w} | page-fused",
                [[key for key, _ in score_pages(f, 0.0, near_w)] for f in page_fused],
            )

    # 4. BM25 parameters and bigram tokens (dense side unchanged).
    for label, params, steps in (
        ("k1=0.9", Bm25Params(k1=0.9), FULL),
        ("k1=1.2", Bm25Params(k1=1.2), FULL),
        ("k1=2.0", Bm25Params(k1=2.0), FULL),
        ("b=0.4", Bm25Params(b=0.4), FULL),
        ("b=0.6", Bm25Params(b=0.6), FULL),
        ("b=0.9", Bm25Params(b=0.9), FULL),
        ("robertson", Bm25Params(method="robertson"), FULL),
        ("atire", Bm25Params(method="atire"), FULL),
        ("bm25l", Bm25Params(method="bm25l"), FULL),
        ("bm25+", Bm25Params(method="bm25+"), FULL),
        ("bigrams", None, FULL + ",bigrams"),
    ):
        both(f"bm25 {label}", Rankers(corpus, vectors, questions, steps, bm25_params=params))

    # 5. Query cleanup: question boilerplate removed for both sides (or one).
    cleaned = [strip_boilerplate(q.question) for q in questions]
    changed = sum(c != q.question for c, q in zip(cleaned, questions, strict=True))
    print(f"# query cleanup changes {changed} of {len(questions)} questions", flush=True)
    both("query cleanup", Rankers(corpus, vectors, questions, FULL, queries=cleaned))


def granularity_grid(pages, vectors: VectorCache, questions, rows: list) -> None:
    """Multi-granularity in detail: which of (chunk dense, chunk BM25, page dense, page BM25)
    to fuse at page level, for 500/100 and 1000/200 chunks. "Whole pages" are one entry per
    page (what an Index with chunk_size >= the longest page stores; the embedder reads the
    first 256 word pieces)."""
    page_list = pages("pdfium", True)
    whole = Corpus(
        [f"{s_}:{p_}" for s_, p_, _t in page_list],
        [(s_, p_) for s_, p_, _t in page_list],
        [t for _s, _p, t in page_list],
    )
    rk_whole = Rankers(whole, vectors, questions, FULL)
    page_dense = [dedupe_pages(whole, r) for r in rk_whole.dense(LEVER_DEPTH)]
    page_bm25 = [dedupe_pages(whole, r) for r in rk_whole.sparse(LEVER_DEPTH)]

    def emit(name: str, rankings) -> None:
        r = row(name, questions, rankings)
        rows.append(r)
        print_split_row(r)

    def fused(lists) -> list:
        return [
            [p_ for p_, _ in reciprocal_rank_fusion(list(ls))] for ls in zip(*lists, strict=True)
        ]

    emit("whole pages | dense", page_dense)
    emit("whole pages | bm25", page_bm25)
    emit("whole pages | page-fused", fused([page_dense, page_bm25]))
    for size, overlap in ((500, 100), (1000, 200)):
        corpus = chunk(page_list, size, overlap)
        rk = Rankers(corpus, vectors, questions, FULL)
        dense = [dedupe_pages(corpus, r) for r in rk.dense(LEVER_DEPTH)]
        bm25 = [dedupe_pages(corpus, r) for r in rk.sparse(LEVER_DEPTH)]
        tag = f"{size}/{overlap}"
        for label, lists in (
            ("chunk dense+bm25 (page-fused baseline)", [dense, bm25]),
            ("chunk dense+bm25, page dense", [dense, bm25, page_dense]),
            ("chunk dense+bm25, page bm25", [dense, bm25, page_bm25]),
            ("chunk dense+bm25, page dense+bm25", [dense, bm25, page_dense, page_bm25]),
            ("chunk dense, page dense+bm25", [dense, page_dense, page_bm25]),
            ("chunk dense, page bm25", [dense, page_bm25]),
        ):
            emit(f"{tag} | {label}", fused(lists))
        if size != 500:
            continue
        # Second-round levers on top of the best fusion (chunk dense, page dense + page BM25).
        for k_ in (10, 100):
            emit(
                f"{tag} | chunk dense, page dense+bm25, rrf_k={k_}",
                [
                    [p_ for p_, _ in reciprocal_rank_fusion(list(ls), k=k_)]
                    for ls in zip(dense, page_dense, page_bm25, strict=True)
                ],
            )
        for label, kwargs in (
            ("page bm25 bigrams", {"preprocess": FULL + ",bigrams"}),
            ("page bm25 robertson", {"bm25_params": Bm25Params(method="robertson")}),
        ):
            rk_p = Rankers(
                whole,
                vectors,
                questions,
                kwargs.get("preprocess", FULL),
                bm25_params=kwargs.get("bm25_params"),
            )
            emit(
                f"{tag} | chunk dense, page dense+bm25, {label}",
                fused(
                    [dense, page_dense, [dedupe_pages(whole, r) for r in rk_p.sparse(LEVER_DEPTH)]]
                ),
            )
        headed = [context_header(s_, t, ("title",)) + t for s_, _p, t in page_list]
        rk_h = Rankers(whole, vectors, questions, FULL, embed_texts=headed, index_texts=headed)
        emit(
            f"{tag} | chunk dense, page dense+bm25, title header on pages",
            fused(
                [
                    dense,
                    [dedupe_pages(whole, r) for r in rk_h.dense(LEVER_DEPTH)],
                    [dedupe_pages(whole, r) for r in rk_h.sparse(LEVER_DEPTH)],
                ]
            ),
        )


def real_index_check(folder: Path, questions, rows: list, work: Path) -> None:
    """The in-memory replica against real indexes (Chroma + bm25s through `Index`): the
    default index's hybrid row, and `multi_granularity` over a 500/100 chunk index plus a
    whole-page index, as the library runs them (embeds the PDFs: minutes)."""
    from stemqa.rag.aggregation import PageAggregator, multi_granularity
    from stemqa.rag.config import IndexConfig
    from stemqa.rag.index import Index
    from stemqa.rag.retrievers import HybridRetriever

    pdfs = sorted(folder.glob("*.pdf"))
    built = {}
    for name, config in (
        ("default", IndexConfig()),
        ("500-100", IndexConfig(chunk_size=500, chunk_overlap=100)),
        ("pages", IndexConfig.whole_pages()),
    ):
        index = Index(work / name, config=config)
        report = index.add(pdfs)
        print(f"# real index {name}: {report.summary()}", flush=True)
        built[name] = index

    def emit(label: str, retriever) -> None:
        rankings = [
            [(p.source, p.page) for p in retriever.retrieve(q.question, 10)] for q in questions
        ]
        r = row(f"real index: {label}", questions, rankings)
        rows.append(r)
        print_split_row(r)

    emit("default (1000/200) | hybrid", HybridRetriever(built["default"]))
    emit(
        "default (1000/200) | hybrid, then pages", PageAggregator(HybridRetriever(built["default"]))
    )
    emit("500/100 | hybrid, then pages", PageAggregator(HybridRetriever(built["500-100"])))
    emit(
        "multi_granularity(500/100, whole pages)",
        multi_granularity(built["500-100"], built["pages"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", default=str(REPO / "tests/data/pdfs"))
    parser.add_argument("--questions", default=str(REPO / "tests/data/pdfs/questions.json"))
    parser.add_argument("--grid", default="all")
    parser.add_argument("--out", default=None)
    parser.add_argument("--extractor", default="pypdf", help="for the fusion/aggregate/multi grids")
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--overlap", type=int, default=100)
    args = parser.parse_args()
    questions = load_questions(args.questions)
    raw = json.loads(Path(args.questions).read_text(encoding="utf-8"))
    SLICES[:] = [str(item.get("slice", "")) for item in raw]
    HALVES[:] = split_questions([q.source for q in questions])
    folder = Path(args.pdfs)
    vectors = VectorCache()
    rows: list[dict] = []
    grid = set(args.grid.split(","))
    every = "all" in grid
    print(f"{len(questions)} questions; cache {vectors.path} ({len(vectors.vectors)} vectors)")
    print(SPLIT_HEADER)

    page_cache: dict[tuple[str, bool], list] = {}

    def pages(extractor: str, clean: bool) -> list:
        if (extractor, clean) not in page_cache:
            page_cache[(extractor, clean)], seconds = load_pages(folder, extractor, clean)
            stats = debris_stats([t for _s, _p, t in page_cache[(extractor, clean)]])
            info = {"extractor": extractor, "clean": clean, "seconds": round(seconds, 2), **stats}
            print(f"# extraction {json.dumps(info)}", flush=True)
            rows.append({"extraction": info})
        return page_cache[(extractor, clean)]

    def measure(
        name: str,
        extractor="pypdf",
        clean=True,
        size=1000,
        overlap=200,
        preprocess="lowercase,stopwords,lemmatize",
        depth=40,
        weights=(1.0, 1.0),
        rrf_k=60,
        aggregate="none",
    ) -> None:
        corpus = chunk(pages(extractor, clean), size, overlap)
        rk = Rankers(corpus, vectors, questions, preprocess)
        results = []
        if aggregate == "modes":
            for mode, ranks in (("dense", rk.dense(depth)), ("bm25", rk.sparse(depth))):
                results.append((f"{name} {mode}", [pages_of(corpus, r) for r in ranks]))
                results.append((f"{name} {mode} +pages", [dedupe_pages(corpus, r) for r in ranks]))
            aggregate = "both"
        fused = rk.hybrid(depth, weights, rrf_k)
        if aggregate in ("none", "both"):
            results.append((f"{name} hybrid", [pages_of(corpus, [i for i, _ in f]) for f in fused]))
        if aggregate in ("max", "both"):
            results.append(
                (f"{name} hybrid +pages", [dedupe_pages(corpus, [i for i, _ in f]) for f in fused])
            )
        if aggregate == "sum":
            for top in (2, 3):
                results.append(
                    (f"{name} hybrid page-sum{top}", [page_sum(corpus, f, top) for f in fused])
                )
        for label, rankings in results:
            r = row(label, questions, rankings)
            r["chunks"] = len(corpus.ids)
            rows.append(r)
            print_split_row(r)

    if every or "extract" in grid:
        for extractor in ("pypdf", "pdfium"):
            for clean in (False, True):
                measure(f"{extractor} clean={clean} 1000/200", extractor, clean, aggregate="modes")
    if every or "chunks" in grid:
        for size, overlap in ((500, 100), (300, 60)):
            for extractor in ("pdfium", "pypdf"):
                measure(
                    f"{extractor} clean {size}/{overlap}",
                    extractor,
                    size=size,
                    overlap=overlap,
                    aggregate="modes",
                )
    base = {"extractor": args.extractor, "size": args.size, "overlap": args.overlap}
    tag = f"{args.extractor} {args.size}/{args.overlap}"
    if every or "fusion" in grid:
        for w in ((1.0, 0.5), (1.0, 0.75), (0.75, 1.0), (0.5, 1.0)):
            measure(f"{tag} w={w}", **base, weights=w, aggregate="max")
        for rrf_k in (10, 30, 100):
            measure(f"{tag} rrf_k={rrf_k}", **base, rrf_k=rrf_k, aggregate="max")
        for depth in (20, 80):
            measure(f"{tag} depth={depth}", **base, depth=depth, aggregate="max")
    if every or "aggregate" in grid:
        measure(tag, **base, aggregate="sum")
    if every or "multi" in grid:
        corpus = chunk(pages(args.extractor, True), args.size, args.overlap)
        rk = Rankers(corpus, vectors, questions, "lowercase,stopwords,lemmatize")
        keywords = [rk.pre.text(q.question) for q in questions]
        kmatrix = vectors.get(keywords, "query")
        sims = kmatrix @ rk.matrix.T
        dense_kw = [[int(i) for i in np.argsort(-row, kind="stable")[:40]] for row in sims]
        for label, lists in (
            ("dense(q)+dense(keywords)+bm25", lambda d, k, b: [d, k, b]),
            ("dense(q)+bm25 +bm25(q) twice", lambda d, k, b: [d, b, b]),
            ("dense(q) twice+bm25", lambda d, k, b: [d, d, b]),
        ):
            fused = [
                [i for i, _ in reciprocal_rank_fusion(lists(d, k, b))]
                for d, k, b in zip(rk.dense(40), dense_kw, rk.sparse(40), strict=True)
            ]
            for agg, fn in (("", pages_of), (" +pages", dedupe_pages)):
                r = row(
                    f"{tag} multi-query {label}{agg}", questions, [fn(corpus, f) for f in fused]
                )
                rows.append(r)
                print_split_row(r)
    if "final" in grid:
        final_table(pages, vectors, questions, rows)
    if "levers" in grid:
        lever_grid(pages, vectors, questions, rows, args.size, args.overlap)
    if "real" in grid:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="rag-quality-") as work:
            real_index_check(folder, questions, rows, Path(work))
    if "granularity" in grid:
        granularity_grid(pages, vectors, questions, rows)
    if every or "pages" in grid:
        # Page-level fusion: each retriever's ranking turned into pages (best chunk), plus BM25
        # over whole pages (costs tokenizing only, no embedding), fused by RRF over pages.
        page_list = pages(args.extractor, True)
        corpus = chunk(page_list, args.size, args.overlap)
        rk = Rankers(corpus, vectors, questions, "lowercase,stopwords,lemmatize")
        page_store = Bm25Store(None)
        keys = [(source, page) for source, page, _t in page_list]
        page_store.rebuild(
            [f"{n}" for n in range(len(keys))], rk.pre.many([t for _s, _p, t in page_list]), "p"
        )
        page_bm25 = [
            [keys[int(i)] for i, _s in page_store.search(rk.pre.tokens(q.question), 40)]
            for q in questions
        ]
        dense_pages = [dedupe_pages(corpus, r) for r in rk.dense(80)]
        bm25_pages = [dedupe_pages(corpus, r) for r in rk.sparse(80)]
        rows_in = {
            "page-BM25 alone": page_bm25,
            "dense pages + chunk-BM25 pages": None,
            "dense pages + page-BM25": None,
            "dense pages + chunk-BM25 pages + page-BM25": None,
        }
        combos = {
            "dense pages + chunk-BM25 pages": lambda n: [dense_pages[n], bm25_pages[n]],
            "dense pages + page-BM25": lambda n: [dense_pages[n], page_bm25[n]],
            "dense pages + chunk-BM25 pages + page-BM25": lambda n: [
                dense_pages[n],
                bm25_pages[n],
                page_bm25[n],
            ],
        }
        for label, ranking in rows_in.items():
            if ranking is not None:
                r = row(f"{tag} {label}", questions, ranking)
                rows.append(r)
                print_split_row(r)
        for label, make in combos.items():
            for rrf_k in (60, 20):
                for w in ((1.0,) * 3, (1.5, 1.0, 1.0)):
                    fused = [
                        [
                            p
                            for p, _ in reciprocal_rank_fusion(
                                make(n), k=rrf_k, weights=list(w[: len(make(n))])
                            )
                        ]
                        for n in range(len(questions))
                    ]
                    r = row(f"{tag} {label} rrf_k={rrf_k} w={w[: len(make(0))]}", questions, fused)
                    rows.append(r)
                    print_split_row(r)
    vectors.save()
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
