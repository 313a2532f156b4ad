"""Model loading on the tiny phi model: quantization presets, adapters, errors."""

import json

import pytest
import torch

from stemqa.core.loading import (
    QUANTIZATIONS,
    ModelLoadError,
    bnb_config,
    load_model,
    load_tokenizer,
    phi2_config_path,
)


def test_phi2_config_is_the_real_architecture():
    config = json.loads(phi2_config_path().read_text())
    assert config["architectures"] == ["PhiForCausalLM"]
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (
        2560,
        32,
        32,
    )
    assert config["intermediate_size"] == 10240
    assert config["vocab_size"] == 51200
    assert config["partial_rotary_factor"] == 0.4
    assert config["max_position_embeddings"] == 2048


def test_bnb_config_presets():
    assert QUANTIZATIONS == ("none", "nf4")
    assert bnb_config("none") is None
    nf4 = bnb_config("nf4")
    assert nf4.load_in_4bit
    assert nf4.bnb_4bit_quant_type == "nf4"
    assert nf4.bnb_4bit_use_double_quant
    assert nf4.bnb_4bit_compute_dtype == torch.bfloat16
    with pytest.raises(ValueError, match=r"int8.*none, nf4"):
        bnb_config("int8")


def test_tokenizer_pads_left_with_eos(tiny_model_dir):
    tokenizer = load_tokenizer(tiny_model_dir)
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token == tokenizer.eos_token
    batch = tokenizer(["a", "a much longer text"], padding=True)
    assert batch["input_ids"][0][0] == tokenizer.pad_token_id
    assert batch["attention_mask"][0][0] == 0


def test_load_full_precision_eval_mode(tiny_model_dir):
    model, tokenizer = load_model(tiny_model_dir, device="cpu")
    assert not model.training
    assert next(model.parameters()).dtype == torch.float32
    assert model.config.pad_token_id == tokenizer.pad_token_id
    model16, _ = load_model(tiny_model_dir, device="cpu", dtype="bfloat16")
    assert next(model16.parameters()).dtype == torch.bfloat16


def test_nf4_on_cpu_yields_linear4bit_layers(tiny_model_dir):
    import bitsandbytes as bnb

    model, tokenizer = load_model(tiny_model_dir, quantization="nf4", device="cpu")
    attn = model.model.layers[0].self_attn
    for layer in (attn.q_proj, attn.k_proj, attn.v_proj, attn.dense):
        assert isinstance(layer, bnb.nn.Linear4bit)
        assert layer.weight.quant_type == "nf4"
        assert layer.weight.quant_state.nested  # double quantization
        assert layer.compute_dtype == torch.bfloat16
    batch = tokenizer(["Answer:"], return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert torch.isfinite(logits).all()


def _save_adapter(tiny_model_dir, out):
    """A DoRA adapter with non-zero weights, so applying it must change the logits."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(
        r=4,
        lora_alpha=4,
        use_dora=True,
        target_modules=["q_proj", "k_proj", "v_proj", "dense"],
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(base, config)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(out)
    return peft_model.eval()


def test_adapter_is_applied(tiny_model_dir, tmp_path):
    expected_model = _save_adapter(tiny_model_dir, tmp_path / "adapter")
    base, tokenizer = load_model(tiny_model_dir, device="cpu")
    tuned, _ = load_model(tiny_model_dir, adapter=tmp_path / "adapter", device="cpu")
    assert not tuned.training
    batch = tokenizer(["The derivative of x is"], return_tensors="pt")
    with torch.no_grad():
        base_logits = base(**batch).logits
        tuned_logits = tuned(**batch).logits
        expected = expected_model(**batch).logits
    assert not torch.allclose(base_logits, tuned_logits, atol=1e-3)
    torch.testing.assert_close(tuned_logits, expected)


def test_missing_model_error_is_actionable(tmp_path):
    with pytest.raises(ModelLoadError, match=r"config\.json"):
        load_model(tmp_path, device="cpu")
    with pytest.raises(ModelLoadError, match=r"not a local folder.*Hub"):
        load_model("no-such-org/no-such-model-xyz", device="cpu")


def test_bad_adapter_error_names_it(tiny_model_dir, tmp_path):
    (tmp_path / "adapter").mkdir()
    with pytest.raises(ModelLoadError, match="adapter"):
        load_model(tiny_model_dir, adapter=tmp_path / "adapter", device="cpu")
