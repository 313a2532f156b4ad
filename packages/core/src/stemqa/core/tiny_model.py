"""A tiny random-weight phi-2 look-alike and a locally trained tokenizer, for offline runs.

The Hub is out of reach in tests and CI, yet every pipeline (scoring, training, the app) needs a
real causal LM with a real tokenizer. This writes one in about a second: phi-2's exact
architecture (PhiForCausalLM, partial rotary, gelu_new, 2048 positions) scaled down, and a
byte-level BPE trained on a small built-in STEM corpus. Its answers are noise: it exists to
exercise code paths, never to measure accuracy.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from stemqa.core.loading import phi2_config_path

#: Bump when the files written change, so that caches of older builds are rebuilt.
GENERATOR_VERSION = "1"
MARKER_FILE = "stemqa_tiny_model.json"
EOS_TOKEN = "<|endoftext|>"
OPTION_LETTERS = "ABCDEFGHIJ"

_STEM_SENTENCES = (
    "The derivative of the position with respect to time is the velocity.",
    "Newton's second law states that the net force equals mass times acceleration.",
    "Energy is conserved in an isolated system; entropy never decreases.",
    "An electric field exerts a force on a charged particle proportional to its charge.",
    "Maxwell's equations unify electricity, magnetism and light.",
    "The integral of a continuous function over a closed interval is finite.",
    "A sequence of real numbers converges if it is Cauchy.",
    "The eigenvalues of a symmetric matrix are real numbers.",
    "Gradient descent updates the parameters in the direction of the negative gradient.",
    "A neural network with one hidden layer can approximate any continuous function.",
    "The time complexity of binary search is logarithmic in the number of elements.",
    "A hash table offers constant expected time lookups.",
    "The temperature of an ideal gas is proportional to the mean kinetic energy of its molecules.",
    "The Boltzmann distribution gives the probability of a state at thermal equilibrium.",
    "In special relativity the speed of light is the same in every inertial frame.",
    "The wavelength of a photon is inversely proportional to its momentum.",
    "A prime number has exactly two distinct positive divisors.",
    "The determinant of a product of matrices is the product of their determinants.",
    "Overfitting happens when a model learns noise in the training data.",
    "Regularization penalizes large weights to improve generalization.",
    "The curvature of a surface is described by the first and second fundamental forms.",
    "A metric space is complete when every Cauchy sequence converges in it.",
    "The work done by a conservative force does not depend on the path.",
    "Kirchhoff's laws describe current and voltage in electrical circuits.",
    "The probability of two independent events is the product of their probabilities.",
)

_QUESTIONS = (
    (
        "Which quantity is conserved in an elastic collision?",
        ("Momentum", "Heat", "Friction", "Charge density"),
    ),
    ("What is the derivative of x^2?", ("2x", "x", "x^3 / 3", "2")),
    (
        "Which algorithm sorts in O(n log n) time in the worst case?",
        ("Merge sort", "Bubble sort", "Quick sort", "Insertion sort"),
    ),
    ("What is the unit of electric charge?", ("Coulomb", "Volt", "Ohm", "Tesla")),
    ("Which of these is a prime number?", ("7", "9", "15", "21")),
)


def _corpus() -> list[str]:
    """STEM prose plus MCQ-formatted text, so letters with a leading space become single tokens."""
    lines = list(_STEM_SENTENCES)
    for i, (question, choices) in enumerate(_QUESTIONS):
        options = "\n".join(f"{OPTION_LETTERS[j]}. {c}" for j, c in enumerate(choices))
        lines.append(f"{question}\n{options}\nAnswer: {OPTION_LETTERS[i % 4]}")
    # Answer lines for all ten letters and their lowercase forms: ' A' … ' J' must each be
    # one token, as in GPT-2/phi-2's vocabulary, for letter scoring to be meaningful.
    for _ in range(20):
        for letter in OPTION_LETTERS:
            lines.append(f"Answer: {letter} The answer is ({letter}) {letter.lower()}")
    return lines


def _train_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        model_max_length=2048,
    )
    for letter in OPTION_LETTERS:
        ids = fast.encode(f" {letter}", add_special_tokens=False)
        if len(ids) != 1:  # a bug in the corpus, not a user error
            raise RuntimeError(f"tiny tokenizer splits ' {letter}' into {len(ids)} tokens")
    return fast


def make_tiny_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    intermediate_size: int = 256,
    vocab_size: int = 1024,
    initializer_range: float = 0.2,
) -> Path:
    """Write a random-weight PhiForCausalLM and its tokenizer to ``out_dir``; return the folder.

    ``initializer_range`` is larger than phi-2's 0.02 so the output distribution is far from
    uniform: tests comparing two scoring methods then compare distinct numbers, not 1/4s.
    The same seed gives the same weights.
    """
    import torch
    from transformers import PhiConfig, PhiForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(vocab_size)
    eos_id = tokenizer.eos_token_id

    base = json.loads(phi2_config_path().read_text())
    for key in ("_name_or_path", "transformers_version", "torch_dtype"):
        base.pop(key, None)
    base.update(
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_attention_heads,
        intermediate_size=intermediate_size,
        vocab_size=len(tokenizer),
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        initializer_range=initializer_range,
    )
    config = PhiConfig(**base)
    torch.manual_seed(seed)
    model = PhiForCausalLM(config).to(torch.float32).eval()
    model.generation_config.pad_token_id = eos_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / MARKER_FILE).write_text(
        json.dumps({"generator_version": GENERATOR_VERSION, "seed": seed}, indent=2) + "\n"
    )
    (out / "README.md").write_text(
        "# stemqa tiny model\n\n"
        f"Random weights (seed {seed}): this model produces noise, not answers. It has phi-2's\n"
        "architecture scaled down and a byte-level BPE tokenizer trained on a few STEM sentences,\n"
        "so that stemqa's pipelines run offline in tests, benchmarks and smoke runs.\n"
        "Written by `make-tiny-model` (stemqa-core).\n"
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from stemqa.core.cli_args import ArgumentParser

    parser = ArgumentParser(
        prog="make-tiny-model",
        description=(
            "Write a tiny random-weight PhiForCausalLM (phi-2's architecture, scaled down) and a "
            "locally trained byte-level BPE tokenizer to DIR, for offline tests and smoke runs. "
            "The model produces noise, not answers."
        ),
    )
    parser.add_argument("dir", type=Path, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    args = parser.parse_args(argv)
    out = make_tiny_model(args.dir, seed=args.seed)
    print(f"Wrote a tiny random-weight model to {out} (it produces noise, not answers).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
