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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jindan.embed.base import Embedder
from jindan.rag.index import passage_text
from jindan.rag.intents import Intent
from jindan.rag.ranker import Ranker
from jindan.rag.sparse import SparseEncoder
from jindan.settings import SearchSettings
from jindan.vectors.base import CollectionSpec, Point, PointId, VectorStore

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BeirSet:
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


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
    r5, r10, ndcg, mrr, p10 = [], [], [], [], []
    for qid, docs in ranked.items():
        rel = qrels.get(qid, {})
        if not rel:
            continue
        hits = [d in rel for d in docs[:10]]
        r5.append(sum(hits[:5]) / len(rel))
        r10.append(sum(hits) / len(rel))
        p10.append(sum(hits) / 10)
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
        "queries": len(p10),
    }


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
        return {i: data.corpus[str(i)][1] for i in ids if str(i) in data.corpus}

    ranker = Ranker(store, name, texts, search, sparse)
    try:
        start = time.perf_counter()
        ids = list(data.corpus)
        for i in range(0, len(ids), batch_size):
            chunk = ids[i : i + batch_size]
            passages = [passage_text(data.corpus[d][0] or None, data.corpus[d][1], None) for d in chunk]
            vecs = embedder.embed_passages(passages)
            sp = sparse.encode(passages) if sparse else [None] * len(chunk)
            store.upsert(
                name,
                [
                    Point(d, v, {"kind": "doc", "subject": data.corpus[d][0] or None}, s)
                    for d, v, s in zip(chunk, vecs, sp, strict=True)
                ],
            )
            if progress:
                progress("index", len(chunk), len(ids))
        index_s = time.perf_counter() - start
        ranked: dict[str, list[str]] = {}
        qids = list(data.queries)
        start = time.perf_counter()
        for i in range(0, len(qids), batch_size):
            chunk = qids[i : i + batch_size]
            qvecs = embedder.embed_queries([data.queries[q] for q in chunk])
            for qid, vec in zip(chunk, qvecs, strict=True):
                text = data.queries[qid]
                hits = ranker.find(text, vec, 11) if intent == "find" else ranker.similar(11, text=text, vector=vec)
                ranked[qid] = [str(h.id) for h in hits if str(h.id) != qid][:10]  # BEIR: its own id is ignored
            if progress:
                progress("query", len(chunk), len(qids))
        query_s = time.perf_counter() - start
    finally:
        store.drop(name)
    result: dict[str, Any] = {"intent": intent, **metrics(ranked, data.qrels)}
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
            "corpus": len(data.corpus),
            "index_s": round(index_s, 1),
            "query_ms_mean": round(1000 * query_s / max(len(qids), 1), 2),
        }
    )
    return result
