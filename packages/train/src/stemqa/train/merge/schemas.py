"""Built-in normalisers: every supported source layout becomes `Pair`s.

Each schema was checked against its dataset card (see the package README for the list). A source
whose columns fit none of them stops the merge with an error that lists its columns and shows the
`columns:` mapping that would make it fit, instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .records import Dropped, MergeError, Pair, RowError
from .text import split_chatml, strip_chatml

Converter = Callable[[Mapping[str, Any], int], Iterator[Pair | Dropped]]


class SchemaError(MergeError, ValueError):
    """A source whose columns match no known schema (or not the one the recipe asked for)."""


def _text(row: Mapping[str, Any], column: str, *, optional: bool = False) -> str:
    value = row.get(column)
    if value is None:
        if optional:
            return ""
        raise RowError(f"column '{column}' is missing or null")
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(f"column '{column}' should be text, got {type(value).__name__}")
    return str(value)  # CSV readers turn answers such as "4" into numbers


def _rating(row: Mapping[str, Any], column: str) -> float | None:
    value = row.get(column)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise RowError(f"column '{column}' should be a number, got {value!r}") from None
    return float(value)


# --- flat schemas -----------------------------------------------------------------------------


def convert_orca(row: Mapping[str, Any], i: int) -> Iterator[Pair | Dropped]:
    """system/question/chosen/rejected: Intel/orca_dpo_pairs, NeuralNovel/Neural-DPO,
    kyujinpy/orca_math_dpo (system may be empty or missing)."""
    yield Pair(
        prompt=_text(row, "question"),
        chosen=_text(row, "chosen"),
        rejected=_text(row, "rejected"),
        system=_text(row, "system", optional=True),
        row=i,
    )


def convert_openhermes(row: Mapping[str, Any], i: int) -> Iterator[Pair | Dropped]:
    """question/chosen/rejected/delta_score (mlabonne/chatml-OpenHermes2.5-dpo-binarized-alpha).

    An older revision of that set kept ChatML markers in every field; they are stripped and a
    ChatML system turn, if any, becomes the system prompt.
    """
    delta = _rating(row, "delta_score")
    if delta is not None and delta == 0:
        yield Dropped("tie", i, "delta_score is 0")
        return
    system, prompt = split_chatml(_text(row, "question"))
    yield Pair(
        prompt=prompt,
        chosen=strip_chatml(_text(row, "chosen")),
        rejected=strip_chatml(_text(row, "rejected")),
        system=system or _text(row, "system", optional=True),
        row=i,
    )


def convert_distilabel(row: Mapping[str, Any], i: int) -> Iterator[Pair | Dropped]:
    """instruction/chosen_response/rejected_response with chosen_rating/rejected_rating
    (argilla/distilabel-math-preference-dpo; ratings are int64 in early revisions, float64 later)."""
    chosen_rating = _rating(row, "chosen_rating")
    rejected_rating = _rating(row, "rejected_rating")
    if chosen_rating is not None and chosen_rating == rejected_rating:
        yield Dropped("tie", i, f"both ratings are {chosen_rating:g}")
        return
    yield Pair(
        prompt=_text(row, "instruction"),
        chosen=_text(row, "chosen_response"),
        rejected=_text(row, "rejected_response"),
        system=_text(row, "system", optional=True),
        row=i,
    )


def convert_prompt(row: Mapping[str, Any], i: int) -> Iterator[Pair | Dropped]:
    """prompt/chosen/rejected strings (jondurbin/py-dpo-v0.1 and TRL's standard format)."""
    yield Pair(
        prompt=_text(row, "prompt"),
        chosen=_text(row, "chosen"),
        rejected=_text(row, "rejected"),
        system=_text(row, "system", optional=True),
        row=i,
    )


# --- conversational ---------------------------------------------------------------------------


def _messages(value: Any, column: str) -> list[tuple[str, str]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise RowError(f"column '{column}' should be a list of messages")
    out = []
    for j, message in enumerate(value):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise RowError(f"{column}[{j}] should be a mapping with 'role' and 'content'")
        content = message["content"]
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise RowError(f"{column}[{j}].content should be text, got {type(content).__name__}")
        out.append((str(message["role"]).lower(), content))
    return out


def convert_conversational(row: Mapping[str, Any], i: int) -> Iterator[Pair | Dropped]:
    """chosen/rejected as message lists. The prompt is either the conversation both share before
    their final assistant message (Anthropic-HH / HuggingFaceH4 style, where a `prompt` string
    column may repeat it) or, when chosen/rejected hold only the answer, the `prompt` column
    (a string or a list of messages, TRL's conversational format)."""
    chosen = _messages(row.get("chosen"), "chosen")
    rejected = _messages(row.get("rejected"), "rejected")
    if not chosen or not rejected:
        raise RowError("chosen and rejected must each hold at least one message")
    prompt_value = row.get("prompt")
    if len(chosen) > 1 or chosen[0][0] != "assistant" or prompt_value is None:
        if chosen[-1][0] != "assistant" or rejected[-1][0] != "assistant":
            raise RowError("the last message of chosen and rejected must be the assistant's")
        if chosen[:-1] != rejected[:-1]:
            raise RowError(
                "chosen and rejected do not share the same conversation before the answer"
            )
        turns = chosen[:-1]
        chosen, rejected = chosen[-1:], rejected[-1:]
        if not turns and isinstance(prompt_value, str):
            turns = [("user", prompt_value)]
    elif isinstance(prompt_value, str):
        turns = [("user", prompt_value)]
    else:
        turns = _messages(prompt_value, "prompt")
    if any(role != "assistant" for role, _ in chosen + rejected):
        raise RowError("chosen and rejected completions must be assistant messages")
    system = "\n\n".join(c for r, c in turns if r == "system")
    turns = [(r, c) for r, c in turns if r != "system"]
    if not turns or turns[-1][0] != "user":
        raise RowError("the prompt must end with a user message")
    yield Pair(
        prompt=turns[-1][1],
        chosen="\n\n".join(c for _, c in chosen),
        rejected="\n\n".join(c for _, c in rejected),
        system=system,
        history=tuple(turns[:-1]),
        row=i,
    )


# --- the course's M1 pairwise format ----------------------------------------------------------


def convert_m1(row: Mapping[str, Any], i: int) -> Iterator[Pair | Dropped]:
    """EPFL CS-552 M1 preference data: question_id, course_id, question_complete and a list
    `preference` of {A, B, overall, criteria}. `overall` other than "A"/"B" (ties such as "AB",
    "Tie" or "None") is dropped as a tie. The "Question: " label that opens question_complete is
    removed so M1 prompts look like every other source's."""
    question = _text(row, "question_complete")
    if question.lstrip().startswith("Question:"):
        question = question.lstrip()[len("Question:") :]
    prefs = row.get("preference")
    if not isinstance(prefs, Sequence) or isinstance(prefs, str):
        raise RowError("column 'preference' should be a list of {A, B, overall, criteria}")
    if not prefs:
        yield Dropped("empty", i, "no preference entries")
        return
    for j, pref in enumerate(prefs):
        where = f"preference[{j}]"
        if not isinstance(pref, Mapping) or not {"A", "B", "overall"} <= pref.keys():
            yield Dropped("malformed", i, f"{where} should have keys A, B and overall")
            continue
        a, b, overall = pref["A"], pref["B"], pref["overall"]
        if not isinstance(a, str) or not isinstance(b, str):
            yield Dropped("malformed", i, f"{where}: A and B should be text")
            continue
        verdict = str(overall).strip().upper() if overall is not None else ""
        if verdict not in ("A", "B"):
            yield Dropped("tie", i, f"{where}: overall is {overall!r}")
            continue
        chosen, rejected = (a, b) if verdict == "A" else (b, a)
        yield Pair(prompt=question, chosen=chosen, rejected=rejected, row=i)


# --- registry and detection -------------------------------------------------------------------


@dataclass(frozen=True)
class Schema:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    convert: Converter
    datasets: str  # the datasets that use it, for error messages and docs
    conversational: bool = False


SCHEMAS: dict[str, Schema] = {
    s.name: s
    for s in (
        Schema(
            "m1", ("question_complete", "preference"), (), convert_m1, "course M1 preference data"
        ),
        Schema(
            "conversational",
            ("chosen", "rejected"),
            ("prompt",),
            convert_conversational,
            "chosen/rejected as lists of {role, content} messages",
            conversational=True,
        ),
        Schema(
            "distilabel",
            ("instruction", "chosen_response", "rejected_response"),
            ("chosen_rating", "rejected_rating", "system"),
            convert_distilabel,
            "argilla/distilabel-math-preference-dpo",
        ),
        Schema(
            "openhermes",
            ("question", "chosen", "rejected", "delta_score"),
            ("system",),
            convert_openhermes,
            "mlabonne/chatml-OpenHermes2.5-dpo-binarized-alpha",
        ),
        Schema(
            "orca",
            ("question", "chosen", "rejected"),
            ("system",),
            convert_orca,
            "Intel/orca_dpo_pairs, NeuralNovel/Neural-DPO, kyujinpy/orca_math_dpo",
        ),
        Schema(
            "prompt",
            ("prompt", "chosen", "rejected"),
            ("system",),
            convert_prompt,
            "jondurbin/py-dpo-v0.1, TRL standard prompt/chosen/rejected",
        ),
    )
}


def _looks_conversational(sample: Mapping[str, Any] | None) -> bool:
    if not sample:
        return False
    value = sample.get("chosen")
    return isinstance(value, Sequence) and not isinstance(value, str)


def detect_schema(
    columns: Sequence[str], sample: Mapping[str, Any] | None, *, requested: str = "auto"
) -> Schema:
    """Pick the schema for a source from its columns (and one row, to tell text from messages)."""
    cols = set(columns)
    if requested != "auto":
        if requested not in SCHEMAS:
            raise SchemaError(
                f"unknown schema '{requested}'; built-in schemas: {', '.join(SCHEMAS)} (or 'auto')"
            )
        schema = SCHEMAS[requested]
        missing = [c for c in schema.required if c not in cols]
        if missing:
            raise SchemaError(
                f"schema '{requested}' needs column(s) {', '.join(missing)}; the source has "
                f"{', '.join(sorted(cols))}. Map them with columns: {{{missing[0]}: <your column>}}"
            )
        return schema
    for schema in SCHEMAS.values():
        if not all(c in cols for c in schema.required):
            continue
        if schema.conversational != _looks_conversational(sample):
            continue
        return schema
    raise SchemaError(unknown_schema_message(sorted(cols)))


def unknown_schema_message(columns: Sequence[str]) -> str:
    known = "\n".join(
        f"  - {s.name}: {', '.join(s.required)}  ({s.datasets})" for s in SCHEMAS.values()
    )
    return (
        f"its columns ({', '.join(columns) or 'none'}) match no built-in schema. Known schemas "
        f"and their required columns:\n{known}\n"
        "Map your columns onto one of them in the source block, for example\n"
        "    columns: {prompt: <prompt column>, chosen: <preferred answer column>, "
        "rejected: <other answer column>}\n"
        "or name the schema explicitly with schema: <name>."
    )
