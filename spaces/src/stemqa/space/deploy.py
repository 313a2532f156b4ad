"""`uv run deploy-space`: stage the Space, validate it, then create or update it on the Hub.

    uv run deploy-space --space_id USER/NAME [--private] [--variable KEY=VALUE ...]
    uv run deploy-space --output_dir DIR   # stage and validate only, keep the folder
    uv run deploy-space --dry_run          # stage and validate only, in a temporary folder

The token comes from HF_TOKEN or a stored `hf auth login`, through huggingface_hub.get_token();
it is never printed. Staging and validation run before the Hub is contacted, so a broken Space
is never uploaded.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx
from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id

from stemqa.core.cli_args import ArgumentParser
from stemqa.space.staging import WHEELS_DIR, StagingError, stage
from stemqa.space.validation import space_problems
from stemqa.space.workspace import SPACE_PACKAGE, WorkspaceError, find_workspace_root, read_lock


def _log(message: str) -> None:
    print(f"deploy-space: {message}", file=sys.stderr, flush=True)


def _variable(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KEY=VALUE (e.g. STEMQA_MODEL=microsoft/phi-2)"
        )
    return key.strip(), value


def _space_id(text: str) -> str:
    try:
        validate_repo_id(text)
    except HFValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if text.count("/") != 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not USER/NAME (or ORG/NAME)")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="deploy-space",
        renamed={"--out": "--output_dir"},
        description="Stage the stemqa Gradio app as a self-contained Hugging Face Space, validate it, "
        "and create or update the Space.",
        epilog="Token: HF_TOKEN or `hf auth login` (needs write access). Nothing reaches the Hub "
        "with --dry_run or --output_dir.",
    )
    parser.add_argument(
        "--space_id", type=_space_id, help="USER/NAME of the Space to create or update"
    )
    parser.add_argument("--private", action="store_true", help="make the Space private")
    parser.add_argument(
        "--dry_run", action="store_true", help="stage and validate only, upload nothing"
    )
    parser.add_argument(
        "--output_dir", type=Path, help="stage into this (new or empty) folder and stop there"
    )
    parser.add_argument(
        "--variable",
        type=_variable,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a Space variable, e.g. STEMQA_ADAPTER=you/adapter (repeatable)",
    )
    parser.add_argument(
        "--workspace", type=Path, help="root of the stemqa checkout (default: found from cwd)"
    )
    parser.add_argument(
        "--skip_import_check",
        action="store_true",
        help="do not import the staged app before uploading (faster; not recommended)",
    )
    return parser


def _describe_source(root: Path) -> str:
    """`stemqa <rev>` for the commit message, `+dirty` when the tree has uncommitted changes."""
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty=+dirty"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "stemqa"
    return f"stemqa {rev}"


def upload(
    folder: Path,
    space_id: str,
    *,
    token: str,
    private: bool = False,
    variables: Sequence[tuple[str, str]] = (),
    commit_message: str = "Deploy stemqa",
) -> str:
    """Create the Space if needed and upload `folder` as one commit; returns the Space URL."""
    api = HfApi(token=token)
    repo = api.create_repo(
        space_id, repo_type="space", space_sdk="gradio", exist_ok=True, private=private
    )
    if private:  # create_repo leaves an existing Space's visibility alone
        api.update_repo_settings(space_id, repo_type="space", private=True)
    for key, value in variables:
        api.add_space_variable(space_id, key, value)
    api.upload_folder(
        repo_id=space_id,
        repo_type="space",
        folder_path=folder,
        commit_message=commit_message,
        # Wheels of an older version would otherwise stay next to the new ones.
        delete_patterns=[f"{WHEELS_DIR}/*.whl"],
    )
    return str(repo)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    deploying = not (args.dry_run or args.output_dir)
    if deploying and not args.space_id:
        parser.error(
            "--space_id USER/NAME is required to deploy (or use --dry_run / --output_dir DIR)"
        )

    token = None
    if deploying:
        try:
            token = get_token()
        except Exception as exc:  # HF_OIDC_RESOURCE set and the exchange failed
            _log(
                f"could not get a Hugging Face token ({type(exc).__name__}); set HF_TOKEN or run `hf auth login`"
            )
            return 2
        if not token:
            _log(
                "no Hugging Face token: set HF_TOKEN (a write token) or run `hf auth login`; nothing was staged"
            )
            return 2

    try:
        root = find_workspace_root(args.workspace)
        lock = read_lock(root)
    except WorkspaceError as exc:
        _log(str(exc))
        return 2

    keep = args.output_dir is not None
    folder = args.output_dir.resolve() if keep else Path(tempfile.mkdtemp(prefix="stemqa-space-"))
    try:
        try:
            staged = stage(folder, root=root, lock=lock, progress=_log)
        except StagingError as exc:
            _log(str(exc))
            return 1
        _log(f"staged {len(staged.wheels)} wheels ({', '.join(staged.members)}) in {folder}")
        _log("validating (front matter, requirements against uv.lock, wheels, app imports)")
        problems = space_problems(
            folder, lock, package=SPACE_PACKAGE, check_imports=not args.skip_import_check
        )
        if problems:
            keep = True  # leave the folder for inspection
            _log(f"the staged Space in {folder} is not deployable:")
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            return 1
        _log("valid")
        if not deploying:
            where = f"kept in {folder}" if keep else "use --output_dir DIR to keep it"
            _log(f"dry run: nothing uploaded; staged Space {where}")
            return 0

        _log(f"uploading to the Space {args.space_id}")
        try:
            url = upload(
                folder,
                args.space_id,
                token=token,  # type: ignore[arg-type]
                private=args.private,
                variables=args.variable,
                commit_message=f"Deploy {_describe_source(root)}",
            )
        except HfHubHTTPError as exc:
            _log(
                f"the Hub refused ({exc}); check that the token can write to {args.space_id}'s namespace"
            )
            return 1
        except httpx.HTTPError as exc:
            _log(
                f"could not reach the Hub ({type(exc).__name__}: {exc}); nothing may have been uploaded"
            )
            return 1
        _log(f"deployed: {url} (the Space now builds; watch its logs there)")
        print(url)
        return 0
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
