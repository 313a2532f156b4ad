"""Letter scoring must equal a plain per-option log-likelihood computation, batched or not."""

import copy
import csv
from pathlib import Path

import pytest
import torch

from stemqa.core.extract import extract_letter
from stemqa.core.loading import load_model
from stemqa.core.prompts import build_mcq_prompt
from stemqa.core.records import MCQ
from stemqa.core.scoring import generate_letters, letter_token_ids, score_letters

MMLU = Path(__file__).resolve().parents[3] / "tests" / "data" / "mmlu"


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model_dir):
    return load_model(tiny_model_dir, device="cpu")


def _mmlu(n: int) -> list[MCQ]:
    with (MMLU / "college_physics_test.csv").open(newline="") as f:
        rows = list(csv.reader(f))[:n]
    return [MCQ(q, tuple(c), answer=a, subject="college_physics") for q, *c, a in rows]


def _reference(model, tokenizer, prompt: str, letters: str) -> torch.Tensor:
    """log P(' L' | prompt) for each letter, one unpadded forward pass per option."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    out = []
    for letter in letters:
        continuation = tokenizer.encode(f" {letter}", add_special_tokens=False)
        ids = torch.tensor([prompt_ids + continuation])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].float()
        logprobs = torch.log_softmax(logits[len(prompt_ids) - 1 : -1], dim=-1)
        out.append(sum(logprobs[i, t] for i, t in enumerate(continuation)))
    return torch.stack(out)


def test_matches_per_option_loglikelihood(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    questions = _mmlu(7)
    prompts = [build_mcq_prompt(q) for q in questions]
    # Per-prompt options (the last two questions scored on fewer letters) and mixed lengths,
    # so left padding and uneven batches are exercised.
    options = ["ABCD"] * 5 + ["ABC", "AB"]
    seen = []
    scores = score_letters(model, tokenizer, prompts, options, batch_size=3, progress=seen.append)
    assert sum(seen) == 7 and len(seen) == 3
    lengths = {len(tokenizer(p)["input_ids"]) for p in prompts}
    assert len(lengths) > 1
    for prompt, letters, score in zip(prompts, options, scores, strict=True):
        ref = _reference(model, tokenizer, prompt, letters)
        ref_probs = torch.softmax(ref, dim=-1)
        assert list(score.probs) == list(letters)
        assert score.letter == letters[int(ref_probs.argmax())]
        for letter, p in zip(letters, ref_probs.tolist(), strict=True):
            assert score.probs[letter] == pytest.approx(p, abs=1e-4)
        assert sum(score.probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert score.mass == pytest.approx(float(ref.exp().sum()), rel=1e-3)
    # not a degenerate uniform model: the scores differ from 1/n
    assert max(max(s.probs.values()) for s in scores) > 0.5


def test_batch_size_does_not_change_scores(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    prompts = [build_mcq_prompt(q) for q in _mmlu(5)]
    one = score_letters(model, tokenizer, prompts, batch_size=1)
    many = score_letters(model, tokenizer, prompts, batch_size=16)
    for a, b in zip(one, many, strict=True):
        assert a.letter == b.letter
        for letter in "ABCD":
            assert a.probs[letter] == pytest.approx(b.probs[letter], abs=1e-5)
    assert tokenizer.padding_side == "left"


def _answers_b(model, tokenizer):
    """A copy of the tiny model that always predicts ' B' next: a model that 'knows' the answer."""
    sure = copy.deepcopy(model)
    b_id = letter_token_ids(tokenizer, "B")[0]
    with torch.no_grad():
        sure.lm_head.weight.zero_()
        sure.lm_head.bias.zero_()
        sure.lm_head.bias[b_id] = 30.0
    return sure


def test_both_paths_read_a_confident_model(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    sure = _answers_b(model, tokenizer)
    prompts = [build_mcq_prompt(q) for q in _mmlu(3)]
    scores = score_letters(sure, tokenizer, prompts)
    assert [s.letter for s in scores] == ["B"] * 3
    assert all(s.probs["B"] > 0.999 and s.mass > 0.999 for s in scores)
    generated = generate_letters(sure, tokenizer, prompts, max_new_tokens=4)
    assert [letter for _, letter in generated] == ["B"] * 3
    assert all(raw.startswith(" B") for raw, _ in generated)


def test_generate_letters_on_noise(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    prompts = [build_mcq_prompt(q) for q in _mmlu(4)]
    out = generate_letters(
        model, tokenizer, prompts, ["ABCD", "ABCD", "AB", "ABC"], batch_size=2, max_new_tokens=5
    )
    assert len(out) == 4
    for (raw, letter), options in zip(out, ["ABCD", "ABCD", "AB", "ABC"], strict=True):
        assert isinstance(raw, str) and raw  # byte-level noise, possibly partial UTF-8
        assert letter == extract_letter(raw, options)


def test_letters_must_be_single_tokens(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    assert len(set(letter_token_ids(tokenizer, "ABCDEFGHIJ"))) == 10
    split = [
        c
        for c in "KLMNOPQRSTUVWXYZ"
        if len(tokenizer.encode(f" {c}", add_special_tokens=False)) > 1
    ]
    assert split, "the tiny tokenizer should split some rare capital"
    with pytest.raises(ValueError, match=f"' {split[0]}' is 2 tokens"):
        letter_token_ids(tokenizer, "AB" + split[0])


def test_option_count_mismatch(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    with pytest.raises(ValueError, match="2 option strings for 1 prompts"):
        score_letters(model, tokenizer, ["Answer:"], ["AB", "ABC"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("quantization", "tolerance"), [("none", 1e-3), ("nf4", 5e-2)])
def test_cuda_scores_match_cpu(tiny_model_dir, quantization, tolerance):
    import bitsandbytes as bnb

    cpu_model, tokenizer = load_model(tiny_model_dir, device="cpu", quantization=quantization)
    gpu_model, _ = load_model(tiny_model_dir, device="cuda", quantization=quantization)
    q_proj = gpu_model.model.layers[0].self_attn.q_proj
    assert q_proj.weight.device.type == "cuda"
    assert isinstance(q_proj, bnb.nn.Linear4bit) == (quantization == "nf4")
    prompts = [build_mcq_prompt(q) for q in _mmlu(6)]
    cpu = score_letters(cpu_model, tokenizer, prompts, batch_size=4)
    gpu = score_letters(gpu_model, tokenizer, prompts, batch_size=4)
    for a, b in zip(cpu, gpu, strict=True):
        for letter in "ABCD":
            assert a.probs[letter] == pytest.approx(b.probs[letter], abs=tolerance)
    generated = generate_letters(gpu_model, tokenizer, prompts, max_new_tokens=3)
    assert len(generated) == 6
