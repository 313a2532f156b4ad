"""A bm25s index that lives next to the Chroma store and knows which Chroma state it matches.

bm25s cannot add or remove documents, so every change rebuilds it from the cached token lists
(cheap: seconds for 100k chunks). Each saved index carries the *generation* token that the
Index writes into the Chroma collection's metadata before every mutation; a mismatch on load
(a crash between the two writes, another process writing to a shared server) means "rebuild
from Chroma", never "serve stale results".

Saves are atomic: a new `g-<generation>` folder is written first, then `current.json` is
swapped in with os.replace, then older folders are removed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import bm25s

log = logging.getLogger(__name__)
CURRENT = "current.json"


#: bm25s scoring variants (`bm25s.BM25(method=...)`).
BM25_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")


@dataclass(frozen=True)
class Bm25Params:
    """bm25s's scoring parameters; the defaults are bm25s's (Lucene's BM25, k1 1.5, b 0.75)."""

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    delta: float = 0.5  # BM25L / BM25+ only

    def __post_init__(self) -> None:
        if self.method not in BM25_METHODS:
            raise ValueError(f"bm25 method={self.method!r}: choose one of {BM25_METHODS}")


class Bm25Store:
    def __init__(self, folder: Path | None, params: Bm25Params | None = None) -> None:
        self.folder = folder
        self.params = params or Bm25Params()
        self.generation: str | None = None
        #: Chroma's count of chunks (visible or not) when this index was built: a cheap check
        #: that nobody wrote to Chroma behind the generation token's back.
        self.chroma_count: int | None = None
        self.ids: list[str] = []
        self.tokens: list[list[str]] = []
        self._retriever: bm25s.BM25 | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def load(self) -> str | None:
        """Load the saved index, whatever Chroma state it was built for; returns its generation.

        The caller compares that generation (and the ids) with Chroma's before trusting it.
        """
        if self.folder is None:
            return self.generation
        try:
            current = json.loads((self.folder / CURRENT).read_text())
            if current.get("generation") == self.generation:
                return self.generation
            data = self.folder / current["dir"]
            rows = (data / "corpus.jsonl").read_text().splitlines()
            corpus = [json.loads(line) for line in rows if line.strip()]
            retriever = None
            if corpus:
                import bm25s  # here, not at the top: dense-only commands never need it

                retriever = bm25s.BM25.load(str(data), show_progress=False)
        except FileNotFoundError:
            return self.generation
        except (OSError, ValueError, KeyError) as exc:
            log.warning("BM25 index in %s is unreadable (%s); it will be rebuilt", self.folder, exc)
            return self.generation
        self.ids = [row["id"] for row in corpus]
        self.tokens = [row["tokens"] for row in corpus]
        self._retriever = retriever
        self.generation = current["generation"]
        self.chroma_count = current.get("chroma_count")
        return self.generation

    def rebuild(
        self,
        ids: Sequence[str],
        tokens: Sequence[list[str]],
        generation: str,
        chroma_count: int | None = None,
        persist: bool = True,
    ) -> None:
        """Index exactly these chunks; `persist=False` keeps it in memory (a reader's rebuild
        while a writer holds the index)."""
        self.ids = list(ids)
        self.tokens = [list(t) for t in tokens]
        self._retriever = None
        if self.ids:
            import bm25s

            p = self.params
            retriever = bm25s.BM25(k1=p.k1, b=p.b, method=p.method, delta=p.delta)
            # An empty token list would make bm25s drop the document; "" keeps positions aligned.
            retriever.index([t or [""] for t in self.tokens], show_progress=False)
            self._retriever = retriever
        self.generation = generation
        self.chroma_count = len(self.ids) if chroma_count is None else chroma_count
        if persist:
            self._save()

    def _save(self) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"g-{self.generation}"
        data = self.folder / name
        if data.exists():
            shutil.rmtree(data)
        data.mkdir()
        corpus = [{"id": i, "tokens": t} for i, t in zip(self.ids, self.tokens, strict=True)]
        if self._retriever is not None:
            self._retriever.save(str(data), corpus=corpus, show_progress=False)
        else:
            (data / "corpus.jsonl").write_text("")
        tmp = self.folder / f"{CURRENT}.tmp"
        tmp.write_text(
            json.dumps(
                {
                    "generation": self.generation,
                    "dir": name,
                    "count": len(self),
                    "chroma_count": self.chroma_count,
                }
            )
        )
        os.replace(tmp, self.folder / CURRENT)
        for old in self.folder.glob("g-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    def search(self, query_tokens: list[str], k: int) -> list[tuple[str, float]]:
        """Top-k (id, score) with score > 0 (documents sharing no term are not hits)."""
        if self._retriever is None or not query_tokens or k <= 0:
            return []
        known = [t for t in query_tokens if t in self._retriever.vocab_dict]
        if not known:
            return []
        k = min(k, len(self.ids))
        docs, scores = self._retriever.retrieve([known], k=k, show_progress=False, n_threads=0)
        hits = []
        for index, score in zip(np.asarray(docs)[0], np.asarray(scores)[0], strict=True):
            if score > 0:
                hits.append((self.ids[int(index)], float(score)))
        return hits
