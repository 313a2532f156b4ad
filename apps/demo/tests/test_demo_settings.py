"""Settings: environment variables fill them, CLI flags override, bad values name their key."""

from pathlib import Path

import pytest

from stemqa.demo.cli import build_parser, main
from stemqa.demo.settings import DEFAULT_MODEL, Settings, SettingsError


def test_defaults_use_per_user_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({})
    assert settings.model == DEFAULT_MODEL
    assert settings.index_dir == settings.data_dir / "index"
    assert "stemqa" in str(settings.data_dir)
    assert settings.host == "127.0.0.1" and settings.port == 7860


def test_env_vars_then_flags_override(tmp_path: Path) -> None:
    env = {
        "STEMQA_MODEL": "some/model",
        "STEMQA_PORT": "9000",
        "STEMQA_DATA_DIR": str(tmp_path),
        "STEMQA_QUANTIZATION": "nf4",
    }
    settings = Settings.from_env(env)
    assert (settings.model, settings.port, settings.quantization) == ("some/model", 9000, "nf4")
    assert settings.data_dir == tmp_path and settings.uploads_dir == tmp_path / "uploads"
    args = build_parser().parse_args(["--model_name_or_path", "other", "--port", "9100"])
    flags = {k: v for k, v in vars(args).items() if k != "no_model"}
    settings = Settings.from_env(env, **flags)
    assert (settings.model, settings.port, settings.quantization) == ("other", 9100, "nf4")


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"STEMQA_PORT": "eighty"}, "STEMQA_PORT"),
        ({"STEMQA_QUANTIZATION": "int3"}, "quantization"),
        ({"STEMQA_MAX_UPLOAD_MB": "0"}, "max_upload_mb"),
        ({"STEMQA_CHROMA_PORT": "8000"}, "chroma_host"),
    ],
)
def test_bad_values_name_their_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(SettingsError, match=key):
        Settings.from_env(env)


def test_cli_reports_bad_env_and_exits_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("STEMQA_QUANTIZATION", "int3")
    assert main([]) == 2
    assert "quantization" in capsys.readouterr().err


def test_demo_flags_follow_the_shared_vocabulary(capsys) -> None:
    """snake_case flags with TRL's dashed aliases; the renamed --model names its new spelling."""
    args = build_parser().parse_args(["--data-dir", "d", "--max_batch_size", "4"])
    assert (str(args.data_dir), args.max_batch_size) == ("d", 4)
    with pytest.raises(SystemExit) as exc:
        main(["--model", "x"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "demo: --model was renamed to --model_name_or_path; use --model_name_or_path"
    )
