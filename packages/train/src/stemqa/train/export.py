"""Merge a trained adapter into its base model and write a standalone transformers folder.

Why: vLLM cannot load DoRA adapters at all (vllm-project/vllm#6983, "lora_magnitude_vector is
unsupported LoRA weight"), and TGI, llama.cpp/Ollama converters and plain ``transformers`` users
without peft want one ordinary model folder. ``export_model`` writes exactly that: safetensors
shards, config, tokenizer, generation config and a model card built from the run's records.

How the merge is done, and why:

* The base is always loaded **unquantized, in float32**, even when the adapter was trained on
  a 4-bit NF4 base (QDoRA). peft can merge into bitsandbytes 4-bit weights only by
  dequantizing, adding the delta and re-quantizing, which rounds the adapter's update away and
  has open correctness bugs (peft#2321, #2501, #2105); LLaMA-Factory refuses it too. A base
  checkpoint that is *stored* quantized is therefore refused with that reason (pass the
  full-precision base with ``base=``). The merge itself runs in fp32; the result is cast to the
  requested ``dtype`` only when it is written.
* The adapter chain. A run folder records where its adapter came from in ``summary.json``:
  ``adapter_init`` is ``"fresh"`` or the adapter folder it *continued* (``train-mcqa --adapter
  DPO_RUN/adapter``), and ``base_model`` is what it was trained on. Continuing trains the *same*
  weights further (peft ``is_trainable=True`` on the earlier adapter), so the last adapter
  already contains the earlier run's update: it is merged once, and the earlier runs are
  recorded in the card, not merged again (that would apply the DPO delta twice). When a run's
  ``base_model`` is itself an adapter or run folder (an adapter trained *on top of* another
  one), that base is merged first, recursively: adapters merge in the order they were trained.
  :func:`adapter_chain` returns that history, oldest first; ``stemqa_export.json`` in the
  exported folder keeps it, so exporting again from an export still knows where it came from.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stemqa.train.training.runs import ADAPTER_DIR, SUMMARY_FILE, jsonable

#: What ``--dtype`` accepts (the dtype of the written weights; merging always runs in fp32).
EXPORT_DTYPES = ("bfloat16", "float16", "float32")
#: The export's own record of the chain it merged (next to config.json).
EXPORT_FILE = "stemqa_export.json"
#: Known peft issues about merging into quantized weights, quoted in the refusal.
QUANTIZED_MERGE_ISSUES = "peft#2321, #2501, #2105"


class ExportError(ValueError):
    """The export cannot be done as asked; the message names the input and what to do."""


@dataclass(frozen=True)
class ChainStep:
    """One trained adapter in the history of an export, oldest first.

    ``merged`` is False for an adapter that a later run continued: its update lives on inside
    the later adapter, so it is recorded but not merged on its own.
    """

    adapter: Path
    run: Path | None
    base_model: str
    summary: Mapping[str, Any] = field(default_factory=dict)
    merged: bool = True

    @property
    def method(self) -> str:
        return str(self.summary.get("method") or "adapter")

    def describe(self) -> dict[str, Any]:
        return {
            "adapter": str(self.adapter),
            "run": str(self.run) if self.run else None,
            "base_model": self.base_model,
            "method": self.method,
            "adapter_type": self.summary.get("adapter_type"),
            "merged": self.merged,
            "continued_by_next": not self.merged,
        }


@dataclass
class ExportResult:
    out: Path
    dtype: str
    chain: list[ChainStep]
    files: list[tuple[str, int]]  # (path in folder, bytes)
    repo_id: str | None = None
    url: str | None = None
    commit: str | None = None


def is_adapter_source(path: str | Path) -> bool:
    """True for a peft adapter folder or a run folder holding ``adapter/``."""
    path = Path(path)
    return (path / "adapter_config.json").is_file() or (
        path / ADAPTER_DIR / "adapter_config.json"
    ).is_file()


def find_adapter(source: str | Path) -> tuple[Path, Path | None]:
    """(adapter folder, run folder or None) for a run folder, its ``adapter/`` or a bare adapter."""
    source = Path(source)
    if not source.is_dir():
        raise ExportError(
            f"{source} is not a folder: pass a train-dpo/train-mcqa output_dir or an adapter folder"
        )
    if (source / ADAPTER_DIR / "adapter_config.json").is_file():
        return source / ADAPTER_DIR, source
    if (source / "adapter_config.json").is_file():
        parent = source.parent
        run = parent if (parent / SUMMARY_FILE).is_file() and source.name == ADAPTER_DIR else None
        if run is None and (source / SUMMARY_FILE).is_file():
            run = source  # adapter files saved at the run folder's top level
        return source, run
    raise ExportError(
        f"{source} holds no adapter (no adapter_config.json, no {ADAPTER_DIR}/): pass the "
        "output_dir of a finished train-dpo/train-mcqa run or an adapter folder"
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(
            f"{path} is not readable JSON ({exc}); re-run the training or fix the file"
        ) from None


def _step(source: str | Path, *, base: str | None = None) -> ChainStep:
    adapter, run = find_adapter(source)
    summary = _read_json(run / SUMMARY_FILE) if run and (run / SUMMARY_FILE).is_file() else {}
    config = _read_json(adapter / "adapter_config.json")
    base_model = base or summary.get("base_model") or config.get("base_model_name_or_path")
    if not base_model:
        raise ExportError(
            f"{adapter / 'adapter_config.json'} names no base model (base_model_name_or_path) and "
            "there is no summary.json: pass --base with the model it was trained on"
        )
    return ChainStep(adapter=adapter, run=run, base_model=str(base_model), summary=summary)


def adapter_chain(source: str | Path, *, base: str | None = None) -> list[ChainStep]:
    """The adapters behind ``source``, oldest first (see the module docstring for the rules).

    ``base`` overrides the root base model (e.g. a local copy of a Hub id)."""
    last = _step(source)
    continued: list[ChainStep] = []
    seen = {last.adapter.resolve()}
    init = last.summary.get("adapter_init")
    while init and init != "fresh":
        if not is_adapter_source(init):
            raise ExportError(
                f"{last.run / SUMMARY_FILE if last.run else last.adapter}: adapter_init {init!r} is "
                "not an adapter folder any more; the final adapter still holds its update, but the "
                "card could not record it: restore the folder or export the adapter folder alone"
            )
        earlier = _step(init)
        if earlier.adapter.resolve() in seen:
            raise ExportError(f"adapter_init links of {source} form a loop at {init}")
        seen.add(earlier.adapter.resolve())
        continued.insert(0, replace(earlier, merged=False))
        init = earlier.summary.get("adapter_init")
    if is_adapter_source(last.base_model):
        stacked = adapter_chain(last.base_model, base=base)
        return [*stacked, *continued, last]
    if base is not None:
        last = replace(last, base_model=base)
    return [*continued, last]


def root_base_model(chain: Sequence[ChainStep]) -> str:
    """The full model the first merged adapter goes into."""
    return next(step.base_model for step in chain if not is_adapter_source(step.base_model))


def check_not_quantized(base: str, *, quantization_config: Any = None) -> None:
    """Refuse a quantized merge target, saying why (before any weight is loaded)."""
    if quantization_config is None:
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(base)
        except Exception as exc:
            from stemqa.core.loading import ModelLoadError, _hint

            raise ModelLoadError(
                f"Could not read the config of the base model {base!r}: {exc}. {_hint(base)}"
            ) from exc
        quantization_config = getattr(config, "quantization_config", None)
    if quantization_config:
        if not isinstance(quantization_config, Mapping):
            quantization_config = quantization_config.to_dict()
        method = quantization_config.get("quant_method", "quantized")
        bits = (
            "4-bit"
            if quantization_config.get("load_in_4bit")
            else quantization_config.get("bits", "")
        )
        raise ExportError(
            f"the merge target {base!r} is stored quantized ({method} {bits}); merging an adapter "
            f"into quantized weights is lossy and unsupported ({QUANTIZED_MERGE_ISSUES}): pass "
            "--base with the full-precision model the adapter was trained from (a 4-bit-trained "
            "adapter merges into the unquantized base)"
        )


def merge_chain(chain: Sequence[ChainStep], *, progress: Callable[[str], None] | None = None):
    """Load the root base unquantized in fp32 and merge every ``merged`` step in order;
    returns the plain transformers model (no peft wrapper)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from stemqa.core.loading import ModelLoadError, _hint

    base = root_base_model(chain)
    check_not_quantized(base)
    try:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    except Exception as exc:
        raise ModelLoadError(
            f"Could not load the base model {base!r}: {exc}. {_hint(base)}"
        ) from exc
    if progress:
        progress(f"loaded {base} (float32, unquantized)")
    for step in chain:
        if not step.merged:
            continue
        try:
            peft_model = PeftModel.from_pretrained(model, str(step.adapter), is_trainable=False)
        except Exception as exc:
            raise ModelLoadError(
                f"Could not apply the adapter {str(step.adapter)!r} to {step.base_model!r}: {exc}"
            ) from exc
        model = peft_model.merge_and_unload(safe_merge=True)
        if progress:
            progress(f"merged {step.adapter}")
    model.eval()
    return model


def _tokenizer_source(chain: Sequence[ChainStep]) -> str:
    for step in reversed(chain):
        if (step.adapter / "tokenizer_config.json").is_file():
            return str(step.adapter)
    return root_base_model(chain)


def _scalar_metrics(values: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(values, Mapping):
        for key, value in values.items():
            name = f"{prefix}{key}"
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[name] = value
            elif isinstance(value, Mapping) and key in (
                "overall",
                "closed_book",
                "rag",
                "eval",
                "test",
            ):
                out.update(_scalar_metrics(value, f"{name}."))
    return out


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def model_card(chain: Sequence[ChainStep], *, dtype: str) -> str:
    """README.md of the export: Hub front matter, the merged chain and each run's metrics."""
    base = root_base_model(chain)
    kinds = sorted({str(s.summary.get("adapter_type") or "lora") for s in chain})
    lines = [
        "---",
        f"base_model: {base}",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags:",
        *[f"- {t}" for t in ("stemqa", "merged", *kinds)],
        "---",
        "",
        f"# {Path(base).name} + {' → '.join(s.method for s in chain)} (merged)",
        "",
        f"A standalone model: the adapter(s) below merged into [{base}] in float32, written as "
        f"{dtype}. It loads without peft:",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        'model = AutoModelForCausalLM.from_pretrained("PATH_OR_REPO_ID")',
        'tokenizer = AutoTokenizer.from_pretrained("PATH_OR_REPO_ID")',
        "```",
        "",
        "## Training history (oldest first)",
        "",
        "| # | method | adapter | merged | base |",
        "|---|---|---|---|---|",
    ]
    for i, step in enumerate(chain, 1):
        merged = "yes" if step.merged else "continued by the next run (its update is inside it)"
        lines.append(f"| {i} | {step.method} | `{step.adapter}` | {merged} | `{step.base_model}` |")
    lines.append("")
    for i, step in enumerate(chain, 1):
        metrics: dict[str, Any] = {}
        for key in ("eval", "test"):
            metrics.update(_scalar_metrics(step.summary.get(key), f"{key}."))
        metrics.update(_scalar_metrics(step.summary.get("mcqa_accuracy"), "mcqa."))
        if metrics:
            lines += [
                f"## Results of step {i} ({step.method})",
                "",
                "| metric | value |",
                "|---|---|",
            ]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
            lines.append("")
    return "\n".join(lines)


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"--out {out} exists and is not an empty folder: pass a new folder")


def export_model(
    source: str | Path,
    out: str | Path,
    *,
    dtype: str = "bfloat16",
    base: str | None = None,
    max_shard_size: str = "5GB",
    push_to: str | None = None,
    private: bool = False,
    token: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Merge the adapter chain of ``source`` (run folder or adapter) into its base and write a
    standalone model folder to ``out``; optionally upload it to ``push_to`` in one commit."""
    import torch

    from stemqa.core.loading import load_tokenizer

    if dtype not in EXPORT_DTYPES:
        raise ExportError(f"--dtype {dtype!r} is not one of {', '.join(EXPORT_DTYPES)}")
    if push_to:
        from stemqa.train.push import check_repo_id

        check_repo_id(push_to, "--repo_id")
    out = Path(out)
    _check_out(out)
    chain = adapter_chain(source, base=base)
    model = merge_chain(chain, progress=progress)
    tokenizer = load_tokenizer(_tokenizer_source(chain))
    model.to(getattr(torch, dtype))
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    generation = getattr(model, "generation_config", None)
    if generation is not None and generation.pad_token_id is None:
        generation.pad_token_id = tokenizer.pad_token_id
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, max_shard_size=max_shard_size)
    tokenizer.save_pretrained(tmp)
    (tmp / "README.md").write_text(model_card(chain, dtype=dtype) + "\n")
    record = {
        "base_model": root_base_model(chain),
        "dtype": dtype,
        "merge_dtype": "float32",
        "chain": [step.describe() for step in chain],
    }
    (tmp / EXPORT_FILE).write_text(json.dumps(jsonable(record), indent=2) + "\n")
    if out.exists():
        out.rmdir()  # empty (checked above)
    tmp.rename(out)
    if progress:
        progress(f"wrote {out}")
    files = sorted(p for p in out.rglob("*") if p.is_file())
    result = ExportResult(
        out=out,
        dtype=dtype,
        chain=chain,
        files=[(str(p.relative_to(out)), p.stat().st_size) for p in files],
    )
    if push_to:
        from stemqa.train.push import upload_files

        result.repo_id = push_to
        result.url, result.commit = upload_files(
            push_to,
            [(str(p.relative_to(out)), p) for p in files],
            token=token,
            private=private,
            commit_message="Upload merged model exported with stemqa",
        )
    return result
