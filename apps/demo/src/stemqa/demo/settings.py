"""The app's settings: one dataclass, filled from environment variables, overridden by CLI flags.

Environment variables exist so that a Hugging Face Space (which has no command line) and a
container can configure the same app the CLI configures.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from stemqa.core.loading import QUANTIZATIONS

DEFAULT_MODEL = "microsoft/phi-2"
#: core's quantizations plus "auto" (nf4 on CUDA, none on CPU), resolved by the model service
QUANTIZATION_CHOICES = ("auto", *QUANTIZATIONS)

#: field name -> environment variable read by Settings.from_env()
ENV_VARS: dict[str, str] = {
    "model": "STEMQA_MODEL",
    "adapter": "STEMQA_ADAPTER",
    "quantization": "STEMQA_QUANTIZATION",
    "index": "STEMQA_INDEX",
    "chroma_host": "STEMQA_CHROMA_HOST",
    "chroma_port": "STEMQA_CHROMA_PORT",
    "embedding_model": "STEMQA_EMBEDDING_MODEL",
    "data_dir": "STEMQA_DATA_DIR",
    "runs_dir": "STEMQA_RUNS_DIR",
    "host": "STEMQA_HOST",
    "port": "STEMQA_PORT",
    "max_upload_mb": "STEMQA_MAX_UPLOAD_MB",
    "model_concurrency": "STEMQA_MODEL_CONCURRENCY",
    "queue_size": "STEMQA_QUEUE_SIZE",
    "max_new_tokens": "STEMQA_MAX_NEW_TOKENS",
    "max_batch_size": "STEMQA_MAX_BATCH_SIZE",
    "read_only_library": "STEMQA_READ_ONLY_LIBRARY",
    "session_ttl_minutes": "STEMQA_SESSION_TTL_MINUTES",
    "auth": "STEMQA_AUTH",
    "hf_oauth": "STEMQA_HF_OAUTH",
    "confidence_threshold": "STEMQA_CONFIDENCE_THRESHOLD",
    "calibration": "STEMQA_CALIBRATION",
}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the key and the accepted values."""


def default_data_dir() -> Path:
    """Per-user data folder (~/.local/share/stemqa on Linux), so the index survives restarts."""
    return Path(platformdirs.user_data_dir("stemqa", appauthor=False))


@dataclass
class Settings:
    model: str = DEFAULT_MODEL
    adapter: str | None = None
    quantization: str = "auto"  # auto: nf4 on CUDA, none on CPU
    index: Path | None = None  # default: <data_dir>/index
    chroma_host: str | None = None  # a `chroma run` server instead of the embedded store
    chroma_port: int | None = None
    embedding_model: str | None = None  # default: stemqa.rag's
    data_dir: Path = field(default_factory=default_data_dir)
    runs_dir: Path | None = None  # training runs shown in the model tab; default: <data_dir>/runs
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = 50
    model_concurrency: int = 1  # events that may hold the model at once
    queue_size: int = 64  # events waiting in Gradio's queue before users are told it is full
    max_new_tokens: int = 256
    max_batch_size: int = 16  # MCQA prompts scored in one forward pass across users (1: one by one)
    load_model_on_start: bool = True
    # Who may change the library (library.py): visitors can't change the shared one when set.
    read_only_library: bool = False
    session_ttl_minutes: int = 24 * 60  # a session's private documents, removed when unused
    auth: str | None = None  # "USER:PASS[,USER:PASS…]": Gradio's login, persistent libraries
    hf_oauth: bool | None = None  # "Sign in with Hugging Face"; default: on a Space with OAuth
    # MCQA answers below this calibrated confidence show as "not sure" (stemqa.demo.confidence)
    confidence_threshold: float = 0.5
    calibration: Path | None = None  # calibration.json; default: next to the adapter

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        if self.index is not None:
            self.index = Path(self.index).expanduser()
        if self.runs_dir is not None:
            self.runs_dir = Path(self.runs_dir).expanduser()
        if self.calibration is not None:
            self.calibration = Path(self.calibration).expanduser()
        self.validate()

    def validate(self) -> None:
        if self.quantization not in QUANTIZATION_CHOICES:
            raise SettingsError(
                f"quantization={self.quantization!r} is not one of {', '.join(QUANTIZATION_CHOICES)} "
                f"(set {ENV_VARS['quantization']} or --quantization)"
            )
        for key in (
            "port",
            "max_upload_mb",
            "model_concurrency",
            "queue_size",
            "max_new_tokens",
            "max_batch_size",
            "session_ttl_minutes",
        ):
            value = getattr(self, key)
            if not isinstance(value, int) or value < (0 if key == "port" else 1):
                raise SettingsError(
                    f"{key}={value!r} must be a positive integer (set {ENV_VARS[key]} or --{key.replace('_', '-')})"
                )
        if self.chroma_port is not None and self.chroma_host is None:
            raise SettingsError(
                f"chroma_port is set but chroma_host is not (set {ENV_VARS['chroma_host']} or --chroma_host)"
            )

        threshold = self.confidence_threshold
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not (0 <= threshold <= 1)
        ):
            raise SettingsError(
                f"confidence_threshold={threshold!r} must be a number from 0 to 1 (set "
                f"{ENV_VARS['confidence_threshold']} or --confidence_threshold)"
            )
        self.auth_pairs()  # a malformed --auth is a settings error, not a login that never works

    def auth_pairs(self) -> list[tuple[str, str]] | None:
        """--auth as Gradio's launch(auth=[(user, password), …]), None when not set."""
        if not self.auth:
            return None
        pairs = []
        for n, item in enumerate(self.auth.split(","), start=1):
            user, sep, password = item.strip().partition(":")
            if not sep or not user or not password:
                # never echo the entry: it may hold a password
                raise SettingsError(
                    f"auth: entry {n} is not USER:PASS (set {ENV_VARS['auth']} or --auth, "
                    "several separated by commas)"
                )
            pairs.append((user, password))
        return pairs

    @property
    def oauth_enabled(self) -> bool:
        """HF OAuth: explicit setting, else on when the Space has OAuth (OAUTH_CLIENT_ID)."""
        if self.hf_oauth is not None:
            return self.hf_oauth
        return bool(os.environ.get("OAUTH_CLIENT_ID"))

    def index_config(self):
        """What the app asks of the index (a stemqa.rag IndexConfig; None fields: the index's own
        recorded values, else rag's defaults). One value instead of keyword arguments by hand."""
        from stemqa.rag.config import IndexConfig

        return IndexConfig(embedding_model=self.embedding_model)

    @property
    def index_dir(self) -> Path:
        return self.index if self.index is not None else self.data_dir / "index"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def cache_dir(self) -> Path:
        """Gradio's upload cache: kept under the data folder so nothing lands elsewhere."""
        return self.data_dir / "cache"

    @property
    def runs_path(self) -> Path:
        return self.runs_dir if self.runs_dir is not None else self.data_dir / "runs"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from STEMQA_* variables; keyword overrides (CLI flags) win over them."""
        environ = os.environ if environ is None else environ
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        values: dict[str, object] = {}
        for name, var in ENV_VARS.items():
            raw = environ.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[name] = _convert(name, types[name], raw.strip(), var)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _convert(name: str, type_name: object, raw: str, var: str) -> object:
    if "bool" in str(type_name):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(f"{var}={raw!r}: {name} must be true or false (1/0, yes/no)")
    if "float" in str(type_name):
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{var}={raw!r}: {name} must be a number") from None
    if "int" in str(type_name):
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{var}={raw!r}: {name} must be an integer") from None
    if "Path" in str(type_name):
        return Path(raw)
    return raw
