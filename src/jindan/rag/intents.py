"""Two intents, each ranked for itself, over the same dense candidates.

*find*: a student typed or pasted a question and wants that question. Each candidate's dense similarity gets
the share of the query's character bigrams found in it (LaTeX-aware, :mod:`jindan.text.lexical`) and, where
configured, a Korean-morpheme BM25 score scaled into [0, 1] over the candidates: scores are added, never
replaced by ranks, so the dense order is only nudged. A near-exact match (almost every bigram of the query in
one question) is always first; no topic vote runs for find.

*similar*: practice questions like this one. The question itself (given by id, or what *find* puts first
for a text that holds enough of it) is excluded; its stored vector is the probe and its subject the strongest
vote, beside the neighbours' subjects (topic consensus, :mod:`jindan.rag.rerank`). Banks without subjects
move the probe towards its nearest neighbours instead (:func:`jindan.rag.rerank.expansion_rerank`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from jindan.text.lexical import char_ngrams, containment, terms
from jindan.vectors.base import Hit, PointId

Intent = Literal["find", "similar"]
INTENTS: tuple[Intent, ...] = ("find", "similar")
MIN_NEAR_EXACT_GRAMS = 7  # a query of a few words contained in a question is not a near-exact copy of it


@dataclass(frozen=True)
class FindWeights:
    ngram: float = 0.2
    lexical: float = 0.05
    near_exact: float = 0.9


def bm25_pool(query: str, docs: Sequence[str], k1: float = 1.2, b: float = 0.75) -> list[float]:
    """BM25 of the query's terms over the candidates themselves (their own document frequencies)."""
    q = set(terms(query))
    toks = [terms(d) for d in docs]
    if not q or not toks:
        return [0.0] * len(docs)
    n = len(toks)
    avg = sum(len(t) for t in toks) / n or 1.0
    df = Counter(t for doc in toks for t in set(doc) if t in q)
    out = []
    for doc in toks:
        tf = Counter(t for t in doc if t in q)
        out.append(
            sum(
                math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) * c * (k1 + 1) / (c + k1 * (1 - b + b * len(doc) / avg))
                for t, c in tf.items()
            )
        )
    return out


def overlaps(query: str, hits: Sequence[Hit], texts: Mapping[PointId, str]) -> dict[PointId, float]:
    """Containment of the query's character bigrams in each candidate's text."""
    grams = char_ngrams(query)
    return {h.id: containment(grams, char_ngrams(texts.get(h.id, ""))) for h in hits}


def near_exact(query: str, threshold: float) -> Callable[[float], bool]:
    """Whether a share of the query's n-grams makes a candidate a near-exact copy of it."""
    long_enough = sum(char_ngrams(query).values()) >= MIN_NEAR_EXACT_GRAMS
    return lambda share: long_enough and share >= threshold


def rank_find(
    query: str, hits: Sequence[Hit], texts: Mapping[PointId, str], k: int, w: FindWeights | None = None
) -> list[Hit]:
    """Dense + bigram overlap (+ morpheme BM25) added; near-exact matches first, whatever the rest says."""
    w = w or FindWeights()
    share = overlaps(query, hits, texts)
    lex = [0.0] * len(hits)
    if w.lexical > 0:
        raw = bm25_pool(query, [texts.get(h.id, "") for h in hits])
        top = max(raw, default=0.0)
        lex = [r / top if top > 0 else 0.0 for r in raw]
    copy = near_exact(query, w.near_exact)
    scored = [
        (
            copy(share[h.id]),
            Hit(h.id, h.score + w.ngram * share[h.id] + w.lexical * x, h.payload),
        )
        for h, x in zip(hits, lex, strict=True)
    ]
    scored.sort(key=lambda p: (p[0], p[1].score), reverse=True)
    return [h for _, h in scored[:k]]


def anchor_of(
    query: str, hits: Sequence[Hit], texts: Mapping[PointId, str], threshold: float, w: FindWeights | None = None
) -> PointId | None:
    """The question the text is about: what *find* puts first, when it holds at least ``threshold`` of the
    text's bigrams (a typed question keeps about half of them; a text that is in no question, far fewer). A text
    of a few words ("How many", "triangle") is found whole in many questions and is none of them: it never
    anchors."""
    if sum(char_ngrams(query).values()) < MIN_NEAR_EXACT_GRAMS:
        return None
    top = rank_find(query, hits, texts, 1, w)
    if top and overlaps(query, top, texts)[top[0].id] >= threshold:
        return top[0].id
    return None
