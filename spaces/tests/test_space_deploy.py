"""`deploy-space` end to end. Only HfApi's network methods are mocked (the Hub is unreachable
here): create_repo, update_repo_settings, add_space_variable and upload_folder record their
arguments and what the folder held at upload time; staging, validation, token lookup and the
CLI are the real code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import huggingface_hub.constants
import pytest
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoUrl

from stemqa.space import deploy

TOKEN = "hf_testtoken_never_printed_0123456789"


class HubCalls:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.uploaded: dict[str, bytes] = {}

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> HubCalls:
    record = HubCalls()

    def create_repo(self, repo_id, **kwargs):
        record.calls.append(("create_repo", {"repo_id": repo_id, "token": self.token, **kwargs}))
        return RepoUrl(f"https://huggingface.co/spaces/{repo_id}")

    def update_repo_settings(self, repo_id, **kwargs):
        record.calls.append(("update_repo_settings", {"repo_id": repo_id, **kwargs}))

    def add_space_variable(self, repo_id, key, value, **kwargs):
        record.calls.append(
            ("add_space_variable", {"repo_id": repo_id, "key": key, "value": value})
        )
        return {}

    def upload_folder(self, **kwargs):
        record.calls.append(("upload_folder", kwargs))
        folder = Path(kwargs["folder_path"])
        record.uploaded = {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }

    for name, fn in [
        ("create_repo", create_repo),
        ("update_repo_settings", update_repo_settings),
        ("add_space_variable", add_space_variable),
        ("upload_folder", upload_folder),
    ]:
        monkeypatch.setattr(HfApi, name, fn)
    return record


@pytest.mark.slow
def test_deploy_creates_the_space_and_uploads_the_staged_folder(
    hub: HubCalls,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    workspace_root: Path,
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.chdir(workspace_root / "spaces")  # the workspace is found from a subfolder
    rc = deploy.main(
        ["--space-id", "me/stemqa", "--private", "--variable", "STEMQA_ADAPTER=me/adapter"]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert hub.names() == [
        "create_repo",
        "update_repo_settings",
        "add_space_variable",
        "upload_folder",
    ]
    create = hub.calls[0][1]
    assert create == {
        "repo_id": "me/stemqa",
        "token": TOKEN,
        "repo_type": "space",
        "space_sdk": "gradio",
        "exist_ok": True,
        "private": True,
    }
    assert hub.calls[1][1] == {"repo_id": "me/stemqa", "repo_type": "space", "private": True}
    assert hub.calls[2][1] == {
        "repo_id": "me/stemqa",
        "key": "STEMQA_ADAPTER",
        "value": "me/adapter",
    }
    upload = hub.calls[3][1]
    assert upload["repo_id"] == "me/stemqa" and upload["repo_type"] == "space"
    assert upload["delete_patterns"] == ["wheels/*.whl"]
    assert upload["commit_message"].startswith("Deploy stemqa")
    assert {"README.md", "app.py", "requirements.txt"} <= set(hub.uploaded)
    assert sum(name.startswith("wheels/stemqa_") for name in hub.uploaded) == 5
    assert hub.uploaded["app.py"] == (workspace_root / "spaces" / "app.py").read_bytes()
    assert not Path(upload["folder_path"]).exists()  # the temporary staging folder is gone
    assert out.out.strip() == "https://huggingface.co/spaces/me/stemqa"
    assert TOKEN not in out.out + out.err


def test_existing_space_keeps_its_visibility_without_private(
    hub: HubCalls, monkeypatch: pytest.MonkeyPatch, workspace_root: Path
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    rc = deploy.main(
        ["--space-id", "me/stemqa", "--workspace", str(workspace_root), "--skip-import-check"]
    )
    assert rc == 0
    assert hub.names() == ["create_repo", "upload_folder"]
    assert hub.calls[0][1]["private"] is False


def test_without_a_token_nothing_is_staged_or_sent(
    hub: HubCalls,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "token")
    )  # no login
    rc = deploy.main(["--space-id", "me/stemqa"])
    assert rc == 2
    assert "set HF_TOKEN" in capsys.readouterr().err
    assert hub.calls == []


@pytest.mark.parametrize("flags", [["--dry_run"], ["--output_dir", "OUT"]])
def test_dry_run_and_out_stop_after_staging(
    flags: list[str],
    hub: HubCalls,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    workspace_root: Path,
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    flags = [str(tmp_path / "out") if f == "OUT" else f for f in flags]
    rc = deploy.main(
        [
            "--space-id",
            "me/stemqa",
            "--workspace",
            str(workspace_root),
            "--skip-import-check",
            *flags,
        ]
    )
    assert rc == 0
    assert hub.calls == []
    if "--output_dir" in flags:
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
            "README.md",
            "app.py",
            "packages.txt",
            "requirements.txt",
            "wheels",
        ]


def test_invalid_space_is_not_uploaded(
    hub: HubCalls,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    workspace_root: Path,
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    real_stage = deploy.stage

    def stage_then_break(folder, **kwargs):
        staged = real_stage(folder, **kwargs)
        (folder / "requirements.txt").write_text("gradio==0.0.1\n")
        return staged

    monkeypatch.setattr(deploy, "stage", stage_then_break)
    rc = deploy.main(
        ["--space-id", "me/stemqa", "--workspace", str(workspace_root), "--skip-import-check"]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "is not deployable" in err and "gradio==0.0.1 but uv.lock has" in err
    assert hub.calls == []


def test_hub_refusal_is_reported_without_the_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], workspace_root: Path
) -> None:
    import httpx
    from huggingface_hub.errors import HfHubHTTPError

    def create_repo(self, repo_id, **kwargs):
        response = httpx.Response(
            403, request=httpx.Request("POST", "https://huggingface.co/api/repos/create")
        )
        raise HfHubHTTPError(
            "403 Forbidden: You don't have the rights to create a space under this namespace",
            response=response,
        )

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    rc = deploy.main(
        [
            "--space-id",
            "someone-else/stemqa",
            "--workspace",
            str(workspace_root),
            "--skip-import-check",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "the Hub refused" in err and "someone-else/stemqa" in err
    assert TOKEN not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--space-id", "not a repo"], "--space_id"),
        (["--space-id", "me/x", "--variable", "NOEQUALS"], "is not KEY=VALUE"),
        ([], "--space_id USER/NAME is required"),
        (["--out", "x"], "--out was renamed to --output_dir"),
    ],
)
def test_bad_arguments_are_explained(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        deploy.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_console_script_is_declared(workspace_root: Path) -> None:
    import tomllib

    pyproject = tomllib.loads((workspace_root / "spaces" / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["deploy-space"] == "stemqa.space.deploy:main"
    assert callable(deploy.main) and sys.modules["stemqa.space.deploy"] is deploy
