"""Who may change the library: settings for read-only, --auth and HF OAuth, and the owner of
a private library (no index, no server: the building blocks library.py relies on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemqa.demo.cli import build_parser
from stemqa.demo.library import owner_for
from stemqa.demo.settings import Settings, SettingsError


def test_read_only_auth_and_ttl_from_env_and_flags(tmp_path: Path) -> None:
    env = {
        "STEMQA_READ_ONLY_LIBRARY": "yes",
        "STEMQA_AUTH": "alice:pw1,bob:pw2",
        "STEMQA_SESSION_TTL_MINUTES": "30",
        "STEMQA_DATA_DIR": str(tmp_path),
    }
    settings = Settings.from_env(env)
    assert settings.read_only_library and settings.session_ttl_minutes == 30
    assert settings.auth_pairs() == [("alice", "pw1"), ("bob", "pw2")]
    assert not Settings.from_env({**env, "STEMQA_READ_ONLY_LIBRARY": "0"}).read_only_library
    args = vars(build_parser().parse_args(["--read-only-library", "--auth", "u:p"]))
    assert args["read_only_library"] is True and args["auth"] == "u:p"
    assert vars(build_parser().parse_args([]))["read_only_library"] is None  # env decides


def test_bad_auth_names_the_entry_but_never_the_password() -> None:
    with pytest.raises(SettingsError) as err:
        Settings(auth="alice:secret-pw,bob")
    assert "entry 2 is not USER:PASS" in str(err.value) and "secret-pw" not in str(err.value)
    with pytest.raises(SettingsError, match="must be true or false"):
        Settings.from_env({"STEMQA_READ_ONLY_LIBRARY": "maybe"})


def test_oauth_is_on_where_the_space_has_it(monkeypatch) -> None:
    monkeypatch.delenv("OAUTH_CLIENT_ID", raising=False)
    assert not Settings().oauth_enabled
    monkeypatch.setenv("OAUTH_CLIENT_ID", "x")  # what a Space with hf_oauth: true sets
    assert Settings().oauth_enabled and not Settings(hf_oauth=False).oauth_enabled


class Request:
    def __init__(self, session_hash: str, username: str | None = None) -> None:
        self.session_hash, self.username = session_hash, username


class Profile:  # what gr.OAuthProfile exposes
    username = "hf-user"


def test_signed_in_users_own_persistent_libraries_sessions_expiring_ones() -> None:
    oauth = owner_for(Request("s1"), Profile())
    assert oauth.persistent and oauth.key.startswith("hf-") and "hf-user" in oauth.label
    # the same user in two sessions has one library; two sessions without a user have two
    assert owner_for(Request("s1", "alice")) == owner_for(Request("s2", "alice"))
    assert owner_for(Request("s1")) != owner_for(Request("s2"))
    assert not owner_for(Request("s1")).persistent
    assert owner_for(Request("s1", "alice")).key != owner_for(Request("s1"), Profile()).key


def test_read_only_app_offers_only_private_uploads(tmp_path: Path) -> None:
    import gradio as gr

    from stemqa.demo.app import build_app

    for read_only, expected in ((True, {"private"}), (False, {"shared", "private"})):
        settings = Settings(
            data_dir=tmp_path / str(read_only),
            read_only_library=read_only,
            load_model_on_start=False,
        )
        demo = build_app(settings)
        (scope,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "docs-scope"]
        assert isinstance(scope, gr.Radio)
        assert {value for _label, value in scope.choices} == expected
