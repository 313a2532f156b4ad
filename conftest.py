"""Session-wide test settings shared by every package's tests.

The Hub is unreachable in this workplace and in CI: offline flags make libraries fail fast
instead of waiting on timeouts.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_CACHE = Path(__file__).resolve().parent / ".cache"
# The ONNX export of the embedder goes into the checkout's own cache, not the user's: a fresh
# clone then exports once, as a fresh machine would, instead of passing on a warm ~/.cache.
os.environ.setdefault("STEMQA_ONNX_CACHE", str(_CACHE / "onnx"))


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """Folder of the tiny random-weight phi model, built once and shared by every package's tests.

    Cached under .cache/tiny-model-<generator version>; built in a temp folder then renamed, so
    concurrent test sessions never see a half-written model.
    """
    from stemqa.core.tiny_model import GENERATOR_VERSION, MARKER_FILE, make_tiny_model

    target = _CACHE / f"tiny-model-{GENERATOR_VERSION}"
    if not (target / MARKER_FILE).is_file():
        _CACHE.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="tiny-model-build-", dir=_CACHE))
        make_tiny_model(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another session finished first, or a broken leftover is in the way
            if not (target / MARKER_FILE).is_file():
                shutil.rmtree(target, ignore_errors=True)
                tmp.rename(target)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return target


@pytest.fixture(scope="module")
def tiny_cpu(tiny_model_dir: Path):
    """(model, tokenizer) of the tiny model on CPU, run with one intra-op thread.

    One thread is several times faster than two on the two shared cores of CI; the previous
    thread count is restored when the module's tests are done.
    """
    import torch

    from stemqa.core import load_model

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_model(str(tiny_model_dir), device="cpu")
    torch.set_num_threads(before)
