"""Topic-consensus reranking: let the nearest neighbours' known topics vote, then favour the winning topic.

Dense embeddings of short math problems mix surface features (numbers, wording) with topic. The bank knows
every question's subject, so the top neighbours' subjects, weighted by similarity, estimate the query's topic;
each candidate gets ``beta * P(its subject | query)`` added to its similarity. On the MATH bank this lifts
same-subject precision@10 from 0.61 to 0.73 (docs/benchmarks.md). It cannot help when the filter already
fixes the subject, and it never drops a candidate, only reorders them.
"""

from __future__ import annotations

import math
from collections import defaultdict

from jindan.vectors.base import Hit


def topic_rerank(
    candidates: list[Hit],
    k: int,
    *,
    field: str = "subject",
    voters: int = 20,
    temperature: float = 0.05,
    beta: float = 1.0,
) -> list[Hit]:
    if not candidates:
        return []
    votes: dict[object, float] = defaultdict(float)
    top = candidates[:voters]
    best = max(h.score for h in top)
    for h in top:
        votes[h.payload.get(field)] += math.exp((h.score - best) / temperature)  # shifted: no overflow
    total = sum(votes.values()) or 1.0
    rescored = [Hit(h.id, h.score + beta * votes.get(h.payload.get(field), 0.0) / total, h.payload) for h in candidates]
    rescored.sort(key=lambda h: h.score, reverse=True)
    return rescored[:k]
