"""Moving to a new embedder: a new versioned collection, the alias switched when it is complete, and search
answering throughout (queries embedded by the model of the collection they search)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.embed.base import Embedder
from jindan.rag import retrieve
from jindan.rag.index import Indexer
from jindan.rag.retrieve import Retriever
from jindan.rag.topics import TOPICS_SUFFIX
from jindan.vectors.qdrant_edge import QdrantEdgeStore
from tests.fixtures.rag import ko_queries


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[QdrantEdgeStore]:
    s = QdrantEdgeStore(tmp_path / "qdrant")
    yield s
    s.close()


class Held:
    """The new embedder, held inside the re-index (its collection created, not filled) until the test has
    searched meanwhile."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.model_id, self.dim = inner, inner.model_id, inner.dim
        self.started, self.go = threading.Event(), threading.Event()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.started.set()
        assert self.go.wait(60)
        return self.inner.embed_passages(texts)


def test_reindex_to_a_new_embedder_switches_the_alias_with_no_downtime(
    ko_bank: Database, store: QdrantEdgeStore, minilm: Embedder, e5: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retrieve, "ALIAS_RECHECK_S", 0.0)
    old = Indexer(ko_bank, store, minilm).run().collection
    with ko_bank.session() as s:
        ids = {e: i for e, i in s.execute(select(Question.external_id, Question.id))}
    pasted = [q for q in ko_queries(set(ids)) if q["style"] == "pasted"][:3]
    assert len(pasted) == 3
    models = {minilm.model_id: minilm, e5.model_id: e5}
    retriever = Retriever(ko_bank, store, e5, embedders=models.get)  # configured for the new model already
    assert retriever.query_model == "all-MiniLM-L6-v2"  # the collection's model embeds its queries

    def answers() -> list[bool]:
        return [retriever.search(q["text"], k=3)[0].id == ids[q["question_id"]] for q in pasted]

    assert all(answers())
    held = Held(e5)
    report: list[object] = []
    worker = threading.Thread(target=lambda: report.append(Indexer(ko_bank, store, held).run()))
    worker.start()
    try:
        assert held.started.wait(60)
        questions = [c for c in store.collections() if not c.endswith(TOPICS_SUFFIX)]  # beside: the topic model
        assert len(questions) == 2 and store.resolve("questions") == old
        assert all(answers()) and retriever.query_model == "all-MiniLM-L6-v2"  # during the re-index
    finally:
        held.go.set()
        worker.join(120)
    new = report[0].collection  # type: ignore[attr-defined]
    assert new != old and store.resolve("questions") == new and store.exists(old)  # old kept for rollback
    assert all(answers()) and retriever.query_model == "multilingual-e5-small"
    assert store.spec("questions").model_id == "multilingual-e5-small"


def test_moving_back_reuses_the_kept_collection(
    ko_bank: Database, store: QdrantEdgeStore, minilm: Embedder, e5: Embedder
) -> None:
    old = Indexer(ko_bank, store, minilm).run()
    Indexer(ko_bank, store, e5).run()
    back = Indexer(ko_bank, store, minilm).run()  # the rollback: nothing re-embedded, the alias switched back
    assert (back.collection, back.created, back.embedded) == (old.collection, False, 0)
    assert store.resolve("questions") == old.collection
    rebuilt = Indexer(ko_bank, store, minilm).run(rebuild=True)
    assert rebuilt.created and rebuilt.collection.endswith("__v2") and rebuilt.embedded == 24
