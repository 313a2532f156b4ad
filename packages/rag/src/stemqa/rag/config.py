"""`IndexConfig`: the settings that shape what an index stores, in one value.

Embedding model, distance, chunking and preprocessing decide what is written into Chroma and
BM25, so an index records them in its collection metadata when it is created and enforces them
when it is reopened. Before this class, rag's CLI, the entry point and the demo's settings, CLI
and index service each threaded six None-sentinel keyword arguments by hand. Now a caller builds
one `IndexConfig` (fields it leaves as None mean "what the index recorded, else the default")
and `resolve` merges it with what the collection recorded, naming the key on a conflict.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from stemqa.rag.errors import IndexConfigError
from stemqa.rag.preprocess import DEFAULT_STEPS, parse_steps

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DISTANCES = ("cosine", "l2")
#: 1000/200 characters. 500/100 was measured better on the tuning half of the 188 course
#: questions and worse on the validation half (docs/BENCHMARKS.md, "Page text, cleaning, OCR and
#: retrieval levers"), so a single index keeps 1000/200; 500/100 is the chunk size of
#: `aggregation.multi_granularity`, where it won on both halves.
DEFAULT_CHUNK_SIZE = 1000
DEFAULT_CHUNK_OVERLAP = 200
#: A whole-page index (multi-granularity retrieval, `aggregation.multi_granularity`): chunks
#: longer than the course PDFs' longest page (3,663 characters), so each page is one entry.
WHOLE_PAGE_CHUNK_SIZE = 4000

__all__ = ["DISTANCES", "IndexConfig", "IndexConfigError"]
#: Prefix of the keys IndexConfig writes into a Chroma collection's metadata.
META_PREFIX = "stemqa:"


@dataclass(frozen=True)
class IndexConfig:
    """What an index stores. None = use the value recorded in the index, else the default."""

    embedding_model: str | None = None
    distance: str | None = None
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    #: BM25 token steps: "lowercase,stopwords,lemmatize", "all", "none", a list or a bool.
    preprocess: str | bool | Sequence[str] | None = None
    #: Embed the preprocessed text instead of the raw text.
    embed_preprocessed: bool | None = None

    def __post_init__(self) -> None:
        if self.preprocess is not None:
            # One spelling per choice, so that equal settings compare equal.
            steps = ",".join(parse_steps(self.preprocess)) or "none"
            object.__setattr__(self, "preprocess", steps)

    @classmethod
    def defaults(cls) -> IndexConfig:
        return cls(
            embedding_model=DEFAULT_EMBEDDING_MODEL,
            distance="cosine",
            chunk_size=DEFAULT_CHUNK_SIZE,
            chunk_overlap=DEFAULT_CHUNK_OVERLAP,
            preprocess=",".join(DEFAULT_STEPS),
            embed_preprocessed=False,
        )

    @classmethod
    def whole_pages(cls) -> IndexConfig:
        """Settings of a companion index with one entry per page (multi-granularity)."""
        return cls(chunk_size=WHOLE_PAGE_CHUNK_SIZE, chunk_overlap=0)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> IndexConfig:
        """From any mapping (argparse namespace vars, env-derived settings): known keys only."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in names and v is not None})

    def replace(self, **changes: Any) -> IndexConfig:
        return dataclasses.replace(self, **changes)

    def chosen(self) -> dict[str, Any]:
        """The settings the caller set (not None)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    # -- recording in the collection ---------------------------------------------------------

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> IndexConfig:
        """What an existing collection recorded (None for keys it did not record)."""
        values = {f.name: metadata.get(META_PREFIX + f.name) for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if v is not None})

    def to_metadata(self) -> dict[str, Any]:
        return {META_PREFIX + k: v for k, v in self.chosen().items()}

    def resolve(self, recorded: IndexConfig | None = None) -> IndexConfig:
        """Complete settings: recorded values win; an explicit value that differs is an error."""
        recorded = recorded or IndexConfig()
        defaults = IndexConfig.defaults()
        out: dict[str, Any] = {}
        for f in fields(self):
            explicit, kept = getattr(self, f.name), getattr(recorded, f.name)
            if kept is None:
                out[f.name] = getattr(defaults, f.name) if explicit is None else explicit
                continue
            if explicit is not None and explicit != kept:
                raise IndexConfigError(
                    f"{f.name}={explicit!r} does not match this index, which was built with "
                    f"{f.name}={kept!r}; omit {f.name} or build a new index (another folder or "
                    "collection)"
                )
            out[f.name] = kept
        resolved = IndexConfig(**out)
        resolved.validate()
        return resolved

    def validate(self) -> None:
        if self.distance is not None and self.distance not in DISTANCES:
            raise IndexConfigError(f"distance={self.distance!r}: choose one of {DISTANCES}")
        size, overlap = self.chunk_size, self.chunk_overlap
        if size is not None and (not isinstance(size, int) or size <= 0):
            raise IndexConfigError(f"chunk_size={size!r}: need chunk_size > 0 (characters)")
        if overlap is not None and (not isinstance(overlap, int) or overlap < 0):
            raise IndexConfigError(f"chunk_overlap={overlap!r}: need chunk_overlap >= 0")
        if size is not None and overlap is not None and overlap >= size:
            raise IndexConfigError(
                f"chunk_size={size}, chunk_overlap={overlap}: need 0 <= chunk_overlap < chunk_size"
            )

    # -- command lines -------------------------------------------------------------------------

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """The flags for every field (default None: the index's recorded value, else default)."""
        group = parser.add_argument_group("index settings (recorded in the index when created)")
        group.add_argument("--embedding-model", default=None, help="sentence-transformers model")
        group.add_argument("--distance", choices=DISTANCES, default=None, help="default cosine")
        group.add_argument(
            "--chunk-size", type=int, default=None, help=f"characters ({DEFAULT_CHUNK_SIZE})"
        )
        group.add_argument(
            "--chunk-overlap", type=int, default=None, help=f"characters ({DEFAULT_CHUNK_OVERLAP})"
        )
        group.add_argument(
            "--preprocess",
            default=None,
            help="BM25 token preprocessing: comma list of lowercase,stopwords,lemmatize, "
            "'all' (default) or 'none'; add bigrams for adjacent-pair terms (all,bigrams)",
        )
        group.add_argument(
            "--embed-preprocessed",
            action="store_true",
            default=None,
            help="embed the preprocessed text instead of the raw text (the report's choice)",
        )
