"""Reciprocal rank fusion: combine rankings by position, not by incomparable raw scores.

BM25 scores are unbounded and corpus-dependent while cosine similarities sit in [-1, 1];
averaging them lets one retriever drown the other. RRF (Cormack, Clarke & Buettcher, SIGIR
2009) scores each item by sum(1 / (k + rank)) over the rankings it appears in.

The implementation is core's `fuse_rankings` (hybrid retrieval and multi-query retrieval fuse
the same way). This module keeps the id-level form evaluation.py uses, on top of it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from stemqa.core.retrieval import RRF_K, Passage, fuse_rankings

__all__ = ["RRF_K", "fuse_rankings", "reciprocal_rank_fusion"]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[Hashable, float]]:
    """Fused (item, score) pairs, best first; ties keep the order of first appearance."""
    if weights is not None and len(weights) != len(rankings):
        raise ValueError("reciprocal_rank_fusion: one weight per ranking")
    # Items ride in Passage.chunk_id (a string key); map back to the caller's hashables.
    keys: dict[str, Hashable] = {}
    as_passages = []
    for ranking in rankings:
        row = []
        for item in ranking:
            key = repr(item)
            keys.setdefault(key, item)
            row.append(Passage(text="", source="", chunk_id=key))
        as_passages.append(row)
    fused = fuse_rankings(as_passages, weights=weights, rrf_k=k)
    return [(keys[p.chunk_id], p.score) for p in fused if p.chunk_id is not None]
