"""push-adapter: what is sent, and that the token never shows.

Only HfApi's network methods (create_repo, create_commit) are replaced: the Hub is
unreachable here. Everything else - file selection, CommitOperationAdd hashing, the CLI - is real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stemqa.train.push import PushError, main, push_adapter


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder shaped like train-dpo's output (adapter + records + a checkpoint)."""
    from peft import LoraConfig, get_peft_model
    from transformers import PhiConfig, PhiForCausalLM

    run = tmp_path / "run"
    model = PhiForCausalLM(
        PhiConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            vocab_size=64,
        )
    )
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], use_dora=True))
    peft_model.save_pretrained(run / "adapter")
    (run / "adapter" / "training_args.bin").write_bytes(b"pickle")
    (run / "adapter" / "tokenizer_config.json").write_text("{}")
    (run / "README.md").write_text("# card\n")
    (run / "summary.json").write_text(json.dumps({"global_step": 3}))
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 0.69}\n')
    (run / "plots").mkdir()
    (run / "plots" / "loss.png").write_bytes(b"\x89PNG fake")
    (run / "checkpoint-3").mkdir()
    (run / "checkpoint-3" / "optimizer.pt").write_bytes(b"x" * 100)
    return run


EXPECTED = [
    "README.md",
    "adapter_config.json",
    "adapter_model.safetensors",
    "metrics.jsonl",
    "plots/loss.png",
    "summary.json",
    "tokenizer_config.json",
]


def test_dry_run_lists_files_without_token_or_network(run_dir, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(run_dir.parent / "hf-home"))  # no cached login

    def no_network(*args, **kwargs):
        raise AssertionError("dry run touched the network")

    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", no_network)
    monkeypatch.setattr("huggingface_hub.HfApi.create_commit", no_network)
    assert main([str(run_dir), "--repo-id", "me/phi2-dpo", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Would upload 7 files" in out
    for name in EXPECTED:
        assert name in out
    assert "training_args.bin" not in out and "optimizer.pt" not in out


def test_push_sends_one_commit_and_hides_the_token(run_dir, monkeypatch, capsys):
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["repo"] = (repo_id, kwargs)
        from huggingface_hub import RepoUrl

        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, repo_id, operations, **kwargs):
        calls["commit"] = (repo_id, list(operations), kwargs, self.token)

        class Info:
            oid = "abc123"

        return Info()

    secret = "hf_supersecret_token_value"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", create_repo)
    monkeypatch.setattr("huggingface_hub.HfApi.create_commit", create_commit)
    assert main([str(run_dir), "--repo-id", "me/phi2-dpo", "--private"]) == 0
    repo_id, kwargs = calls["repo"]
    assert repo_id == "me/phi2-dpo" and kwargs["private"] is True and kwargs["exist_ok"] is True
    _, operations, _, token = calls["commit"]
    assert token == secret
    assert sorted(op.path_in_repo for op in operations) == EXPECTED
    card = next(op for op in operations if op.path_in_repo == "README.md")
    assert Path(card.path_or_fileobj).read_text() == "# card\n"  # the run's card, not peft's stub
    printed = capsys.readouterr()
    assert secret not in printed.out + printed.err
    assert "https://huggingface.co/me/phi2-dpo" in printed.out


def test_missing_token_is_actionable(run_dir, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(run_dir.parent / "hf-home"))
    with pytest.raises(PushError, match="hf auth login"):
        push_adapter(run_dir, "me/phi2-dpo")


def test_bad_inputs(tmp_path, run_dir):
    with pytest.raises(PushError, match="USER/NAME"):
        push_adapter(run_dir, "not-a-repo-id", dry_run=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PushError, match="no trained adapter"):
        push_adapter(empty, "me/x", dry_run=True)


def test_bare_adapter_folder_is_accepted(run_dir):
    result = push_adapter(run_dir / "adapter", "me/x", dry_run=True)
    names = [name for name, _ in result.files]
    assert "adapter_model.safetensors" in names and "training_args.bin" not in names
