"""The two intents on the Korean dev bank: real e5, real PostgreSQL, embedded Qdrant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.embed.base import Embedder
from jindan.rag.index import Indexer
from jindan.rag.intents import FindWeights, anchor_of, rank_find
from jindan.rag.retrieve import Retriever, SearchFilters
from jindan.settings import SearchSettings
from jindan.vectors.base import Hit
from jindan.vectors.qdrant_edge import QdrantEdgeStore
from tests.fixtures.rag import ko_queries, ko_rows


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[QdrantEdgeStore]:
    s = QdrantEdgeStore(tmp_path / "qdrant")
    yield s
    s.close()


def by_external_id(db: Database) -> dict[str, tuple[int, str]]:
    with db.session() as s:
        return {e: (i, subj) for i, e, subj in s.execute(select(Question.id, Question.external_id, Question.subject))}


def test_find_puts_the_typed_or_pasted_question_first(ko_bank: Database, store: QdrantEdgeStore, e5: Embedder) -> None:
    Indexer(ko_bank, store, e5).run()
    ids = by_external_id(ko_bank)
    retriever = Retriever(ko_bank, store, e5)
    ranks = {"typed": [], "pasted": []}  # type: dict[str, list[int]]
    for q in ko_queries(set(ids)):
        found = [f.id for f in retriever.search(q["text"], k=5, intent="find")]
        target = ids[q["question_id"]][0]
        ranks[q["style"]].append(found.index(target) + 1 if target in found else 99)
    assert ranks["pasted"] and all(r == 1 for r in ranks["pasted"]), ranks["pasted"]
    assert ranks["typed"] and sum(r == 1 for r in ranks["typed"]) >= 0.9 * len(ranks["typed"]), ranks["typed"]
    assert all(r <= 5 for r in ranks["typed"]), ranks["typed"]


def test_the_topic_vote_never_buries_a_near_exact_match(
    ko_bank: Database, store: QdrantEdgeStore, e5: Embedder
) -> None:
    """Whatever weight the vote gets, find puts the pasted question first; a filter is still obeyed."""
    Indexer(ko_bank, store, e5).run()
    ids = by_external_id(ko_bank)
    loud = SearchSettings(rerank="topic", topic_beta=50.0, anchor_weight=50.0)
    retriever = Retriever(ko_bank, store, e5, search=loud)
    for q in ko_queries(set(ids)):
        if q["style"] == "pasted":
            assert retriever.search(q["text"], k=3, intent="find")[0].id == ids[q["question_id"]][0], q["text"]
    pasted = next(q for q in ko_queries(set(ids)) if q["style"] == "pasted")
    other = next(s for _, s in ids.values() if s != ids[pasted["question_id"]][1])
    only_other = retriever.search(pasted["text"], k=5, filters=SearchFilters(subject=other), intent="find")
    assert only_other and all(f.subject == other for f in only_other)


def test_near_exact_first_even_with_a_lower_dense_score() -> None:
    """Unit level: a candidate holding the whole query is first although three others are denser."""
    query = "이차방정식 x^2-5x+6=0의 두 근의 합을 구하시오."
    hits = [Hit(i, 0.95 - i * 0.01, {"subject": "이차함수"}) for i in range(3)] + [Hit(9, 0.70, {"subject": "x"})]
    texts = {0: "이차함수 y=x^2의 꼭짓점", 1: "y=2x^2+1의 그래프", 2: "포물선의 축", 9: query + " (1) 2 (2) 5"}
    dense_only = FindWeights(ngram=0.0, lexical=0.0)
    assert rank_find(query, hits, texts, 4, dense_only)[0].id == 9
    assert rank_find("근의 합", hits, texts, 4, dense_only)[0].id == 0  # too short to be near-exact


@pytest.mark.parametrize("text", ["How many", "the sum of", "Find x.", "$x^2$", "probability", "근의 합"])
def test_a_few_words_never_anchor_on_the_question_that_holds_them(text: str) -> None:
    """A text of a few words is found whole in many questions and is none of them: similar practice must not
    take the first of them as the student's own question (it would be dropped and its subject shown as certain)."""
    body = "How many ways are there to find x. The sum of $x^2$ and the probability of 근의 합 is asked."
    hits = [Hit(1, 0.9, {"subject": "Algebra"}), Hit(2, 0.5, {"subject": "Geometry"})]
    texts = {1: body, 2: "A triangle has sides 3, 4 and 5."}
    assert anchor_of(text, hits, texts, 0.3) is None
    assert anchor_of(body, hits, texts, 0.3) == 1  # the whole question still anchors


def test_similar_excludes_the_question_itself(ko_bank: Database, store: QdrantEdgeStore, e5: Embedder) -> None:
    Indexer(ko_bank, store, e5).run()
    ids = by_external_id(ko_bank)
    retriever = Retriever(ko_bank, store, e5)
    precision = []
    for q in ko_queries(set(ids)):
        own, subject = ids[q["question_id"]]
        by_text = retriever.search(q["text"], k=5, intent="similar")
        if q["style"] == "pasted":
            assert own not in [f.id for f in by_text], q["text"]
        by_id = retriever.similar_to(own, k=5)
        assert own not in [f.id for f in by_id] and len(by_id) == 5
        precision.append(sum(f.subject == subject for f in by_id) / 5)
    assert sum(precision) / len(precision) >= 0.9, precision  # 7 others of its unit among 23


def test_similar_by_text_follows_the_question_it_copies(
    ko_bank: Database, store: QdrantEdgeStore, e5: Embedder
) -> None:
    """A pasted question and the question's id give the same practice set (same probe, same vote)."""
    Indexer(ko_bank, store, e5).run()
    ids = by_external_id(ko_bank)
    retriever = Retriever(ko_bank, store, e5)
    pasted = [q for q in ko_queries(set(ids)) if q["style"] == "pasted"][:5]
    assert len(pasted) == 5
    for q in pasted:
        own = ids[q["question_id"]][0]
        assert [f.id for f in retriever.search(q["text"], k=5, intent="similar")] == [
            f.id for f in retriever.similar_to(own, k=5)
        ]


def test_a_typed_problem_that_is_not_in_the_bank_gets_practice_on_its_subject(
    ko_bank: Database, store: QdrantEdgeStore, e5: Embedder
) -> None:
    """Students' queries for questions of the same three units that the bank does not hold: the subject comes
    from the text (the topic model trained at index time), and the practice set is on it."""
    report = Indexer(ko_bank, store, e5).run()
    assert report.topics == 3
    subject_of = {r["id"]: r["subject"] for r in ko_rows(per=13)}
    held = subject_of.keys() - {r["id"] for r in ko_rows()}
    asked = ko_queries(set(held))
    assert len(asked) >= 20
    retriever = Retriever(ko_bank, store, e5)
    right, sure = [], []
    for q in asked:
        practice = retriever.practice(q["text"], k=5)
        topic = practice.topic
        assert topic is not None and topic.source in ("inferred", "anchor")
        assert 0 < topic.confidence <= 1 and topic.uncertain == (topic.source != "anchor" and topic.confidence < 0.5)
        assert [f.subject for f in practice.found] == [topic.subject] * 5  # one topic, never a silent mix
        assert all(f.subject_confidence == topic.confidence for f in practice.found)
        right.append(topic.subject == subject_of[q["question_id"]])
        if not topic.uncertain:
            sure.append(right[-1])
    assert sum(right) >= 0.75 * len(right), (sum(right), len(right))
    assert sure and sum(sure) >= 0.85 * len(sure), (sum(sure), len(sure))


def test_a_pasted_bank_question_still_anchors_on_itself(
    ko_bank: Database, store: QdrantEdgeStore, e5: Embedder
) -> None:
    """In-bank queries are unchanged by the topic model: the question is excluded and its own subject decides."""
    Indexer(ko_bank, store, e5).run()
    ids = by_external_id(ko_bank)
    retriever = Retriever(ko_bank, store, e5)
    for q in [q for q in ko_queries(set(ids)) if q["style"] == "pasted"][:8]:
        own, subject = ids[q["question_id"]]
        practice = retriever.practice(q["text"], k=5)
        assert practice.topic is not None and (practice.topic.subject, practice.topic.source) == (subject, "anchor")
        assert practice.topic.confidence == 1.0 and not practice.topic.uncertain
        assert own not in [f.id for f in practice.found] and {f.subject for f in practice.found} == {subject}
