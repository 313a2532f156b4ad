"""Did the test questions leak into the training mix? n-gram overlap, as GPT-3 and lm-eval did.

A training text *overlaps* an eval question when both contain the same run of `n` (13 by
default) normalized tokens: lowercased (``str.casefold``), with punctuation (ASCII, underscore,
common Unicode dashes and quotes) turned into spaces, then split on whitespace, so
``"Newton's 2nd law, F=ma."`` becomes ``newton s 2nd law f ma``. The
eval side of the comparison is the question stem followed by its options; questions with fewer
than `n` tokens cannot be checked at this n and are counted as ``too_short`` (lower `n` to
cover them, at the price of more chance matches).

Speed comes from hashing, not pairwise comparison: every eval n-gram is hashed once into a
sorted array of 64-bit values; training texts are tokenized, mapped to the eval vocabulary (a
window holding a word that no eval question uses cannot match and is skipped), hashed with a
vectorized polynomial rolling hash and looked up with one `np.isin` per batch. Only the rare
hits are checked token by token, so a hash collision can never produce a false report.

Readers are the package's own: eval sets through `stemqa.train.mcqa_data.load_mcqs`, training
data through `stemqa.train.dpo_data.load_preference_data` (jsonl/json/parquet/csv files, folders,
merge-datasets output) and, for MCQ-form training sets (train-mcqa's input), `load_mcqs` again.
"""

from __future__ import annotations

import json
import string
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain, pairwise, repeat
from pathlib import Path
from typing import Any

import numpy as np

from stemqa.core import MCQ
from stemqa.train.json_files import read_json_file

DEFAULT_N = 13
TEXT_FIELDS = ("system", "prompt", "chosen", "rejected")
#: ASCII punctuation (underscore included) and the common Unicode dashes, quotes and marks
#: become spaces; `str.translate` + `split` is ~3x faster than a regex tokenizer here.
_PUNCTUATION = str.maketrans(
    dict.fromkeys(string.punctuation + "‐‑‒–—―…‘’‚‛“”„‟«»‹›·•¡¿§¶†‡°", " ")
)
_PRIME = np.uint64(1099511628211)  # FNV-64 prime: odd, so the rolling hash mixes every token
_BATCH_TOKENS = 4_000_000
_FILTER_BITS = 24
_FILTER_MASK = np.uint64((1 << _FILTER_BITS) - 1)


class ContaminationError(ValueError):
    """Input the check cannot read; the message names the file and what to do."""


def normalize_tokens(text: str) -> list[str]:
    """Lowercase (casefold), punctuation replaced by spaces, split on whitespace."""
    return text.casefold().translate(_PUNCTUATION).split()


def question_text(mcq: MCQ) -> str:
    """What of an eval question is compared: the stem and the options, in order."""
    return "\n".join([mcq.question, *mcq.choices])


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A well-mixed 64-bit value per vocabulary id (Steele et al.'s SplitMix64 finalizer)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@dataclass
class Overlap:
    """One eval question that shares an n-gram with one training text."""

    eval_set: str
    eval_id: str
    eval_index: int  # 1-based position in its eval set
    train_source: str
    row: int  # 1-based row in its training source (split)
    field: str  # prompt / chosen / rejected / system / question
    span: str  # the longest shared run of normalized tokens
    span_tokens: int


@dataclass
class EvalSetInfo:
    questions: int
    checked: int
    too_short: int


class NgramIndex:
    """The hashed n-grams of a set of eval questions, ready to scan training text against."""

    def __init__(self, eval_sets: Mapping[str, Sequence[MCQ]], *, n: int = DEFAULT_N) -> None:
        if n < 1:
            raise ContaminationError(f"n must be at least 1, got {n}")
        self.n = n
        self.vocab: dict[str, int] = {}
        self.questions: list[tuple[str, str, int, np.ndarray]] = []  # set, id, index, token ids
        self.info: dict[str, EvalSetInfo] = {}
        for name, mcqs in eval_sets.items():
            checked = 0
            for index, mcq in enumerate(mcqs, start=1):
                tokens = normalize_tokens(question_text(mcq))
                if len(tokens) < n:
                    continue
                checked += 1
                vocab = self.vocab
                ids = np.array([vocab.setdefault(t, len(vocab)) for t in tokens], dtype=np.int64)
                self.questions.append((name, mcq.source or f"{name}:{index}", index, ids))
            self.info[name] = EvalSetInfo(len(mcqs), checked, len(mcqs) - checked)
        # One vectorized pass over all questions, as for training text (see `find`); then sorted
        # hashes with their (question, position) owners alongside: membership and owner lookup
        # are binary searches (np.isin/np.unique hash uint64s far slower, numpy 2.4).
        lengths = np.fromiter((len(q[3]) for q in self.questions), np.int64, len(self.questions))
        if len(self.questions):
            ids = np.concatenate([q[3] for q in self.questions])
            doc = np.repeat(np.arange(len(self.questions)), lengths)
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            hashes = self._window_hashes(ids)
            keep = doc[: len(hashes)] == doc[n - 1 :]
            owners = doc[: len(hashes)][keep]
            positions = np.flatnonzero(keep) - starts[owners]
            hashes = hashes[keep]
        else:
            hashes = np.empty(0, np.uint64)
            owners = positions = np.empty(0, np.int64)
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._owner_q = owners[order]
        self._owner_pos = positions[order]
        # A 2^24-bit prefilter on the low hash bits: most training windows are rejected by one
        # array lookup before the binary search.
        self._filter = np.zeros(1 << _FILTER_BITS, dtype=bool)
        self._filter[(self._hashes & _FILTER_MASK).astype(np.intp)] = True

    def _values(self, ids: np.ndarray) -> np.ndarray:
        return _splitmix64(ids)

    def _window_hashes(self, ids: np.ndarray) -> np.ndarray:
        """Polynomial hash of every length-n window (uint64 arithmetic wraps, as intended)."""
        values = self._values(ids)
        count = len(ids) - self.n + 1
        if count <= 0:
            return np.empty(0, np.uint64)
        h = np.zeros(count, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(self.n):
                h = h * _PRIME + values[j : j + count]
        return h

    def find(self, texts: Sequence[str]) -> list[list[tuple[int, int, int]]]:
        """For each text, its (question, text position, question position) n-gram matches."""
        out: list[list[tuple[int, int, int]]] = [[] for _ in texts]
        if not len(self._hashes):
            return out
        tokens = [normalize_tokens(text) for text in texts]
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        total = int(lengths.sum())
        if total < self.n:
            return out
        # One C-level pass: dict.get(token, -1) for every token of the batch.
        ids = np.fromiter(
            map(self.vocab.get, chain.from_iterable(tokens), repeat(-1)),
            dtype=np.int64,
            count=total,
        )
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        doc = np.repeat(np.arange(len(texts)), lengths)
        unknown = np.concatenate([[0], np.cumsum(ids < 0)])
        hashes = self._window_hashes(np.where(ids < 0, 0, ids))
        count = len(hashes)
        window = np.arange(count)
        valid = (doc[:count] == doc[self.n - 1 :]) & (unknown[window + self.n] == unknown[window])
        maybe = np.flatnonzero(valid & self._filter[(hashes & _FILTER_MASK).astype(np.intp)])
        at = np.searchsorted(self._hashes, hashes[maybe])
        hit = self._hashes[np.minimum(at, len(self._hashes) - 1)] == hashes[maybe]
        candidates, at = maybe[hit], at[hit]
        ends = np.searchsorted(self._hashes, hashes[candidates], side="right")
        for pos, begin, end in zip(candidates.tolist(), at.tolist(), ends.tolist(), strict=True):
            t = int(doc[pos])
            local = pos - int(starts[t])
            piece = ids[pos : pos + self.n]
            for j in range(begin, end):
                q, q_pos = int(self._owner_q[j]), int(self._owner_pos[j])
                if np.array_equal(self.questions[q][3][q_pos : q_pos + self.n], piece):
                    out[t].append((q, local, q_pos))
        return out

    def contaminated(self, rows: Sequence[Sequence[str]]) -> list[bool]:
        """Whether any text of each row shares an n-gram with any eval question (decontaminate)."""
        flags = [False] * len(rows)
        for batch in _batches(
            ((r, text) for r, texts in enumerate(rows) for text in texts if text), _BATCH_TOKENS
        ):
            hits = self.find([text for _, text in batch])
            for (r, _), found in zip(batch, hits, strict=True):
                if found:
                    flags[r] = True
        return flags


def _batches(items: Iterable[tuple[Any, str]], budget_chars: int) -> Iterator[list]:
    """Group texts so one vectorized pass holds about `budget_chars` characters."""
    batch: list = []
    size = 0
    for item in items:
        batch.append(item)
        size += len(item[1])
        if size >= budget_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _longest_span(matches: list[tuple[int, int, int]], n: int) -> tuple[int, int]:
    """(start, length in tokens) of the longest run of consecutive matching n-grams."""
    positions = sorted({local for _, local, _ in matches})
    best_start, best_len = positions[0], 1
    run_start, run_len = positions[0], 1
    for prev, cur in pairwise(positions):
        if cur == prev + 1:
            run_len += 1
        else:
            run_start, run_len = cur, 1
        if run_len > best_len:
            best_start, best_len = run_start, run_len
    return best_start, best_len + n - 1


# --------------------------------------------------------------------------- training data


@dataclass
class TrainingSource:
    """One split of one training input: its label and its rows as {field: text}."""

    label: str
    rows: list[dict[str, str]]


def _flatten(value: Any) -> str:
    """Conversational rows (lists of {'role', 'content'}) become their contents, one per line."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(
            _flatten(v.get("content", "") if isinstance(v, dict) else v) for v in value
        )
    return "" if value is None else str(value)


def _preference_sources(location: str) -> list[TrainingSource] | None:
    """Every split of a preference dataset, or None when it is not one (missing columns)."""
    from stemqa.train.dpo_data import PreferenceDataError, load_preference_data

    try:
        data = load_preference_data(location)
    except PreferenceDataError as exc:
        if "missing column" in str(exc):
            return None
        raise ContaminationError(str(exc)) from None
    out = []
    only_train = list(data.splits) == ["train"]
    for split, dataset in data.splits.items():
        columns = [c for c in TEXT_FIELDS if c in dataset.column_names]
        # Plain lists: indexing a datasets Column row by row costs ~1 ms per access.
        table = dataset.select_columns(
            columns + (["source"] if "source" in dataset.column_names else [])
        ).to_dict()
        values = {c: table[c] for c in columns}
        mix = table.get("source")
        base = location if only_train else f"{location}[{split}]"
        if mix is None:
            rows = [{c: _flatten(values[c][i]) for c in columns} for i in range(len(dataset))]
            out.append(TrainingSource(base, rows))
            continue
        # A merge-datasets mix: one training source per original source, row = row in the split.
        by_mix: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
        for i in range(len(dataset)):
            by_mix[str(mix[i])].append((i, {c: _flatten(values[c][i]) for c in columns}))
        for name, rows_of in by_mix.items():
            out.append(
                _MixSource(f"{base} {name}", [r for _, r in rows_of], [i for i, _ in rows_of])
            )
    return out


@dataclass
class _MixSource(TrainingSource):
    """Rows of one original source inside a merged split; `positions` are rows in the split."""

    positions: list[int] = field(default_factory=list)


def load_training_sources(location: str, *, format: str = "auto") -> list[TrainingSource]:
    """Preference data (prompt/chosen/rejected) or, failing that, MCQs (train-mcqa's input)."""
    from stemqa.train.mcqa_data import MCQDataError, load_mcqs

    if format in ("auto", "preference"):
        found = _preference_sources(location)
        if found is not None:
            return found
        if format == "preference":
            raise ContaminationError(
                f"{location}: not preference data (needs prompt, chosen and rejected columns)"
            )
    try:
        mcqs = load_mcqs(location, format="auto" if format in ("auto", "mcq") else format)
    except MCQDataError as exc:
        raise ContaminationError(
            f"{exc} (read as MCQs after it had no prompt/chosen/rejected columns)"
            if format == "auto"
            else str(exc)
        ) from None
    return [TrainingSource(location, [{"question": question_text(m)} for m in mcqs])]


def load_eval_sets(locations: Sequence[str], *, format: str = "auto") -> dict[str, list[MCQ]]:
    from stemqa.train.mcqa_data import MCQDataError, load_mcqs

    out = {}
    for location in locations:
        try:
            out[str(location)] = load_mcqs(location, format=format)
        except MCQDataError as exc:
            raise ContaminationError(str(exc)) from None
    return out


# --------------------------------------------------------------------------- the check


@dataclass
class ContaminationReport:
    n: int
    eval_sets: dict[str, EvalSetInfo]
    train_sources: dict[str, int]  # label -> rows
    overlaps: list[Overlap]
    seconds: float = 0.0

    def matrix(self) -> dict[str, dict[str, int]]:
        """train source -> eval set -> number of distinct eval questions overlapping."""
        seen: dict[tuple[str, str], set[str]] = defaultdict(set)
        for o in self.overlaps:
            seen[(o.train_source, o.eval_set)].add(o.eval_id)
        return {
            t: {e: len(seen.get((t, e), ())) for e in self.eval_sets} for t in self.train_sources
        }

    def contaminated_ids(self, eval_set: str | None = None) -> set[str]:
        return {o.eval_id for o in self.overlaps if eval_set in (None, o.eval_set)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "normalization": "casefold; split on non-alphanumerics (punctuation stripped)",
            "seconds": round(self.seconds, 3),
            "eval_sets": {k: asdict(v) for k, v in self.eval_sets.items()},
            "train_sources": {k: {"rows": v} for k, v in self.train_sources.items()},
            "matrix": self.matrix(),
            "contaminated_questions": {e: sorted(self.contaminated_ids(e)) for e in self.eval_sets},
            "overlaps": [asdict(o) for o in self.overlaps],
        }

    def table(self, *, max_listed: int = 20) -> str:
        """Counts per training source × eval set, then the first overlaps with their span."""
        evals = list(self.eval_sets)
        header = ["training source", "rows", *(Path(e).name or e for e in evals)]
        matrix = self.matrix()
        rows = [
            [t, str(n), *(str(matrix[t][e]) for e in evals)] for t, n in self.train_sources.items()
        ]
        rows.append(
            ["eval questions (checked / too short)", ""]
            + [f"{i.checked} / {i.too_short}" for i in self.eval_sets.values()]
        )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        line = lambda r: "  ".join(  # noqa: E731
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        out = [
            f"Eval questions sharing a {self.n}-gram with a training text "
            f"(distinct questions per cell):",
            line(header),
            "  ".join("-" * w for w in widths),
            *(line(r) for r in rows),
        ]
        if self.overlaps:
            out += [
                "",
                f"Overlaps ({len(self.overlaps)}; first {min(max_listed, len(self.overlaps))}):",
            ]
            for o in self.overlaps[:max_listed]:
                span = o.span if len(o.span) <= 100 else o.span[:97] + "..."
                out.append(f'  {o.eval_id}  <-  {o.train_source} row {o.row} ({o.field}): "{span}"')
        else:
            out += ["", "No overlaps."]
        return "\n".join(out)


def check_sources(
    index: NgramIndex, sources: Sequence[TrainingSource], *, progress: bool = False
) -> list[Overlap]:
    """Scan every row of every training source against the index."""
    from tqdm.auto import tqdm

    overlaps: list[Overlap] = []
    total = sum(len(s.rows) for s in sources)
    with tqdm(total=total, desc="check-contamination", unit="row", disable=not progress) as bar:
        for source in sources:
            positions = getattr(source, "positions", None)
            items = (
                ((r, f), text)
                for r, row in enumerate(source.rows)
                for f, text in row.items()
                if text
            )
            rows_done = 0
            for batch in _batches(items, _BATCH_TOKENS):
                hits = index.find([text for _, text in batch])
                for ((r, f), text), found in zip(batch, hits, strict=True):
                    by_question: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
                    for match in found:
                        by_question[match[0]].append(match)
                    if not by_question:
                        continue
                    tokens = normalize_tokens(text)
                    for q, matches in sorted(by_question.items()):
                        name, eval_id, eval_index, _ = index.questions[q]
                        start, length = _longest_span(matches, index.n)
                        row = (positions[r] if positions else r) + 1
                        overlaps.append(
                            Overlap(
                                eval_set=name,
                                eval_id=eval_id,
                                eval_index=eval_index,
                                train_source=source.label,
                                row=row,
                                field=f,
                                span=" ".join(tokens[start : start + length]),
                                span_tokens=length,
                            )
                        )
                done = batch[-1][0][0] + 1  # rows of this source fully or partly scanned
                bar.update(done - rows_done)
                rows_done = done
    return overlaps


def check_contamination(
    train: Sequence[str],
    eval_sets: Sequence[str],
    *,
    n: int = DEFAULT_N,
    train_format: str = "auto",
    eval_format: str = "auto",
    progress: bool = False,
) -> ContaminationReport:
    """Load, index and scan: the whole of `check-contamination` as one call."""
    start = time.perf_counter()
    index = NgramIndex(load_eval_sets(eval_sets, format=eval_format), n=n)
    sources = [
        s for location in train for s in load_training_sources(location, format=train_format)
    ]
    overlaps = check_sources(index, sources, progress=progress)
    return ContaminationReport(
        n=n,
        eval_sets=index.info,
        train_sources={s.label: len(s.rows) for s in sources},
        overlaps=overlaps,
        seconds=time.perf_counter() - start,
    )


def write_report(report: ContaminationReport, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    return path


def read_contaminated_ids(path: str | Path) -> set[str]:
    """Eval ids listed in a check-contamination JSON report (what eval-mcqa flags)."""
    path = Path(path)
    data = read_json_file(path, ContaminationError, "report")
    if not isinstance(data, dict) or not isinstance(data.get("overlaps"), list):
        raise ContaminationError(
            f"{path}: not a check-contamination report (no 'overlaps' list); "
            "write one with `check-contamination --output_path FILE`"
        )
    return {str(o.get("eval_id")) for o in data["overlaps"] if isinstance(o, dict)}


def decontamination_index(eval_sets: Sequence[str], *, n: int = DEFAULT_N) -> NgramIndex:
    """The index merge-datasets and train-mcqa drop rows with (`decontaminate: [eval sets]`)."""
    return NgramIndex(load_eval_sets([str(e) for e in eval_sets]), n=n)


def drop_contaminated_mcqs(
    mcqs: Sequence[MCQ], eval_sets: Sequence[str], *, n: int = DEFAULT_N
) -> tuple[list[MCQ], int]:
    """train-mcqa's `decontaminate`: the training questions that overlap no eval question."""
    flags = decontamination_index(eval_sets, n=n).contaminated([(question_text(m),) for m in mcqs])
    return [m for m, bad in zip(mcqs, flags, strict=True) if not bad], sum(flags)
