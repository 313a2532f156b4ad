"""The tiny model must look like phi-2 to every pipeline: architecture, tokenizer, offline load."""

import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from stemqa.core.tiny_model import GENERATOR_VERSION, MARKER_FILE, main, make_tiny_model


def test_loads_offline_with_auto_classes(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert type(model).__name__ == "PhiForCausalLM"
    assert model.config.max_position_embeddings == 2048
    assert model.config.rope_parameters["partial_rotary_factor"] == 0.4
    assert model.config.hidden_size == 64 and model.config.num_hidden_layers == 2
    assert tokenizer.eos_token is not None
    assert model.config.vocab_size == len(tokenizer)
    for letter in "ABCDEFGHIJ":
        assert len(tokenizer.encode(f" {letter}", add_special_tokens=False)) == 1
    ids = tokenizer("Newton's second law", return_tensors="pt")
    out = model.generate(
        **ids, max_new_tokens=3, do_sample=False, pad_token_id=tokenizer.eos_token_id
    )
    assert out.shape[1] == ids["input_ids"].shape[1] + 3
    marker = json.loads((tiny_model_dir / MARKER_FILE).read_text())
    assert marker["generator_version"] == GENERATOR_VERSION


def test_same_seed_same_weights_and_cli(tiny_model_dir, tmp_path, capsys):
    assert main([str(tmp_path / "cli")]) == 0
    assert "noise, not answers" in capsys.readouterr().out
    assert "noise, not answers" in (tmp_path / "cli" / "README.md").read_text()
    a = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "cli").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = make_tiny_model(tmp_path / "seed1", seed=1)
    c = AutoModelForCausalLM.from_pretrained(other).state_dict()
    assert not torch.equal(a["lm_head.weight"], c["lm_head.weight"])
