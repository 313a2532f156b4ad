"""Make NLTK's WordNet and stop words available without a network at run time.

stemqa's own lemmatization no longer needs this module's WordNet (preprocess.py ships the
noun data it uses), so an index opens offline on any machine; `ensure_wordnet` remains for
code that wants NLTK's full WordNet corpus.

Tests and CI run offline, and `nltk.download` at query time would hang there. WordNet comes
from the system instead (Debian's `wordnet-base`, whose files NLTK can read once they are
*copied* into an NLTK data folder: NLTK 3.10 refuses symlinks that leave its data roots, and
its reader also wants the small `lexnames` file, which we ship). Online users without any of
this get one `nltk.download("wordnet")` with a message saying where it goes.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
from importlib import resources
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

#: Where Debian/Ubuntu packages put WordNet 3.0 (wordnet-base; older releases use dict/).
SYSTEM_WORDNET_DIRS = (Path("/usr/share/wordnet"), Path("/usr/share/wordnet/dict"))
#: Files NLTK's WordNetCorpusReader opens. `lexnames` is shipped with stemqa-rag,
#: `index.sense` comes from Debian's optional wordnet-sense-index package.
WORDNET_FILES = (
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
    "cntlist.rev",
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
)


class NltkDataError(RuntimeError):
    """WordNet is needed for lemmatization and could not be found or fetched."""


def nltk_data_dir() -> Path:
    """Our own NLTK data folder (override with STEMQA_NLTK_DATA)."""
    override = os.environ.get("STEMQA_NLTK_DATA")
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("stemqa")) / "nltk_data"


def system_wordnet_dir() -> Path | None:
    """The first system folder holding WordNet's data files, or None."""
    extra = os.environ.get("WNSEARCHDIR")
    candidates = ((Path(extra),) if extra else ()) + SYSTEM_WORDNET_DIRS
    for folder in candidates:
        if (folder / "data.noun").is_file() and (folder / "index.noun").is_file():
            return folder
    return None


def stopwords_english() -> frozenset[str]:
    """NLTK's English stop-word list, shipped as a data file (see data/NOTICE.md)."""
    text = resources.files("stemqa.rag").joinpath("data/stopwords_english.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def _wordnet_loads() -> bool:
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
    except (LookupError, OSError):
        return False
    return True


def install_system_wordnet(source: Path, data_dir: Path) -> Path:
    """Copy Debian's WordNet files into `data_dir`/corpora/wordnet (copies, not links)."""
    target = data_dir / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for name in WORDNET_FILES:
        src = source / name
        dst = target / name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)
    lexnames = resources.files("stemqa.rag").joinpath("data/wordnet/lexnames").read_bytes()
    (target / "lexnames").write_bytes(lexnames)
    sense = source / "index.sense"
    if sense.is_file():
        shutil.copyfile(sense, target / "index.sense")
    elif not (target / "index.sense").exists():
        # NLTK reads the sense index only to map synsets between WordNet versions (for the
        # multilingual OMW data); lemmatization never uses it, so an empty one is enough.
        (target / "index.sense").write_text("")
    return target


def _may_download() -> bool:
    return os.environ.get("STEMQA_NLTK_DOWNLOAD", "1").lower() not in ("0", "false", "no")


@functools.cache
def ensure_wordnet() -> None:
    """Make `nltk.corpus.wordnet` loadable, or raise NltkDataError saying how to fix it.

    Order: data NLTK already finds; our cache folder; Debian's files copied into it; a one-time
    download (unless STEMQA_NLTK_DOWNLOAD=0, which the test suite sets).
    """
    import nltk

    data_dir = nltk_data_dir()
    if str(data_dir) not in nltk.data.path:
        nltk.data.path.insert(0, str(data_dir))
    if _wordnet_loads():
        return
    system = system_wordnet_dir()
    if system is not None:
        install_system_wordnet(system, data_dir)
        if _wordnet_loads():
            return
    if _may_download():
        print(
            f"stemqa: WordNet (for lemmatization) is missing; downloading it once with NLTK into "
            f"{data_dir} (about 10 MB). Offline? Install Debian's wordnet-base package instead.",
            file=sys.stderr,
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            ok = nltk.download("wordnet", download_dir=str(data_dir), quiet=True)
        except Exception as exc:  # network errors come in many types
            log.debug("nltk.download failed", exc_info=True)
            ok = False
            reason = f" ({exc})"
        else:
            reason = ""
        if ok and _wordnet_loads():
            return
        raise NltkDataError(
            f"Could not download WordNet{reason}. Install it with `apt-get install wordnet-base` "
            "(Debian/Ubuntu) or `python -m nltk.downloader wordnet`, or ingest without "
            "lemmatization (--preprocess lowercase,stopwords)."
        )
    raise NltkDataError(
        "WordNet is not installed and downloads are disabled (STEMQA_NLTK_DOWNLOAD=0). Install it "
        "with `apt-get install wordnet-base` (Debian/Ubuntu) or `python -m nltk.downloader "
        "wordnet`, or use --preprocess without 'lemmatize'."
    )
