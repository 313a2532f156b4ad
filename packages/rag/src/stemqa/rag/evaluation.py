"""Retrieval evaluation: recall@k and MRR@10 against questions labelled with source pages.

Besides the index as built, it measures the preprocessing choices the report made (BM25 over
raw vs. lowercased / stop-word-filtered / lemmatized tokens; embeddings of raw vs. preprocessed
text) on the same stored chunks, in memory, so one run answers "which choice retrieves better".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stemqa.rag.bm25 import Bm25Store
from stemqa.rag.fusion import reciprocal_rank_fusion
from stemqa.rag.index import FUSION_MIN_CANDIDATES, MODES, Index
from stemqa.rag.preprocess import Preprocessor

if TYPE_CHECKING:
    from stemqa.core.retrieval import Passage

KS = (1, 3, 5, 10)
BM25_VARIANTS = ("none", "lowercase", "lowercase,stopwords", "lowercase,stopwords,lemmatize")


class QuestionsError(ValueError):
    """The questions file is malformed; the message names the file and the item."""


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    source: str
    pages: frozenset[int]


@dataclass(frozen=True)
class EvalResult:
    mode: str
    preprocess: str  # the BM25 token preprocessing
    dense_input: str  # "raw" or "preprocessed" (what the embedder saw)
    recall: dict[int, float]
    mrr10: float
    questions: int

    def row(self) -> dict:
        return {
            "mode": self.mode,
            "bm25_preprocess": self.preprocess if self.mode != "dense" else "-",
            "dense_input": self.dense_input if self.mode != "bm25" else "-",
            **{f"recall@{k}": round(v, 4) for k, v in self.recall.items()},
            "mrr@10": round(self.mrr10, 4),
            "n": self.questions,
        }


def load_questions(path: str | Path) -> list[EvalQuestion]:
    path = Path(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise QuestionsError(f"{path}: no such file") from exc
    except json.JSONDecodeError as exc:
        raise QuestionsError(f"{path}: not valid JSON ({exc})") from exc
    if isinstance(items, dict) and "questions" in items:
        items = items["questions"]
    if not isinstance(items, list) or not items:
        raise QuestionsError(f"{path}: expected a non-empty JSON list of question objects")
    out = []
    for n, item in enumerate(items):
        where = f"{path}: item {n}"
        if not isinstance(item, dict):
            raise QuestionsError(f"{where}: expected an object, got {type(item).__name__}")
        for key in ("question", "source", "pages"):
            if key not in item:
                raise QuestionsError(f"{where}: missing key {key!r}")
        if not isinstance(item["question"], str) or not item["question"].strip():
            raise QuestionsError(f"{where}: 'question' must be a non-empty string")
        pages = item["pages"]
        if isinstance(pages, int):
            pages = [pages]
        if not isinstance(pages, list) or not pages or not all(isinstance(p, int) for p in pages):
            raise QuestionsError(f"{where}: 'pages' must be a non-empty list of 0-based integers")
        out.append(EvalQuestion(item["question"], str(item["source"]), frozenset(pages)))
    return out


Ranked = list[tuple[str, int | None]]  # (source, page) best first


def score(questions: Sequence[EvalQuestion], rankings: Sequence[Ranked]) -> tuple[dict, float]:
    hits = {k: 0 for k in KS}
    reciprocal = 0.0
    for q, ranked in zip(questions, rankings, strict=True):
        first = next(
            (
                r
                for r, (src, page) in enumerate(ranked[:10], 1)
                if src == q.source and page in q.pages
            ),
            None,
        )
        if first is not None:
            reciprocal += 1.0 / first
            for k in KS:
                hits[k] += first <= k
    n = max(1, len(questions))
    return {k: hits[k] / n for k in KS}, reciprocal / n


def measure(
    index: Index,
    questions: Iterable[EvalQuestion],
    mode: str,
    retrieve: Callable[[str], Sequence[Passage]],
) -> EvalResult:
    """One table row: `retrieve` (top 10 passages, best first) run on every question.

    `questions` may be a progress bar over the question list; it is read once.
    """
    asked: list[EvalQuestion] = []
    rankings: list[Ranked] = []
    for q in questions:  # one at a time, so a progress bar advances per question
        asked.append(q)
        rankings.append([(p.source, p.page) for p in retrieve(q.question)])
    recall, mrr = score(asked, rankings)
    dense_input = "preprocessed" if index.embed_preprocessed else "raw"
    return EvalResult(mode, index.preprocessor.label, dense_input, recall, mrr, len(asked))


def evaluate(
    index: Index,
    questions: Sequence[EvalQuestion],
    *,
    variants: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[EvalResult]:
    say = progress or (lambda _msg: None)
    results: list[EvalResult] = []
    base_pre = index.preprocessor.label
    base_dense = "preprocessed" if index.embed_preprocessed else "raw"
    for mode in MODES:
        say(f"index as built: {mode}")
        results.append(
            measure(index, questions, mode, lambda text, m=mode: index.query(text, k=10, mode=m))
        )
    if not variants:
        return results

    data = index._get_all(["documents", "metadatas"])
    ids, docs, metas = data["ids"], data["documents"], data["metadatas"]
    where = {i: (m["source"], m.get("page")) for i, m in zip(ids, metas, strict=True)}
    depth = max(FUSION_MIN_CANDIDATES, 10)

    bm25_rank: dict[str, list[list[str]]] = {}
    for label in BM25_VARIANTS:
        say(f"BM25 over {label} tokens")
        pre = Preprocessor(label)
        store = Bm25Store(None)
        store.rebuild(ids, pre.many(docs), "eval")
        bm25_rank[label] = [
            [i for i, _ in store.search(pre.tokens(q.question), depth)] for q in questions
        ]
        if label != base_pre:
            recall, mrr = score(questions, [[where[i] for i in r] for r in bm25_rank[label]])
            results.append(EvalResult("bm25", label, "-", recall, mrr, len(questions)))

    # Dense over the other input choice, embedded in memory (same model, same chunks).
    other_dense = "raw" if index.embed_preprocessed else "preprocessed"
    say(f"embedding {len(docs)} chunks as {other_dense} text")
    full = Preprocessor("lowercase,stopwords,lemmatize")
    chunk_inputs = docs if other_dense == "raw" else [full.text(d) for d in docs]
    matrix = np.asarray(index.embeddings.embed_documents(chunk_inputs), dtype=np.float32)
    dense_rank = []
    for q in questions:
        text = q.question if other_dense == "raw" else full.text(q.question)
        sims = matrix @ np.asarray(index.embeddings.embed_query(text), dtype=np.float32)
        dense_rank.append([ids[j] for j in np.argsort(-sims)[:depth]])
    recall, mrr = score(questions, [[where[i] for i in r[:10]] for r in dense_rank])
    results.append(EvalResult("dense", "-", other_dense, recall, mrr, len(questions)))

    # Hybrid: every (dense input, BM25 tokens) pair not already measured as the index is built.
    say("dense candidates from the index for fusion")
    base_rank = [[i for i, _s, _p in index._dense(q.question, depth)] for q in questions]
    for dense_input, ranks in ((base_dense, base_rank), (other_dense, dense_rank)):
        for label in BM25_VARIANTS:
            if dense_input == base_dense and label == base_pre:
                continue
            fused = [
                [where[i] for i, _ in reciprocal_rank_fusion([d, b])[:10]]
                for d, b in zip(ranks, bm25_rank[label], strict=True)
            ]
            recall, mrr = score(questions, fused)
            results.append(EvalResult("hybrid", label, dense_input, recall, mrr, len(questions)))
    return results


def format_table(results: Sequence[EvalResult]) -> str:
    header = "| mode | BM25 tokens | dense input | R@1 | R@3 | R@5 | R@10 | MRR@10 |"
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for r in results:
        row = r.row()
        lines.append(
            f"| {r.mode} | {row['bm25_preprocess']} | {row['dense_input']} | "
            + " | ".join(f"{r.recall[k]:.3f}" for k in KS)
            + f" | {r.mrr10:.3f} |"
        )
    return "\n".join(lines)
