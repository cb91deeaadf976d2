"""`jindan eval retrieval`: BEIR-layout evaluation of the configured embedder, store and ranking, per intent.

corpus.jsonl ``{_id, title, text}``, queries.jsonl ``{_id, text}``, qrels TSV ``query-id corpus-id score`` with
a header. The corpus is indexed exactly as the product indexes questions (the title is the question's subject
metadata, prefixed to the passage and stored in the payload the topic vote reads) into a temporary
collection that is dropped afterwards. Each query is a text, ranked by the intent named through the same
:class:`jindan.rag.ranker.Ranker` the service uses. As in BEIR's evaluator, a retrieved document with the
query's own id is ignored.
"""

from __future__ import annotations

import csv
import json
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from jindan.embed.base import Embedder
from jindan.rag.index import passage_text, topic_text
from jindan.rag.intents import Intent
from jindan.rag.ranker import Ranker
from jindan.rag.sparse import SparseEncoder
from jindan.rag.topics import TopicGuess, TopicModel
from jindan.rag.topics import drop as drop_topics
from jindan.rag.topics import load_all as load_topics
from jindan.rag.topics import refresh as refresh_topics
from jindan.settings import SearchSettings
from jindan.vectors.base import CollectionSpec, Point, PointId, VectorStore

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BeirSet:
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    query_subjects: dict[str, str] = field(default_factory=dict)  # bank sets: each query's true subject
    query_styles: dict[str, str] = field(default_factory=dict)  # bank sets: typed | pasted | own
    out_of_bank: bool = False
    searchable: dict[str, str] = field(default_factory=dict)  # bank sets: each question as students see it


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: invalid JSON ({exc})") from exc
    return rows


def load(corpus: Path, queries: Path, qrels: Path) -> BeirSet:
    docs = {str(r["_id"]): (str(r.get("title") or ""), str(r.get("text") or "")) for r in _jsonl(corpus)}
    qs = {str(r["_id"]): str(r["text"]) for r in _jsonl(queries)}
    rel: dict[str, dict[str, int]] = defaultdict(dict)
    with qrels.open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or "query-id" not in header[0]:
            raise ValueError(f"{qrels}: expected a header 'query-id\\tcorpus-id\\tscore'")
        for row in reader:
            if len(row) >= 3 and int(row[2]) > 0:
                rel[row[0]][row[1]] = int(row[2])
    return BeirSet(docs, {q: t for q, t in qs.items() if q in rel}, dict(rel))


def metrics(ranked: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """BEIR's measures, and ``p_at_10_reachable``: hits in the top 10 over min(10, relevant), which equals P@10
    when a query has 10 relevant documents or more and reaches 1.0 in a small bank that has fewer."""
    r5, r10, ndcg, mrr, p10, reach = [], [], [], [], [], []
    for qid, docs in ranked.items():
        rel = qrels.get(qid, {})
        if not rel:
            continue
        hits = [d in rel for d in docs[:10]]
        r5.append(sum(hits[:5]) / len(rel))
        r10.append(sum(hits) / len(rel))
        p10.append(sum(hits) / 10)
        reach.append(sum(hits) / min(10, len(rel)))
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(docs[:10]))
        ideal = sorted(rel.values(), reverse=True)[:10]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        ndcg.append(dcg / idcg if idcg else 0.0)
        mrr.append(next((1 / (i + 1) for i, h in enumerate(hits) if h), 0.0))

    def mean(xs: list[float]) -> float:
        return round(float(np.mean(xs)), 4) if xs else 0.0

    return {
        "recall_at_5": mean(r5),
        "recall_at_10": mean(r10),
        "ndcg_at_10": mean(ndcg),
        "mrr": mean(mrr),
        "p_at_10": mean(p10),
        "p_at_10_reachable": mean(reach),
        "queries": len(p10),
    }


def _topic_text(data: BeirSet, doc: str) -> str:
    """The topic model's text of a corpus entry: its problem and, where the set knows the problem apart from
    the corpus text, the rest (the solution's start) as the solution."""
    subject, text = data.corpus[doc]
    problem = data.searchable.get(doc)
    if problem and text.startswith(problem):
        return topic_text(subject or None, problem, text[len(problem) :])
    return topic_text(subject or None, text)


def _read(words: Mapping[PointId, str], ids: Sequence[PointId]) -> dict[PointId, str]:
    """The questions as the topic model reads them (what the service's ranker reads of a bank without subjects)."""
    return {i: words[i] for i in ids if i in words}


def evaluate(
    data: BeirSet,
    embedder: Embedder,
    store: VectorStore,
    search: SearchSettings,
    intent: Intent,
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> dict[str, Any]:
    name = f"eval__{uuid.uuid4().hex[:10]}"
    sparse = SparseEncoder() if search.hybrid else None
    passages: dict[PointId, str] = {d: passage_text(t or None, text, None) for d, (t, text) in data.corpus.items()}
    if (choose := getattr(embedder, "for_texts", None)) is not None:  # auto: chosen as `index questions` does
        embedder = choose(list(passages.values()), reading=not data.searchable)  # BEIR: a corpus of passages
    store.create(
        CollectionSpec(
            name=name,
            dim=embedder.dim,
            model_id=embedder.model_id,
            sparse=sparse is not None,
            payload_indexes={"subject": "keyword", "kind": "keyword"},
        )
    )

    def texts(ids: Sequence[PointId]) -> dict[PointId, str]:
        """What find's lexical features read: the question without its solution where the set knows it (as the
        service reads it), else the corpus text."""
        return {i: data.searchable.get(str(i)) or data.corpus[str(i)][1] for i in ids if str(i) in data.corpus}

    guesses: dict[str, TopicGuess | None] = {}
    try:
        start = time.perf_counter()
        ids = list(data.corpus)
        for i in range(0, len(ids), batch_size):
            chunk = ids[i : i + batch_size]
            vecs = embedder.embed_passages([passages[d] for d in chunk])
            sp = sparse.encode([passages[d] for d in chunk]) if sparse else [None] * len(chunk)
            store.upsert(
                name,
                [
                    Point(d, v, {"kind": "doc", "subject": data.corpus[d][0] or None}, s)
                    for d, v, s in zip(chunk, vecs, sp, strict=True)
                ],
            )
            if progress:
                progress("index", len(chunk), len(ids))
        words: dict[PointId, str] = {d: _topic_text(data, d) for d in data.corpus}
        topics = refresh_topics(store, name, words) if intent == "similar" else 0
        model, latent = load_topics(store, name) if intent == "similar" else (None, None)
        ranker = Ranker(store, name, texts, search, sparse, topics=model, latent=latent, worked=partial(_read, words))
        index_s = time.perf_counter() - start
        ranked: dict[str, list[str]] = {}
        qids = list(data.queries)
        start = time.perf_counter()
        for i in range(0, len(qids), batch_size):
            chunk = qids[i : i + batch_size]
            qvecs = embedder.embed_queries([data.queries[q] for q in chunk])
            for qid, vec in zip(chunk, qvecs, strict=True):
                text = data.queries[qid]
                if intent == "find":
                    hits = ranker.find(text, vec, 11)
                else:
                    hits, guesses[qid] = ranker.similar_topic(11, text=text, vector=vec)
                ranked[qid] = [str(h.id) for h in hits if str(h.id) != qid][:10]  # BEIR: its own id is ignored
            if progress:
                progress("query", len(chunk), len(qids))
        query_s = time.perf_counter() - start
    finally:
        drop_topics(store, name)
        store.drop(name)
    result: dict[str, Any] = {"intent": intent, **metrics(ranked, data.qrels)}
    if data.out_of_bank:
        result["out_of_bank"] = True
    if intent == "similar" and data.query_subjects and any(t for t, _ in data.corpus.values()):
        result.update(subject_measures(guesses, data.query_subjects))
    if data.query_styles:
        styles = sorted(set(data.query_styles.values()))
        if len(styles) > 1:
            result["by_style"] = {
                st: metrics({q: r for q, r in ranked.items() if data.query_styles.get(q) == st}, data.qrels)
                for st in styles
            }
    result.update(
        {
            "embedder": embedder.model_id,
            "embedder_dim": embedder.dim,
            "store": store.name,
            "rerank": search.rerank if intent == "similar" else "none",
            "hybrid": search.hybrid,
            "ngram_weight": search.ngram_weight,  # similar uses find's ranking to pick the text's own question
            "lexical_weight": search.lexical_weight,
            "anchor_share": search.anchor_share if intent == "similar" else None,
            "subjects": any(t for t, _ in data.corpus.values()),
            "topic_model": topics,
            "latent_topics": len(latent.runs) if latent is not None and search.latent_topics > 0 else 0,
            "curriculum_subjects": _curriculum_subjects(model, search.curriculum_terms),
            "corpus": len(data.corpus),
            "index_s": round(index_s, 1),
            "query_ms_mean": round(1000 * query_s / max(len(qids), 1), 2),
        }
    )
    return result


def _curriculum_subjects(model: TopicModel | None, weight: float) -> int:
    """How many of the bank's subjects the curriculum's glossary knows (0: none, or turned off)."""
    if model is None or model.curriculum is None or weight <= 0:
        return 0
    return sum(1 for terms in model.curriculum.weights if terms)


def subject_measures(guesses: dict[str, TopicGuess | None], truth: dict[str, str]) -> dict[str, Any]:
    """How often the subject similar ranked for is the query's own, overall and where it said it was sure;
    ``uncertain_rate``: the share of queries it reported as uncertain."""
    rows = [(g, truth[q]) for q, g in guesses.items() if q in truth]
    right = [g is not None and g.subject == t for g, t in rows]
    sure = [g is not None and g.subject == t for g, t in rows if g is not None and not g.uncertain]
    sources: dict[str, int] = defaultdict(int)
    for g, _ in rows:
        sources[g.source if g is not None else "none"] += 1

    def share(xs: list[bool]) -> float:
        return round(sum(xs) / len(xs), 4) if xs else 0.0

    return {
        "subject_accuracy": share(right),
        "subject_accuracy_when_sure": share(sure),
        "uncertain_rate": share([g is None or g.uncertain for g, _ in rows]),
        "subject_sources": dict(sorted(sources.items())),
    }
