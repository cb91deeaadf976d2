"""Latent topics of a bank without subjects: clusters of its own question vectors, learned when it is indexed.

A bank without subject labels cannot train the topic model of :mod:`jindan.rag.topics`, and a typed problem's
nearest questions are on its topic only about 6 times in 10. Groups of questions that sit close together in
the vector space are purer than one question's neighbours, so the bank is clustered (spherical k-means, cosine)
several times: at four granularities (about 80, 50, 30 and 20 questions per cluster) with four seeds each. A
candidate's *agreement* with the problem is, averaged over those clusterings, the probability that it is in
the problem's cluster (a softmax of the problem's cosine to each centroid); similar practice adds
``search.latent_topics`` x the agreement to its score (:func:`jindan.rag.rerank.expansion_rerank`).

The centroids live beside the collection, in its topics collection (``<collection>__topics``), one point per
centroid: ``latent:<run>:<cluster>``, payload ``{"kind": "latent", "run": r}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from jindan.vectors.base import Point

LATENT_KIND = "latent"
LATENT_PREFIX = "latent:"
PER_CLUSTER = (80, 50, 30, 20)  # questions per cluster, one granularity each
SEEDS = 4  # clusterings per granularity
MIN_QUESTIONS = 40  # fewer: no clusters (the neighbours say as much)
ITERATIONS = 10
TEMPERATURE = 0.02  # the problem's membership: softmax(cos to each centroid / TEMPERATURE)
Matrix = npt.NDArray[np.float32]


def _normalised(x: npt.ArrayLike) -> Matrix:
    m = np.asarray(x, np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    out: Matrix = m / np.maximum(norms, 1e-9)
    return out


def spherical_kmeans(x: Matrix, k: int, seed: int, iterations: int = ITERATIONS) -> Matrix:
    """Centroids (unit length) of ``k`` clusters of the unit rows of ``x``, k-means++ seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    n = len(x)
    chosen = [int(rng.integers(n))]
    distance = 1.0 - x @ x[chosen[0]]
    for _ in range(1, k):
        p = np.maximum(distance, 0.0).astype(np.float64) ** 2
        total = float(p.sum())
        nxt = int(rng.choice(n, p=p / total)) if total > 0 else int(rng.integers(n))
        chosen.append(nxt)
        distance = np.minimum(distance, 1.0 - x @ x[nxt])
    centroids = x[chosen].copy()
    for _ in range(iterations):
        label = np.argmax(x @ centroids.T, axis=1)
        order = np.argsort(label, kind="stable")
        counts = np.bincount(label, minlength=k)
        filled = np.flatnonzero(counts)
        sums = centroids.copy()  # an empty cluster keeps its centroid
        sums[filled] = np.add.reduceat(x[order], np.concatenate([[0], np.cumsum(counts)[:-1]])[filled], axis=0)
        moved = _normalised(sums)
        if np.allclose(moved, centroids, atol=1e-6):
            break
        centroids = moved
    return centroids


def _softmax(z: npt.NDArray[np.float32], temperature: float) -> npt.NDArray[np.float32]:
    z = (z - z.max()) / temperature
    e = np.exp(z)
    out: npt.NDArray[np.float32] = e / e.sum()
    return out


@dataclass(frozen=True, eq=False)
class LatentTopics:
    """Several clusterings of one bank's question vectors (each a matrix of unit centroids)."""

    runs: tuple[Matrix, ...]
    _all: Matrix = field(init=False, repr=False)  # every run's centroids, one after the other
    _ends: npt.NDArray[np.int64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_all", np.vstack(self.runs).astype(np.float32))
        object.__setattr__(self, "_ends", np.cumsum([len(r) for r in self.runs]))

    @classmethod
    def fit(
        cls, vectors: Sequence[npt.ArrayLike], per_cluster: Sequence[int] = PER_CLUSTER, seeds: int = SEEDS
    ) -> LatentTopics | None:
        """None for a bank too small to cluster (fewer than MIN_QUESTIONS questions)."""
        if len(vectors) < MIN_QUESTIONS:
            return None
        x = _normalised(np.vstack([np.asarray(v, np.float32) for v in vectors]))
        runs: list[Matrix] = []
        for size in per_cluster:
            k = round(len(x) / size)
            if k >= 2:
                runs.extend(spherical_kmeans(x, k, seed) for seed in range(seeds))
        return cls(tuple(runs)) if runs else None

    def agreement(self, probe: npt.ArrayLike, candidates: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Per candidate row: the probability that it shares the probe's cluster, averaged over the runs."""
        probe_cos = self._all @ _normalised(probe)
        cos = np.asarray(candidates, np.float32) @ self._all.T
        out = np.zeros(len(cos))
        start = 0
        for end in self._ends:
            membership = _softmax(probe_cos[start:end], TEMPERATURE)
            out += membership[np.argmax(cos[:, start:end], axis=1)]
            start = int(end)
        result: npt.NDArray[np.float64] = out / len(self.runs)
        return result

    def points(self) -> list[Point]:
        return [
            Point(f"{LATENT_PREFIX}{r}:{j}", c.astype(np.float32), {"kind": LATENT_KIND, "run": r})
            for r, centroids in enumerate(self.runs)
            for j, c in enumerate(centroids)
        ]

    @classmethod
    def from_points(cls, points: Iterable[Point]) -> LatentTopics | None:
        runs: dict[int, list[tuple[int, npt.NDArray[np.float32]]]] = {}
        for p in points:
            if p.payload.get("kind") == LATENT_KIND and p.vector.size:
                cluster = int(str(p.id).rsplit(":", 1)[-1])
                runs.setdefault(int(p.payload["run"]), []).append((cluster, np.asarray(p.vector, np.float32)))
        kept = [np.vstack([v for _, v in sorted(rows, key=lambda t: t[0])]) for _, rows in sorted(runs.items())]
        return cls(tuple(kept)) if kept else None
