"""Model tab: which model answers, pushing its adapter to the Hub, and a training run's plots.

The Hub token is a password field that goes straight into push_adapter and is cleared from the
page afterwards; it is never logged, stored or echoed in a message.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import gradio as gr
import pandas as pd

from stemqa.demo.model_service import READY
from stemqa.demo.services import Services
from stemqa.demo.settings import QUANTIZATION_CHOICES

log = logging.getLogger(__name__)

#: metrics.jsonl keys plotted, first present wins per plot (TRL's DPO and SFT names)
LOSS_KEYS = ("loss", "train_loss", "eval_loss")
ACCURACY_KEYS = ("rewards/accuracies", "eval_rewards/accuracies", "mean_token_accuracy")


def status_markdown(services: Services) -> str:
    state = services.model.state()
    if state.reload_error:  # the old model answers; say so first, then what failed
        name = state.model + (f" + {state.adapter}" if state.adapter else "")
        return f"**Model ready (old model {name}), reload failed:** {state.reload_error}"
    text = f"**Model {state.status}.** {state.message}"
    if state.status == READY and state.seconds is not None:
        text += f" Loaded in {state.seconds:.1f} s."
    return text


def banner_markdown(services: Services) -> str:
    """Model and index status on one line above the tabs, so failures are seen on every tab."""
    return f"{status_markdown(services)}  \n**Documents:** {services.index.status()}"


def load_model(services: Services, model: str, adapter: str, quantization: str) -> tuple[str, str]:
    """Handler: (model status, message under the model box)."""
    if not (model or "").strip():
        return status_markdown(services), "✗ Give a model id (e.g. microsoft/phi-2) or a folder."
    services.model.load_async(model, adapter or None, quantization)
    return status_markdown(services), ""


def _push_problem(message: str, token: str) -> str:
    """A push error in the tab's words: no CLI flags, never the token."""
    message = message.replace("--repo-id", "Repo id")
    message = message.split("; pass the output_dir")[0]  # the CLI's advice; the tab's follows
    if "holds no trained adapter" in message:
        message += ": choose a finished training run's folder or an adapter folder"
    if token:
        message = message.replace(token, "***")
    return f"✗ Push failed: {message}."


def push(
    services: Services, folder: str, repo_id: str, token: str, private: bool, dry_run: bool
) -> tuple[str, str]:
    """Push an adapter or run folder; returns (message, "") so the token box is always emptied,
    and the message replaces whatever an earlier push (or dry run) left there.

    The token must come from the form: falling back to the server's own HF_TOKEN would let any
    visitor push with the owner's credentials.
    """
    from stemqa.train.push import check_repo_id, push_adapter

    token = (token or "").strip()
    folder = (folder or "").strip()
    if not folder:
        return "✗ Give the folder of a training run (or of an adapter) to push.", ""
    if not Path(folder).expanduser().is_dir():
        return f"✗ Folder {folder} not found.", ""
    if not dry_run and not token:
        return "✗ A Hub token with write access is needed (or tick 'Dry run').", ""
    try:
        check_repo_id((repo_id or "").strip(), flag="Repo id")
        result = push_adapter(
            Path(folder).expanduser(),
            (repo_id or "").strip(),
            token=token or None,
            private=private,
            dry_run=dry_run,
        )
    except Exception as exc:
        return _push_problem(str(exc), token), ""
    files = ", ".join(f"`{name}`" for name, _size in result.files)
    if result.dry_run:
        return f"Dry run: would upload {len(result.files)} files to {result.repo_id}: {files}.", ""
    where = result.url or result.repo_id
    return f"Pushed {len(result.files)} files to {where} (commit {result.commit}): {files}.", ""


def list_runs(services: Services) -> list[str]:
    """Run folders under the runs folder: those with metrics.jsonl or plots/."""
    root = services.settings.runs_path
    if not root.is_dir():
        return []
    runs = {
        p.parent if p.name in ("metrics.jsonl", "plots") else p
        for p in [*root.glob("*/metrics.jsonl"), *root.glob("*/plots"), *root.glob("metrics.jsonl")]
    }
    return sorted(str(r) for r in runs)


def read_metrics(run: Path) -> pd.DataFrame:
    """Long-format (step, metric, value) rows from metrics.jsonl for gr.LinePlot."""
    rows = []
    path = run / "metrics.jsonl"
    if not path.is_file():
        return pd.DataFrame(columns=["step", "metric", "value"])
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s line %d is not JSON; skipped", path, n)
            continue
        step = record.get("step", record.get("global_step", n))
        for keys in (LOSS_KEYS, ACCURACY_KEYS):
            for key in keys:
                if isinstance(record.get(key), int | float):
                    # readable series names: "rewards accuracies", "eval loss"
                    label = key.replace("/", " ").replace("_", " ")
                    rows.append({"step": step, "metric": label, "value": float(record[key])})
                    break
    return pd.DataFrame(rows, columns=["step", "metric", "value"])


def show_run(run: str) -> tuple[list[str], pd.DataFrame, str]:
    """Handler: (plots, curves, summary); a problem replaces the summary and clears the rest."""
    run_dir = Path((run or "").strip()).expanduser()
    empty = pd.DataFrame(columns=["step", "metric", "value"])
    if not (run or "").strip():
        return [], empty, "✗ Choose a run folder."
    if not run_dir.is_dir():
        return [], empty, f"✗ Run folder {run_dir} not found."
    plots = sorted(str(p) for p in (run_dir / "plots").glob("*.png"))
    metrics = read_metrics(run_dir)
    if not plots and metrics.empty:
        return (
            [],
            empty,
            f"✗ {run_dir} has neither plots/*.png nor metrics.jsonl: is it a training run folder?",
        )
    summary_path = run_dir / "summary.json"
    summary = ""
    if summary_path.is_file():
        try:
            data = json.loads(summary_path.read_text(encoding="utf-8"))
            summary = "\n".join(
                f"- **{k}**: {v}" for k, v in data.items() if isinstance(v, str | int | float)
            )
        except json.JSONDecodeError as exc:
            summary = f"summary.json is not valid JSON: {exc}"
    return plots, metrics, summary


def build(services: Services, demo: gr.Blocks) -> gr.Markdown:
    s = services.settings
    status = gr.Markdown(status_markdown(services), elem_id="model-status")
    with gr.Row():
        model = gr.Textbox(
            label="Base model (Hub id or folder)", value=s.model, scale=3, elem_id="model-name"
        )
        adapter = gr.Textbox(
            label="Adapter (folder or Hub id, optional)",
            value=s.adapter or "",
            scale=3,
            elem_id="model-adapter",
        )
        quantization = gr.Dropdown(
            list(QUANTIZATION_CHOICES), value=s.quantization, label="Quantization", scale=1
        )
        load = gr.Button("Load", variant="primary", scale=1, elem_id="model-load")
    load_error = gr.Markdown(elem_id="model-load-error")
    with gr.Accordion("Push the adapter to the Hugging Face Hub", open=False):
        with gr.Row():
            folder = gr.Textbox(
                label="Run or adapter folder",
                value=s.adapter if s.adapter and Path(s.adapter).is_dir() else "",
                elem_id="model-push-folder",
            )
            repo = gr.Textbox(
                label="Repo id", placeholder="user/phi-2-stemqa-dpo", elem_id="model-repo"
            )
            token = gr.Textbox(
                label="Hub token (never stored)", type="password", elem_id="model-token"
            )
        with gr.Row():
            private = gr.Checkbox(label="Private repo", value=True)
            dry_run = gr.Checkbox(
                label="Dry run (check the folder, upload nothing)",
                value=False,
                elem_id="model-dry-run",
            )
            push_btn = gr.Button("Push adapter", elem_id="model-push")
        push_result = gr.Markdown(elem_id="model-push-result")
    with gr.Accordion("Training plots", open=True):
        with gr.Row():
            runs = list_runs(services)
            run = gr.Dropdown(
                runs,
                value=runs[-1] if runs else None,
                allow_custom_value=True,
                label=f"Run folder (runs under {s.runs_path} are listed)",
                scale=4,
                elem_id="model-run",
            )
            show = gr.Button("Show", scale=1, elem_id="model-show-run")
        gallery = gr.Gallery(
            label="plots/*.png",
            columns=3,
            height="auto",
            object_fit="contain",
            elem_id="model-plots",
        )
        curves = gr.LinePlot(
            x="step",
            y="value",
            color="metric",
            label="metrics.jsonl",
            height=260,
            elem_id="model-curves",
        )
        summary = gr.Markdown(elem_id="model-run-summary")

    load.click(
        lambda m, a, q: load_model(services, m, a, q),
        inputs=[model, adapter, quantization],
        outputs=[status, load_error],
        api_visibility="private",
    )
    push_btn.click(
        lambda f, r, t, p, d: push(services, f, r, t, p, d),
        inputs=[folder, repo, token, private, dry_run],
        outputs=[push_result, token],
        api_visibility="private",
    )
    show.click(show_run, inputs=run, outputs=[gallery, curves, summary], api_visibility="private")
    return status
