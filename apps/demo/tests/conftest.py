"""A real `demo` server (subprocess, tiny model, embedded Chroma in a temp folder) and a real Chromium.

One server per test session keeps the suite fast on two cores: the browser and the
gradio_client tests share it (they use different documents/questions, so they do not interfere).
Browser and server tests skip with a reason on a machine without chromium, and fail instead
when STEMQA_REQUIRE_ALL=1 (CI), so CI can never pass by skipping them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PDF_DIR = REPO / "tests" / "data" / "pdfs"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_all() -> bool:
    return os.environ.get("STEMQA_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    if require_all():
        pytest.fail(f"{reason} (STEMQA_REQUIRE_ALL=1: this test must run, not skip)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DemoServer:
    url: str
    data_dir: Path
    runs_dir: Path
    log_path: Path
    run_folder: Future[tuple[Path, int]] | None = None  # a training run, built meanwhile

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def make_run_folder(run: Path, tiny_model_dir: Path) -> tuple[Path, int]:
    """A run folder as train-dpo leaves it: a real DoRA adapter of the tiny model, metrics.jsonl
    and the PNGs train's own plot code draws. The metric values are illustrative: tests check
    that the app shows them, not what they are. Returns (folder, number of PNGs)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from stemqa.train.training.plots import DPO_PANELS, write_plots
    from stemqa.train.training.runs import ADAPTER_DIR, METRICS_FILE, PLOTS_DIR

    run.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(
        r=16, lora_alpha=16, use_dora=True, target_modules=["q_proj", "k_proj", "v_proj", "dense"]
    )
    get_peft_model(model, config).save_pretrained(run / ADAPTER_DIR)
    records = [
        {
            "step": step,
            "loss": 0.69 - 0.03 * step,
            "rewards/accuracies": 0.5 + 0.04 * step,
            "rewards/margins": 0.05 * step,
        }
        for step in range(1, 11)
    ]
    (run / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))
    return run, len(write_plots(records, run / PLOTS_DIR, DPO_PANELS))


@pytest.fixture(scope="session")
def course_pdfs() -> list[Path]:
    """The two smallest course PDFs (PHY202 9 pages, PHY102 5 pages): real files, quick to embed."""
    pdfs = sorted(PDF_DIR.glob("*.pdf"), key=lambda p: p.stat().st_size)[:2]
    if len(pdfs) < 2:
        pytest.fail(f"expected the course PDFs in {PDF_DIR} (committed with the repository)")
    return pdfs


@pytest.fixture(scope="session")
def demo_server(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    """`python -m stemqa.demo.cli --model <tiny>` on a free port, waited on until model and index are ready."""
    root = tmp_path_factory.mktemp("demo")
    if os.environ.get("STEMQA_DEMO_URL"):  # debugging: drive an app you started yourself
        data_dir = Path(os.environ.get("STEMQA_DEMO_DATA_DIR", root / "data"))
        (root / "server.log").write_text("external server\n")
        yield DemoServer(
            os.environ["STEMQA_DEMO_URL"], data_dir, data_dir / "runs", root / "server.log"
        )
        return
    runs_dir = root / "runs"
    args = [
        "--model_name_or_path",
        str(tiny_model_dir),
        "--runs-dir",
        str(runs_dir),
        "--max-new-tokens",
        "48",
    ]
    proc, server = start_demo(root, args)
    server.runs_dir = runs_dir
    # Build the training run for the model tab while the server starts (mostly imports).
    pool = ThreadPoolExecutor(max_workers=1)
    server.run_folder = pool.submit(make_run_folder, runs_dir / "dpo-example", tiny_model_dir)
    try:
        wait_ready(proc, server)
        yield server
    finally:
        pool.shutdown(wait=True)
        stop_demo(proc)


def start_demo(root: Path, args: list[str]) -> tuple[subprocess.Popen, DemoServer]:
    """`python -m stemqa.demo.cli ARGS` on a free port with its data folder under `root`."""
    data_dir = root / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        ANONYMIZED_TELEMETRY="False",
        PYTHONUNBUFFERED="1",
    )
    log_path = root / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "stemqa.demo.cli",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--max-upload-mb",
        "5",
        *args,
    ]
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    return proc, DemoServer(f"http://127.0.0.1:{port}/", data_dir, data_dir / "runs", log_path)


def wait_ready(
    proc: subprocess.Popen,
    server: DemoServer,
    *,
    auth: tuple[str, str] | None = None,
    model: bool = True,
) -> None:
    """Poll /status until the index (and the model, unless `model` is False) is ready."""
    from gradio_client import Client

    deadline = time.monotonic() + 300
    client = None
    status: dict = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"demo exited with {proc.returncode}:\n{server.log()[-4000:]}")
        try:
            client = client or Client(server.url, auth=auth, verbose=False)
            status = client.predict(api_name="/status")
            if "failed" in ((status["model"],) if model else ()) + (status["index_state"],):
                pytest.fail(f"demo did not get ready: {status}\n{server.log()[-4000:]}")
            if (status["model"] == "ready" or not model) and status["index_state"] == "ready":
                return
        except pytest.fail.Exception:
            raise
        except Exception:
            pass
        time.sleep(1)
    pytest.fail(f"demo not ready after 300 s: {status}\n{server.log()[-4000:]}")


def stop_demo(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    for candidate in (
        os.environ.get("STEMQA_CHROMIUM"),
        *CHROMIUM_CANDIDATES,
        shutil.which("chromium"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def browser(chromium_path: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def pdf_pages(tmp_path_factory: pytest.TempPathFactory):
    """carve(pdf, pages) -> bytes: a real PDF made of some pages of a course PDF (pypdfium2), so
    tests get distinct real documents that embed in seconds."""
    import pypdfium2 as pdfium

    folder = tmp_path_factory.mktemp("carved")

    def carve(pdf: Path, pages: list[int]) -> bytes:
        src = pdfium.PdfDocument(str(pdf))
        out = pdfium.PdfDocument.new()
        out.import_pages(src, pages)
        target = folder / f"{pdf.stem}-{'-'.join(map(str, pages))}.pdf"
        out.save(str(target))
        return target.read_bytes()

    return carve


@pytest.fixture(scope="session")
def open_app(browser, demo_server):
    """open_app() -> (context, page): a new browser session (its own `session_hash`) on the app,
    once the banner says the model is ready. Close the context when done."""
    from playwright.sync_api import expect

    def open_(height: int = 1000):
        context = browser.new_context(viewport={"width": 1280, "height": height})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(demo_server.url)
        expect(page.locator("#status-banner")).to_contain_text("Model ready", timeout=300_000)
        return context, page

    return open_


@pytest.fixture(scope="session")
def launch_demo(tmp_path_factory: pytest.TempPathFactory):
    """launch_demo(args, auth=None, model=True) -> DemoServer: another app with other flags
    (e.g. --auth, --read-only-library), waited on, stopped at the end of the session."""
    procs: list[subprocess.Popen] = []

    def launch(args: list[str], *, auth: tuple[str, str] | None = None, model: bool = True):
        proc, server = start_demo(tmp_path_factory.mktemp("demo-extra"), args)
        procs.append(proc)
        wait_ready(proc, server, auth=auth, model=model)
        return server

    yield launch
    for proc in procs:
        stop_demo(proc)


# -- documents without pages (.md, .html, .docx): small real files, written by the libraries ----

NOTES_MD = """# Wave optics

Light behaves as a wave when it passes a narrow slit.

## Young's double slit

Two coherent sources make bright fringes where the path difference is a whole number of
wavelengths, and dark fringes where it is <half> a wavelength off: d sin θ = m λ.

## Polarisation

Malus's law: the transmitted intensity is I = I0 cos² θ.
"""

NOTES_HTML = """<!doctype html><html><head><title>Thermodynamics notes</title></head><body>
<h2>Entropy</h2><p>The entropy of an isolated system never decreases; reversible steps keep it
constant.</p><h2>Third law</h2><p>As temperature approaches absolute zero the entropy of a
perfect crystal approaches zero.</p></body></html>"""


def write_docx(path: Path) -> Path:
    """A real Word file (python-docx): two headed sections."""
    import docx

    document = docx.Document()
    document.add_heading("Laplace transform", level=1)
    document.add_paragraph("It turns linear differential equations into algebraic ones.")
    document.add_heading("Final value theorem", level=2)
    document.add_paragraph(
        "The limit of f(t) as t grows equals the limit of s F(s) as s goes to zero, when the "
        "poles of s F(s) lie in the left half plane."
    )
    document.save(str(path))
    return path


@pytest.fixture(scope="session")
def doc_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good and bad documents of each non-PDF format (bad: the faults users make)."""
    folder = tmp_path_factory.mktemp("doc_files")
    files = {
        "md": folder / "optics.md",
        "html": folder / "thermo.html",
        "docx": write_docx(folder / "laplace.docx"),
        "bad_docx": folder / "broken.docx",  # a renamed text file
        "bad_html": folder / "scripts.html",  # markup without any text
        "bad_txt": folder / "latin1.txt",  # not UTF-8
    }
    files["md"].write_text(NOTES_MD, encoding="utf-8")
    files["html"].write_text(NOTES_HTML, encoding="utf-8")
    files["bad_docx"].write_text("Just text saved with a .docx name.\n")
    files["bad_html"].write_text("<html><body><script>render()</script></body></html>")
    files["bad_txt"].write_bytes("Kräfte und Momente\n".encode("latin-1"))
    return files
