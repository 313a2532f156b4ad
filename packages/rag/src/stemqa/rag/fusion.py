"""Reciprocal rank fusion: combine rankings by position, not by incomparable raw scores.

BM25 scores are unbounded and corpus-dependent while cosine similarities sit in [-1, 1];
averaging them lets one retriever drown the other. RRF (Cormack, Clarke & Buettcher, SIGIR
2009) scores each item by sum(1 / (k + rank)) over the rankings it appears in.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[Hashable, float]]:
    """Fused (item, score) pairs, best first; ties keep the order of first appearance."""
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("reciprocal_rank_fusion: one weight per ranking")
    scores: dict[Hashable, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: n for n, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))
