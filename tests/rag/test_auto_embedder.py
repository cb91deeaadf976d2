"""``auto`` end to end: the bank's language picks the embedder when it is indexed, the collection records it, and
queries are embedded by the collection's model (real PostgreSQL, real MiniLM and e5, embedded Qdrant)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import Material, Question
from jindan.embed.auto import AutoEmbedder
from jindan.embed.base import Embedder
from jindan.rag.index import Indexer
from jindan.rag.retrieve import Retriever
from jindan.vectors.qdrant_edge import QdrantEdgeStore


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[QdrantEdgeStore]:
    s = QdrantEdgeStore(tmp_path / "qdrant")
    yield s
    s.close()


@pytest.fixture()
def models(minilm: Embedder, e5: Embedder) -> dict[str, Embedder]:
    return {"e5": e5, "sentence-transformers": minilm, e5.model_id: e5, minilm.model_id: minilm}


def auto(models: dict[str, Embedder]) -> AutoEmbedder:
    return AutoEmbedder(models.__getitem__)


def test_an_english_bank_gets_the_english_embedder_and_its_queries_too(
    bank: Database, store: QdrantEdgeStore, models: dict[str, Embedder]
) -> None:
    embedder = auto(models)
    report = Indexer(bank, store, embedder).run()
    assert store.spec("questions").model_id == "all-MiniLM-L6-v2" and report.topics == 3
    retriever = Retriever(bank, store, embedder, embedders=models.get)
    assert retriever.query_model == "all-MiniLM-L6-v2"  # the collection's model, not auto's e5
    with bank.session() as s:
        q = s.scalars(select(Question).where(Question.subject == "Geometry").order_by(Question.id)).first()
        assert q is not None
        own, body = q.id, q.body
    pasted = retriever.practice(body, k=5)  # in the bank: the intent is unchanged, anchored on the question
    assert pasted.topic is not None and (pasted.topic.subject, pasted.topic.source) == ("Geometry", "anchor")
    assert own not in [f.id for f in pasted.found] and {f.subject for f in pasted.found} == {"Geometry"}
    typed = retriever.practice("A bag has 4 red and 6 blue marbles. Two are drawn. What is the chance both are red?")
    topic = typed.topic
    assert topic is not None and topic.source == "inferred" and topic.subject == "Counting & Probability"
    assert 0 < topic.confidence <= 1 and topic.uncertain == (topic.confidence < 0.5)  # how sure, always reported
    assert all(f.subject_confidence == topic.confidence for f in typed.found)


def test_a_korean_bank_keeps_e5(ko_bank: Database, store: QdrantEdgeStore, models: dict[str, Embedder]) -> None:
    embedder = auto(models)
    Indexer(ko_bank, store, embedder).run()
    assert store.spec("questions").model_id == "multilingual-e5-small"
    assert Retriever(ko_bank, store, embedder, embedders=models.get).query_model == "multilingual-e5-small"


def test_a_bank_with_reading_passages_keeps_e5(
    bank: Database, store: QdrantEdgeStore, models: dict[str, Embedder]
) -> None:
    """Materials are passages found for a question, where e5 does better: e5 whatever their language (the run is
    stopped before it embeds anything: the collection it made says which model it chose)."""
    with bank.session() as s:
        s.add(Material(external_id="m1", title="Probability", text="The chance of an event ...", content_hash="x"))
    stop = threading.Event()
    stop.set()
    report = Indexer(bank, store, auto(models)).run(stop=stop)
    assert report.stopped and report.embedded == 0
    assert store.spec(report.collection).model_id == "multilingual-e5-small"
