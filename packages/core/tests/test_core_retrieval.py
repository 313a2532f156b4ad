"""Retrievers are found through entry points; a missing kind gets a helpful error."""

from importlib.metadata import EntryPoint

import pytest

from stemqa.core import retrieval
from stemqa.core.retrieval import Passage, Retriever, open_retriever


class ListRetriever:
    def __init__(self, location, texts=()):
        self.location = location
        self.texts = list(texts)

    def retrieve(self, query, k=5):
        return [Passage(text=t, source=self.location, page=0) for t in self.texts if query in t][:k]


def _fake_entry_points(monkeypatch, eps):
    monkeypatch.setattr(
        retrieval, "entry_points", lambda group: [e for e in eps if e.group == group]
    )


def test_open_retriever_loads_the_named_entry_point(monkeypatch):
    ep = EntryPoint(name="list", value=f"{__name__}:ListRetriever", group="stemqa.retrievers")
    _fake_entry_points(monkeypatch, [ep])
    r = open_retriever("notes.pdf", kind="list", texts=["heat flows", "light bends"])
    assert isinstance(r, Retriever)
    assert r.retrieve("heat") == [Passage(text="heat flows", source="notes.pdf", page=0)]


def test_unknown_kind_lists_available(monkeypatch):
    ep = EntryPoint(name="list", value=f"{__name__}:ListRetriever", group="stemqa.retrievers")
    _fake_entry_points(monkeypatch, [ep])
    with pytest.raises(LookupError, match=r"'faiss'.*available: list"):
        open_retriever("x", kind="faiss")


def test_real_entry_point_group_is_queried():
    # Whatever is installed (stemqa-rag registers 'chroma'), an unknown kind is refused clearly.
    with pytest.raises(LookupError, match=r"stemqa\.retrievers"):
        open_retriever("x", kind="definitely-not-installed")


def test_factory_returning_non_retriever_is_rejected(monkeypatch):
    ep = EntryPoint(name="bad", value="builtins:str", group="stemqa.retrievers")
    _fake_entry_points(monkeypatch, [ep])
    with pytest.raises(TypeError, match="retrieve"):
        open_retriever("x", kind="bad")
