"""Preprocessing and offline NLTK data."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from stemqa.rag import nltk_data
from stemqa.rag.fusion import reciprocal_rank_fusion
from stemqa.rag.nltk_data import NltkDataError, install_system_wordnet, stopwords_english
from stemqa.rag.preprocess import Preprocessor, parse_steps


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


def test_preprocessor_lowercases_drops_stopwords_and_lemmatizes(wordnet):
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
