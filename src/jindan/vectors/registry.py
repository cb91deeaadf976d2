"""Vector store registry: one line per store; each builder imports its SDK only when chosen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jindan.settings import Settings
from jindan.vectors.base import VectorStore, VectorStoreError


def _edge(settings: Settings, db: Any) -> VectorStore:
    from jindan.vectors.qdrant_edge import QdrantEdgeStore

    return QdrantEdgeStore(settings.qdrant_path)


def _qdrant(settings: Settings, db: Any) -> VectorStore:
    from jindan.vectors.qdrant import QdrantStore

    q = settings.qdrant
    return QdrantStore(
        q.url,
        path=str(q.path) if q.path else None,
        api_key=q.api_key.get_secret_value() if q.api_key else None,
        shard_number=q.shard_number,
        replication_factor=q.replication_factor,
        write_consistency_factor=q.write_consistency_factor,
        write_ordering=q.write_ordering,
    )


def _pgvector(settings: Settings, db: Any) -> VectorStore:
    from jindan.vectors.pgvector import PgVectorStore

    if db is None:
        raise VectorStoreError("the pgvector store needs the database (JINDAN_DATABASE__URL)")
    return PgVectorStore(db.engine)


STORES: dict[str, Callable[[Settings, Any], VectorStore]] = {
    "qdrant-edge": _edge,
    "qdrant": _qdrant,
    "pgvector": _pgvector,
}


def build_store(settings: Settings, db: Any = None, name: str | None = None) -> VectorStore:
    key = name or settings.vectors.store
    if key not in STORES:
        raise VectorStoreError(f"unknown vector store {key!r}; known: {', '.join(STORES)}")
    return STORES[key](settings, db)
