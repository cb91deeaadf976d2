"""Indexing and similar-question search end to end: real PostgreSQL, real MiniLM, embedded Qdrant."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.embed.base import Embedder
from jindan.rag import index as index_module
from jindan.rag.index import (
    FIRST_CHUNK,
    Indexer,
    Pace,
    first_pass_text,
    passage_text,
    topic_text,
    without_drawings,
)
from jindan.rag.retrieve import Retriever, SearchFilters
from jindan.rag.topics import SOLUTION_MARK, TopicModel, split_solution
from jindan.settings import SearchSettings
from jindan.vectors.base import ModelMismatch
from jindan.vectors.qdrant_edge import QdrantEdgeStore


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[QdrantEdgeStore]:
    s = QdrantEdgeStore(tmp_path / "qdrant")
    yield s
    s.close()


def test_index_is_idempotent_and_propagates_changes(bank: Database, store: QdrantEdgeStore, minilm: Embedder) -> None:
    indexer = Indexer(bank, store, minilm)
    first = indexer.run()
    assert (first.created, first.embedded, first.unchanged) == (True, 120, 0)
    assert store.resolve("questions") == first.collection and store.count("questions") == 120
    again = indexer.run()
    assert (again.created, again.embedded, again.unchanged, again.deleted) == (False, 0, 120, 0)
    with bank.session() as s:
        ids = sorted(s.scalars(select_ids()))
        s.execute(update(Question).where(Question.id == ids[0]).values(body="Changed: what is 1+1?"))
        s.execute(delete(Question).where(Question.id == ids[1]))
    third = indexer.run()
    assert (third.embedded, third.deleted, third.unchanged) == (1, 1, 118)
    assert store.count("questions") == 119


def test_a_stopped_run_keeps_what_it_embedded_and_the_next_one_goes_on(
    bank: Database, store: QdrantEdgeStore, minilm: Embedder
) -> None:
    """A service shutting down stops its background index after the embedding call in hand (its first one
    takes FIRST_CHUNK texts), not after the whole batch in hand; what was embedded is written, the alias waits
    for a complete collection, and the next start
    embeds only what is missing."""
    stop = threading.Event()

    class StopsMidBatch:
        model_id, dim = minilm.model_id, minilm.dim

        def __init__(self) -> None:
            self.calls: list[int] = []

        def embed_queries(self, texts: list[str]) -> Any:
            return minilm.embed_queries(texts)

        def embed_passages(self, texts: list[str]) -> Any:
            self.calls.append(len(texts))
            stop.set()  # SIGTERM lands while the first chunk is being embedded
            return minilm.embed_passages(texts)

    stopping = StopsMidBatch()
    first = Indexer(bank, store, stopping, batch_size=50).run(stop=stop)  # type: ignore[arg-type]
    assert (first.stopped, first.embedded) == (True, FIRST_CHUNK) and stopping.calls == [FIRST_CHUNK]
    assert store.count(first.collection) == FIRST_CHUNK and store.resolve("questions") != first.collection
    rest = Indexer(bank, store, minilm, batch_size=50).run(stop=threading.Event())
    assert (rest.stopped, rest.collection, rest.embedded, rest.unchanged) == (
        False, first.collection, 120 - FIRST_CHUNK, FIRST_CHUNK,
    )  # fmt: skip
    assert store.resolve("questions") == first.collection and store.count("questions") == 120


def test_embedding_calls_are_sized_to_the_stop_budget() -> None:
    pace = Pace(budget_s=1.0)
    assert pace.take([100] * 50) == FIRST_CHUNK  # the rate is not known yet
    pace.saw(chars=400, seconds=0.4)  # 1 ms per character: 10 texts of 100 fit the budget
    assert pace.take([100] * 50) == 2 * FIRST_CHUNK  # but a call grows to twice the last one at most
    assert pace.take([100] * 50) == 10 and pace.take([300, 300, 300, 300]) == 3
    assert pace.take([5000, 10]) == 1  # a text slower than the budget goes alone, never zero
    pace.saw(chars=100, seconds=1.1)  # the machine got busier: 11 ms per character, averaged to 6 ms
    assert pace.take([100] * 50) == 1
    assert pace.take([]) == 0


def test_a_stop_before_the_first_text_embeds_nothing(bank: Database, store: QdrantEdgeStore, minilm: Embedder) -> None:
    stop = threading.Event()
    stop.set()
    report = Indexer(bank, store, minilm).run(stop=stop)
    assert (report.stopped, report.embedded, report.unchanged) == (True, 0, 0)
    assert store.count(report.collection) == 0


def test_similar_questions_with_filters(bank: Database, store: QdrantEdgeStore, minilm: Embedder) -> None:
    Indexer(bank, store, minilm).run()
    retriever = Retriever(bank, store, minilm)
    with bank.session() as s:
        geo = s.scalars(select_ids().where(Question.subject == "Geometry")).first()
    assert geo is not None
    found = retriever.similar_to(geo, k=5)
    assert geo not in [f.id for f in found] and len(found) == 5
    assert sum(f.subject == "Geometry" for f in found) >= 4
    only_algebra = retriever.similar_to(geo, k=5, filters=SearchFilters(subject="Algebra", level_max=3))
    assert only_algebra and all(f.subject == "Algebra" and (f.level or 0) <= 3 for f in only_algebra)
    text = retriever.search("the probability of drawing two red marbles from a bag", k=5)
    assert sum(f.subject == "Counting & Probability" for f in text) >= 4
    excluded = retriever.search("triangle area", k=3, filters=SearchFilters(exclude_ids=[text[0].id]))
    assert text[0].id not in [f.id for f in excluded]


def test_topic_rerank_improves_same_subject_precision(bank: Database, store: QdrantEdgeStore, minilm: Embedder) -> None:
    Indexer(bank, store, minilm).run()
    with bank.session() as s:
        qs = [(q.id, q.subject) for q in s.query(Question).order_by(Question.id)]

    def precision(rerank: str) -> float:
        r = Retriever(bank, store, minilm, search=SearchSettings(rerank=rerank))  # type: ignore[arg-type]
        hits = [sum(f.subject == subj for f in r.similar_to(qid, k=10)) / 10 for qid, subj in qs]
        return sum(hits) / len(hits)

    plain, topic = precision("none"), precision("topic")
    assert topic >= plain + 0.05, (plain, topic)  # measured 0.86 -> 0.98; equal means it never ran


def test_query_with_another_model_is_refused(bank: Database, store: QdrantEdgeStore, minilm: Embedder) -> None:
    Indexer(bank, store, minilm).run()

    class Other:
        model_id, dim = "multilingual-e5-small", 384

        def embed_queries(self, texts):  # type: ignore[no-untyped-def]
            raise AssertionError("must not embed")

        embed_passages = embed_queries

    with pytest.raises(ModelMismatch, match="all-MiniLM-L6-v2"):
        Retriever(bank, store, Other()).search("x")  # type: ignore[arg-type]


def test_model_change_builds_a_new_collection_and_switches_the_alias(
    bank: Database, store: QdrantEdgeStore, minilm: Embedder
) -> None:
    from jindan.embed.e5 import E5Embedder

    old = Indexer(bank, store, minilm).run().collection
    new = Indexer(bank, store, E5Embedder()).run()
    assert new.created and new.collection != old and store.resolve("questions") == new.collection
    assert store.exists(old)  # kept: the rollback point
    assert store.spec("questions").model_id == "multilingual-e5-small"


def select_ids():  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    return select(Question.id)


class Watching:
    """The real embedder; ``before`` runs ahead of every passage call (to look at the store mid-run)."""

    def __init__(self, inner: Embedder, before: Any) -> None:
        self.inner, self.model_id, self.dim, self.before = inner, inner.model_id, inner.dim, before
        self.texts: list[str] = []

    def embed_queries(self, texts: list[str]) -> Any:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> Any:
        self.before(len(self.texts))
        self.texts += texts
        return self.inner.embed_passages(texts)


def test_a_first_index_answers_after_its_first_pass_then_refines_in_place(
    bank: Database, store: QdrantEdgeStore, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Question texts first (no solution): the alias switches when they are all in, so search answers; then
    the full passages replace them in the same collection, and a later run finds nothing to do."""
    monkeypatch.setattr(index_module, "FIRST_PASS_MIN", 50)
    seen_at_second: list[tuple[str, int]] = []

    def before(embedded: int) -> None:
        if embedded >= 120 and not seen_at_second:  # the second pass's first call
            seen_at_second.append((store.resolve("questions"), store.count("questions")))

    watching = Watching(minilm, before)
    report = Indexer(bank, store, watching, first_pass=True).run()  # type: ignore[arg-type]
    assert (report.first_pass, report.embedded, report.stopped) == (120, 120, False)
    assert seen_at_second == [(report.collection, 120)]  # search answered between the passes
    with bank.session() as s:
        solutions = [without_drawings(e, "")[:40] for e in s.scalars(select(Question.explanation)) if e]
    assert len(solutions) == 120
    first, second = watching.texts[:120], watching.texts[120:]
    assert not any(sol in t for t in first for sol in solutions)  # the first pass embeds no solution
    assert sum(any(sol in t for sol in solutions) for t in second) == 120
    again = Indexer(bank, store, minilm, first_pass=True).run()
    assert (again.first_pass, again.embedded, again.unchanged) == (0, 0, 120)


def test_a_first_index_stopped_in_its_second_pass_keeps_answering_and_goes_on(
    bank: Database, store: QdrantEdgeStore, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "FIRST_PASS_MIN", 50)
    stop = threading.Event()
    watching = Watching(minilm, lambda embedded: stop.set() if embedded >= 130 else None)
    report = Indexer(bank, store, watching, first_pass=True).run(stop=stop)  # type: ignore[arg-type]
    assert report.stopped and report.first_pass == 120 and 0 < report.embedded < 120
    assert store.resolve("questions") == report.collection and store.count("questions") == 120
    rest = Indexer(bank, store, minilm, first_pass=True).run()
    assert (rest.first_pass, rest.embedded, rest.unchanged) == (0, 120 - report.embedded, report.embedded)


def test_one_pass_when_few_passages_are_new_or_search_already_answers(
    bank: Database, store: QdrantEdgeStore, minilm: Embedder
) -> None:
    assert Indexer(bank, store, minilm, first_pass=True).run().first_pass == 0  # 120 < FIRST_PASS_MIN


def test_passages_leave_drawing_code_out() -> None:
    body = 'Find $x$.\n[asy]\ndraw((0,0)--(3,4));\nlabel("$A$",(0,0),SW);\n[/asy]\nWhat is the area?'
    text = passage_text("Geometry", body, "The area is [asy]draw(unitcircle);[/asy] $\\boxed{6}$.")
    assert "draw(" not in text and "[figure]" in text and "What is the area?" in text and "boxed{6}" in text
    assert first_pass_text("Geometry", body) == "Geometry: Find $x$.\n[figure]\nWhat is the area?"
    assert "draw(" not in passage_text(None, "Unclosed [asy] draw((0,0));", None)


def test_the_topic_model_reads_each_problem_apart_from_its_solution(
    bank: Database, store: QdrantEdgeStore, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The term regression learns from problems as a student types them; naive Bayes also reads the solutions."""
    seen: list[str] = []
    fit = TopicModel.fit

    def spy(vectors: Any, subjects: Any, texts: Any, **kw: Any) -> TopicModel | None:
        seen.extend(texts)
        return fit(vectors, subjects, texts, **kw)

    monkeypatch.setattr(TopicModel, "fit", spy)
    assert Indexer(bank, store, minilm).run().topics > 1
    assert len(seen) == 120 and sum(SOLUTION_MARK in t for t in seen) >= 100
    problems, wholes = zip(*(split_solution(t) for t in seen), strict=True)
    assert not any("boxed" in p for p in problems) and sum("boxed" in w for w in wholes) >= 30  # within 400 characters


def test_a_bank_without_subjects_reads_each_candidate_s_worked_solution_for_its_units(
    bank: Database, store: QdrantEdgeStore, minilm: Embedder
) -> None:
    """The ranker reads a bank without subjects as the topic model does: each question, then the start of its
    worked solution after the mark, from PostgreSQL in one statement (the solution says "remainder" where the
    problem may not); the problem part is what find reads."""
    Indexer(bank, store, minilm).run()
    ranker = Retriever(bank, store, minilm).ranker
    with bank.session() as s:
        query = select(Question.id, Question.body, Question.explanation).where(Question.explanation.is_not(None))
        row = s.execute(query.order_by(Question.id).limit(1)).one()
    worked = ranker.worked([row.id, "not-a-question"])
    assert list(worked) == [row.id] and worked[row.id] == topic_text(None, row.body, row.explanation)
    problem, whole = split_solution(worked[row.id])
    assert problem == ranker.texts([row.id])[row.id]
    start = row.explanation.strip()[:50]
    assert start and start in whole and start not in problem
