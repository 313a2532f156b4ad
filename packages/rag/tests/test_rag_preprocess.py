"""Preprocessing and offline NLTK data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from stemqa.rag import nltk_data
from stemqa.rag.bm25 import Bm25Params, Bm25Store
from stemqa.rag.fusion import reciprocal_rank_fusion
from stemqa.rag.nltk_data import NltkDataError, install_system_wordnet, stopwords_english
from stemqa.rag.preprocess import (
    Preprocessor,
    context_header,
    document_title,
    parse_steps,
    strip_boilerplate,
)


def test_parse_steps_accepts_common_spellings():
    assert parse_steps("all") == ("lowercase", "stopwords", "lemmatize")
    assert parse_steps("none") == ()
    assert parse_steps(None) == ()
    assert parse_steps("Stopwords, lowercase") == ("lowercase", "stopwords")
    assert parse_steps(["lemmatize"]) == ("lemmatize",)


def test_parse_steps_names_the_bad_step():
    with pytest.raises(ValueError, match=r"preprocess: unknown step\(s\) stemming"):
        parse_steps("lowercase,stemming")


def test_shipped_stopword_list_is_nltks_english_list():
    words = stopwords_english()
    assert len(words) == 179
    assert {"the", "ourselves", "wouldn't", "shan"} <= words
    assert "entropy" not in words


def test_preprocessor_lowercases_drops_stopwords_and_lemmatizes():
    pre = Preprocessor("all")
    assert pre.tokens("The Electrons of the atoms were in their fields") == [
        "electron",
        "atom",
        "field",
    ]
    assert pre.text("Entropies of the Gases") == "entropy gas"
    raw = Preprocessor("none")
    assert raw.text("The Electrons") == "The Electrons"
    assert raw.tokens("The Electrons") == ["The", "Electrons"]


def test_system_wordnet_is_copied_not_linked(tmp_path: Path, wordnet, monkeypatch):
    source = nltk_data.system_wordnet_dir()
    if source is None:
        pytest.skip("this machine's WordNet comes from NLTK's own data, not a system package")
    target = install_system_wordnet(source, tmp_path)
    for name in (*nltk_data.WORDNET_FILES, "lexnames", "index.sense"):
        path = target / name
        assert path.is_file() and not path.is_symlink(), name
    assert (target / "lexnames").read_text().splitlines()[3] == "03\tnoun.Tops\t1"
    import nltk
    from nltk.corpus.reader import WordNetCorpusReader

    # NLTK 3.10 only reads from its data roots (and refuses links leaving them).
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path), *nltk.data.path])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        reader = WordNetCorpusReader(str(target), None)
    assert reader.morphy("analyses", "n") == "analysis"


def test_missing_wordnet_download_failure_says_how_to_fix(monkeypatch, tmp_path, capsys):
    import nltk

    calls = []

    def offline_download(*args, **kwargs):  # the network edge, unreachable here by design
        calls.append(args)
        raise OSError("network is unreachable")

    monkeypatch.setenv("STEMQA_NLTK_DATA", str(tmp_path))
    monkeypatch.setenv("STEMQA_NLTK_DOWNLOAD", "1")
    monkeypatch.setattr(nltk_data, "_wordnet_loads", lambda: False)
    monkeypatch.setattr(nltk_data, "system_wordnet_dir", lambda: None)
    monkeypatch.setattr(nltk, "download", offline_download)
    nltk_data.ensure_wordnet.cache_clear()
    try:
        with pytest.raises(NltkDataError, match="wordnet-base"):
            nltk_data.ensure_wordnet()
        assert calls, "the one-time download was not attempted"
        assert "downloading it once" in capsys.readouterr().err
        monkeypatch.setenv("STEMQA_NLTK_DOWNLOAD", "0")
        calls.clear()
        with pytest.raises(NltkDataError, match="downloads are disabled"):
            nltk_data.ensure_wordnet()
        assert not calls
    finally:
        nltk_data.ensure_wordnet.cache_clear()


def test_rrf_rewards_agreement_over_raw_scores():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]])
    order = [item for item, _ in fused]
    assert order == ["b", "a", "d", "c"]  # found by both beats first in only one
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 2.0])


def test_lemmatization_needs_no_wordnet_installed(tmp_path: Path):
    """The app's documents tab must open offline on a machine without wordnet-base: the
    lemmatizer runs on data shipped in the package, never on NLTK's corpus."""
    code = (
        "import sys, json\n"
        "from stemqa.rag.preprocess import Preprocessor\n"
        "tokens = Preprocessor('all').tokens('The Entropies of Gases and their Analyses')\n"
        "print(json.dumps([tokens, 'nltk.corpus.reader.wordnet' in sys.modules]))\n"
    )
    env = {
        **os.environ,
        "STEMQA_NLTK_DATA": str(tmp_path / "empty"),
        "NLTK_DATA": str(tmp_path / "empty"),
        "WNSEARCHDIR": str(tmp_path / "none"),
        "STEMQA_NLTK_DOWNLOAD": "0",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    tokens, loaded_wordnet = json.loads(out.stdout.strip().splitlines()[-1])
    assert tokens == ["entropy", "gas", "analysis"]
    assert not loaded_wordnet


def test_shipped_lemmatizer_equals_nltks_wordnet_lemmatizer(wordnet, pdf_dir: Path):
    """Indexes built with NLTK's WordNetLemmatizer keep matching: same lemma for every word."""
    from nltk.stem import WordNetLemmatizer

    from stemqa.rag.loading import load_pdf
    from stemqa.rag.preprocess import _lemma

    words = {"dogs", "churches", "aardwolves", "abaci", "hardrock", "geese", "women", "axes"}
    for name in ("PHY102_Electromagnetism.pdf", "PHY202_Statistical_Mechanics.pdf"):
        for page in load_pdf(pdf_dir / name).pages:
            words |= {w.lower() for w in re.findall(r"\w+", page.text)}
    nltk_lemmatizer = WordNetLemmatizer()
    differ = [(w, nltk_lemmatizer.lemmatize(w), _lemma(w)) for w in sorted(words)]
    differ = [row for row in differ if row[1] != row[2]]
    assert len(words) > 700 and not differ


def test_bigrams_are_an_extra_step_not_part_of_all():
    assert parse_steps("all,bigrams") == ("lowercase", "stopwords", "lemmatize", "bigrams")
    assert "bigrams" not in parse_steps("all")
    assert Preprocessor("lowercase,stopwords,bigrams").tokens("The partition function Z") == [
        "partition",
        "function",
        "z",
        "partition_function",
        "function_z",
    ]


def test_strip_boilerplate_keeps_the_topic_only():
    assert strip_boilerplate("Which of the following is called the partition function?") == (
        "the partition function?"
    )
    assert strip_boilerplate("State Rolle's theorem.") == "Rolle's theorem."
    assert strip_boilerplate("Which statement is TRUE about entropy?") == (
        "Which statement about entropy?"
    )
    # nothing but boilerplate, or nothing to remove: the query as given
    assert strip_boilerplate("Which of the following") == "Which of the following"
    question = "What is a vertex of a plane curve?"
    assert strip_boilerplate(question) == question


def test_context_header_names_the_document_and_the_page_heading():
    assert document_title("PHY202_Statistical_Mechanics.pdf") == "PHY202 Statistical Mechanics"
    assert document_title("notes/first-law.md") == "first law"
    page = "\n  2.3 The first law  \nIn a cyclic process dU = 0"
    assert context_header("Foundations_of_Thermodynamics.pdf", page) == (
        "Foundations of Thermodynamics. 2.3 The first law\n"
    )
    assert context_header("a_b.pdf", page, ("title",)) == "a b\n"
    assert context_header("a_b.pdf", "", ("heading",)) == ""


def test_bm25_parameters_reach_bm25s_and_a_bad_method_is_named():
    store = Bm25Store(None, Bm25Params(k1=0.9, b=0.4, method="bm25+"))
    store.rebuild(["x", "y"], [["entropy", "gas"], ["field"]], "g", persist=False)
    assert (store._retriever.k1, store._retriever.b, store._retriever.method) == (0.9, 0.4, "bm25+")
    assert store.search(["entropy"], 2)[0][0] == "x"
    with pytest.raises(ValueError, match=r"bm25 method='okapi': choose one of"):
        Bm25Params(method="okapi")
