"""``uv run push-adapter DIR --repo-id USER/NAME [--private] [--dry-run]``.

Uploads what a user needs from a training run, and nothing else: the adapter and tokenizer
(at the repo root, so ``PeftModel.from_pretrained(base, "USER/NAME")`` works), the model card,
summary.json, metrics.jsonl and the plots. Checkpoints, optimizer states and pickled
``training_args.bin`` stay home. One commit, so a half-uploaded adapter never appears.

The token comes from ``HF_TOKEN`` or ``hf auth login`` (huggingface_hub's own lookup); it is
never printed. ``--dry-run`` lists the files and needs neither a token nor the network.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stemqa.core.cli_args import ArgumentParser
from stemqa.train.training.runs import ADAPTER_DIR, CARD_FILE, METRICS_FILE, PLOTS_DIR, SUMMARY_FILE

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
_SKIPPED = {
    "training_args.bin",
    "optimizer.pt",
    "scheduler.pt",
    "rng_state.pth",
    "trainer_state.json",
}


class PushError(RuntimeError):
    """The adapter cannot be pushed; the message says why and what to do."""


@dataclass
class PushResult:
    repo_id: str
    files: list[tuple[str, int]]  # (path in repo, bytes)
    dry_run: bool
    url: str | None = None
    commit: str | None = field(default=None)


def check_repo_id(repo_id: str, flag: str = "--repo-id") -> None:
    """Raise PushError unless ``repo_id`` looks like USER/NAME (before any slow work)."""
    if not _REPO_ID.match(repo_id or ""):
        raise PushError(f"{flag} {repo_id!r} is not of the form USER/NAME")


def collect_files(folder: str | Path) -> list[tuple[str, Path]]:
    """(path in repo, local file) for a run folder (``adapter/`` + records) or a bare adapter
    folder. Raises PushError when there is no adapter."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PushError(f"{folder} is not a folder")
    adapter = folder / ADAPTER_DIR
    if not (adapter / "adapter_config.json").is_file():
        adapter = folder
    missing = [name for name in _ADAPTER_FILES if not (adapter / name).is_file()]
    if missing:
        raise PushError(
            f"{folder} holds no trained adapter (missing {', '.join(missing)}); pass the output_dir "
            "of a finished train-dpo/train-mcqa run or an adapter folder"
        )
    files: dict[str, Path] = {}
    for path in sorted(adapter.iterdir()):
        if path.is_file() and path.name not in _SKIPPED and not path.name.startswith("."):
            files[path.name] = path
    if adapter != folder:
        for name in (CARD_FILE, SUMMARY_FILE, METRICS_FILE):
            if (folder / name).is_file():
                files[name] = folder / name  # the run's card replaces peft's stub README
        plots = folder / PLOTS_DIR
        if plots.is_dir():
            for png in sorted(plots.glob("*.png")):
                files[f"{PLOTS_DIR}/{png.name}"] = png
    return sorted(files.items())


def push_adapter(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    dry_run: bool = False,
    commit_message: str | None = None,
) -> PushResult:
    """Upload a trained adapter to the Hub in one commit (see module docstring)."""
    check_repo_id(repo_id)
    files = collect_files(folder)
    listing = [(name, path.stat().st_size) for name, path in files]
    if dry_run:
        return PushResult(repo_id=repo_id, files=listing, dry_run=True)

    url, commit = upload_files(
        repo_id,
        files,
        token=token,
        private=private,
        commit_message=commit_message or "Upload adapter trained with stemqa",
    )
    return PushResult(repo_id=repo_id, files=listing, dry_run=False, url=url, commit=commit)


def upload_files(
    repo_id: str,
    files: Sequence[tuple[str, Path]],
    *,
    token: str | None = None,
    private: bool = False,
    commit_message: str,
) -> tuple[str, str | None]:
    """Create (or reuse) the model repo and upload ``files`` (path in repo, local file) in one
    commit; returns (repo url, commit id). Shared by push-adapter and export-model."""
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    token = token or get_token()
    if not token:
        raise PushError(
            "No Hugging Face token: run `hf auth login` or set HF_TOKEN (a token with write "
            "access), or use --dry-run to see what would be uploaded"
        )
    api = HfApi(token=token)
    try:
        repo = api.create_repo(repo_id, private=private, repo_type="model", exist_ok=True)
        commit = api.create_commit(
            repo_id,
            operations=[CommitOperationAdd(name, str(path)) for name, path in files],
            commit_message=commit_message,
            repo_type="model",
        )
    except Exception as exc:  # network/auth errors from huggingface_hub
        raise PushError(f"Upload to {repo_id} failed: {type(exc).__name__}: {exc}") from exc
    return str(getattr(repo, "url", repo)), getattr(commit, "oid", None)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="push-adapter", description="Upload a trained adapter (and its card) to the Hub."
    )
    parser.add_argument("folder", help="output_dir of a training run, or an adapter folder")
    parser.add_argument("--repo_id", required=True, help="USER/NAME on the Hugging Face Hub")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--dry_run", action="store_true", help="list files, upload nothing")
    parser.add_argument("--message", default=None, help="commit message")
    args = parser.parse_args(argv)
    try:
        result = push_adapter(
            args.folder,
            args.repo_id,
            private=args.private,
            dry_run=args.dry_run,
            commit_message=args.message,
        )
    except PushError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    verb = "Would upload" if result.dry_run else "Uploaded"
    total = sum(size for _, size in result.files)
    print(f"{verb} {len(result.files)} files ({_size(total)}) to {result.repo_id}:")
    for name, size in result.files:
        print(f"  {name}  ({_size(size)})")
    if result.url:
        print(f"{result.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
