"""The training CLIs' short --help / --help-all, and the dry run's dataset check.

Real TrlParser, real dataclasses, in-process (a subprocess costs ~30 s of imports per call).
The only fake is the network: socket.create_connection is replaced to prove that offline mode
never dials the Hub, and to simulate an unreachable Hub without depending on this machine.
"""

from __future__ import annotations

import importlib
import json
import socket
from dataclasses import fields

import pytest

from stemqa.train.training import plan as plan_module

METHODS = ("dpo", "mcqa", "orpo")


def method(name: str):
    return importlib.import_module(f"stemqa.train.{name}").METHOD


def _exit(argv: list[str], name: str = "dpo") -> int:
    with pytest.raises(SystemExit) as info:
        method(name).main(argv)
    return info.value.code


@pytest.mark.parametrize("name", METHODS)
def test_short_help_lists_own_and_common_options(name, capsys):
    assert _exit(["--help"], name) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) < 120, len(lines)
    assert lines[0].startswith(f"usage: train-{name} [--config")
    assert "--config" in out and "--help-all" in out
    for field in fields(method(name).script_arguments):
        assert f"  --{field.name}\n" in out, field.name
    for common in ("--model_name_or_path", "--learning_rate", "--lora_r", "--output_dir"):
        assert f"  {common}\n" in out, common
    # the command's own defaults, not TRL's
    assert f"(default: {method(name).defaults['output_dir']})" in out


def test_short_help_lists_dpo_beta_and_skips_rare_options(capsys):
    assert _exit(["-h"]) == 0
    out = capsys.readouterr().out
    assert "  --beta\n" in out
    assert "--ld_alpha" not in out and "--adam_epsilon" not in out


@pytest.mark.parametrize("flag", ["--help-all", "--help_all"])
def test_help_all_prints_the_full_trl_help(flag, capsys):
    assert _exit([flag]) == 0
    out = capsys.readouterr().out
    assert "--ld_alpha" in out and "--use_weighting" in out  # rare DPOConfig options
    assert len(out.splitlines()) > 500


def test_dry_run_stops_on_a_missing_local_dataset(tmp_path, capsys):
    missing = tmp_path / "data" / "dpo_mix.jsonl"
    assert _exit(["--dry-run", "--dataset_name", str(missing)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0] and err[0].startswith("error:")
    assert captured.out == ""  # no plan


def test_dry_run_warns_about_an_uncached_hub_id_offline(monkeypatch, capsys):
    """Tests run with HF_HUB_OFFLINE=1: no socket may be opened, one warning line, plan kept."""

    def no_network(*args, **kwargs):
        raise AssertionError("the offline dry run dialled the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    assert method("dpo").main(["--dry-run", "--dataset_name", "someone/not-cached-mix"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "not-cached-mix" in line]
    assert len(warnings) == 1 and "HF_HUB_OFFLINE" in warnings[0]
    plan = json.loads(captured.out.strip().splitlines()[-1])
    assert "someone/not-cached-mix" in plan["dataset_warning"]


def test_check_dataset_online_but_unreachable_hub(monkeypatch, capsys):
    """Online mode with huggingface.co unreachable (socket faked to fail): one bounded check."""
    import huggingface_hub.constants

    calls: list[float] = []

    def unreachable(address, timeout=None, **kwargs):
        calls.append(timeout)
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(socket, "create_connection", unreachable)
    note = plan_module.check_dataset("someone/not-cached-mix")
    assert note and "unreachable" in note
    assert len(calls) == 1 and calls[0] is not None and calls[0] <= 3
    assert capsys.readouterr().err.count("\n") == 1


def test_check_dataset_accepts_existing_and_cached_data(tmp_path, monkeypatch):
    folder = tmp_path / "dpo_mix"
    folder.mkdir()
    assert plan_module.check_dataset(str(folder)) is None
    assert plan_module.check_dataset(None) is None
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    (tmp_path / "datasets--someone--cached-mix").mkdir()
    assert plan_module.check_dataset("someone/cached-mix") is None
