"""The staged Space starts like it would on the Hub: a clean virtual environment built only from
its requirements.txt (as the Spaces builder does, before the repository is copied in), app.py
run from the staged folder, offline, serving the tiny model. Nothing from the workspace venv is
importable there, so the stemqa code can only come from the staged wheels.

uv installs from the package registry as any user's machine would (never --offline: a
lock-driven `uv sync` caches wheels but not the index pages that resolving a requirements file
needs, so --offline only worked where an earlier run had filled the cache); wheels the
workspace sync already downloaded come from uv's cache. --no-deps because requirements.txt is
a complete pinned set, and `uv pip check` then proves that set is consistent.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stemqa.space.staging import StagedSpace

START_TIMEOUT = 150  # seconds for the app to serve and the tiny model to load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def clean_venv(
    staged_space: StagedSpace, tmp_path_factory: pytest.TempPathFactory, require
) -> Path:
    uv = shutil.which("uv")
    require(uv is not None, "uv is not on PATH")
    venv = tmp_path_factory.mktemp("space-venv") / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env=env)
    python = venv / "bin" / "python"
    _run(
        [
            uv,
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--python",
            str(python),
            "-r",
            str(staged_space.folder / "requirements.txt"),
        ],
        env=env,
    )
    _run([uv, "pip", "check", "--python", str(python)], env=env)
    listed = _run([uv, "pip", "list", "--python", str(python)], env=env).stdout
    assert "gradio" in listed and "torch" in listed
    assert "stemqa" not in listed  # only the staged wheels may provide it
    return python


@pytest.mark.slow
@pytest.mark.server
def test_staged_app_serves_the_tiny_model_from_a_clean_venv(
    clean_venv: Path, staged_space: StagedSpace, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from gradio_client import Client

    port = _free_port()
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        PATH=f"{clean_venv.parent}{os.pathsep}{env.get('PATH', '')}",
        TMPDIR=str(tmp_path / "tmp"),  # where app.py unpacks the wheels
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        SPACE_ID="me/stemqa",  # as on the Hub; the app must still honour the STEMQA_* below
        STEMQA_MODEL=str(tiny_model_dir),
        STEMQA_HOST="127.0.0.1",
        STEMQA_PORT=str(port),
        STEMQA_DATA_DIR=str(tmp_path / "data"),
    )
    env.pop("SPACES_ZERO_GPU", None)
    log_path = tmp_path / "app.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(clean_venv), "app.py"],
            cwd=staged_space.folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + START_TIMEOUT
        client = None
        status: dict = {}
        while time.monotonic() < deadline:
            assert process.poll() is None, (
                f"app.py exited with {process.returncode}:\n{log_path.read_text()}"
            )
            try:
                client = client or Client(url, verbose=False)
                status = client.predict(api_name="/status")
            except Exception:  # not listening yet
                time.sleep(1)
                continue
            if status["model"] in ("ready", "failed"):
                break
            time.sleep(1)
        assert status.get("model") == "ready", (
            f"model status {status}; log:\n{log_path.read_text()}"
        )
        assert status["model_name"] == str(tiny_model_dir)

        question = "Which is a noble gas?\nA. Oxygen\nB. Neon\nC. Iron\nD. Sodium"
        # /mcqa's outputs start with the five answer outputs (answer, probabilities, passages,
        # prompt, latency); the page viewer's and the inline-message slots follow.
        answer_html, _probs, _passages, prompt, _latency = client.predict(
            question, "", False, 3, api_name="/mcqa"
        )[:5]
        letter = re.search(r'data-letter="([A-D])"', answer_html)
        assert letter, answer_html
        assert "A. Oxygen" in prompt and prompt.rstrip().endswith("Answer:")

        unpacked = list((tmp_path / "tmp").glob("stemqa-space-*"))
        assert len(unpacked) == 1 and (unpacked[0] / "stemqa" / "demo" / "app.py").is_file()
        assert "ZeroGPU off" in log_path.read_text()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
