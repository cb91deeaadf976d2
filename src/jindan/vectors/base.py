"""The one vector-store interface: Qdrant server, embedded Qdrant (qdrant-edge) and pgvector implement it.

Scores follow Qdrant's convention everywhere: cosine and dot are similarities (higher is closer), euclid is a
distance (lower is closer). Every collection records the embedding model, dimension and distance it was built
with; a query from another model is refused (``ModelMismatch``) instead of returning confident nonsense.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Distance = Literal["cosine", "dot", "euclid"]
PayloadType = Literal["keyword", "integer", "float"]
PointId = int | str
Vector = npt.NDArray[np.float32]

# Payload fields indexed before upload (the plan's filters).
QUESTION_INDEXES: dict[str, PayloadType] = {
    "subject": "keyword",
    "level": "integer",
    "difficulty": "float",
    "concepts": "keyword",
    "source": "keyword",
    "kind": "keyword",
}


class VectorStoreError(RuntimeError):
    """A store failure with an actionable message."""


class CollectionNotFound(VectorStoreError):
    pass


class ModelMismatch(VectorStoreError):
    """The collection was built with another embedding model or dimension."""


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    dim: int
    distance: Distance = "cosine"
    model_id: str = ""
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    quantization: Literal["int8"] | None = None
    payload_indexes: dict[str, PayloadType] = field(default_factory=lambda: dict(QUESTION_INDEXES))
    sparse: bool = False  # a sparse vector "text" alongside the dense one (hybrid search)

    def metadata(self) -> dict[str, Any]:
        return {
            "jindan_model_id": self.model_id,
            "jindan_dim": self.dim,
            "jindan_distance": self.distance,
            "jindan_sparse": self.sparse,
        }

    def check_query(self, model_id: str, dim: int) -> None:
        if dim != self.dim or (self.model_id and model_id and model_id != self.model_id):
            raise ModelMismatch(
                f"collection {self.name!r} holds {self.dim}-d vectors from {self.model_id or 'an unknown model'}; "
                f"the query comes from {model_id} ({dim}-d). Re-index with `jindan index questions` or configure "
                f"JINDAN_EMBED__MODEL={self.model_id}."
            )


@dataclass
class Point:
    id: PointId
    vector: Vector
    payload: dict[str, Any] = field(default_factory=dict)
    sparse: tuple[list[int], list[float]] | None = None


@dataclass(frozen=True)
class Filter:
    """Conditions all must hold: equality, any-of (works on array fields too), numeric ranges, excluded ids."""

    equals: Mapping[str, str | int | bool] = field(default_factory=dict)
    any_of: Mapping[str, Sequence[str | int]] = field(default_factory=dict)
    ranges: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    exclude_ids: Sequence[PointId] = ()

    def empty(self) -> bool:
        return not (self.equals or self.any_of or self.ranges or self.exclude_ids)


@dataclass(frozen=True)
class Hit:
    id: PointId
    score: float
    payload: dict[str, Any]


@runtime_checkable
class VectorStore(Protocol):
    name: str
    location: str  # where its data lives (a server's URL, a folder, a database without its password)

    def create(self, spec: CollectionSpec) -> None: ...
    def drop(self, collection: str) -> None: ...
    def exists(self, collection: str) -> bool: ...
    def spec(self, collection: str) -> CollectionSpec: ...
    def collections(self) -> list[str]: ...
    def upsert(self, collection: str, points: Sequence[Point]) -> None: ...
    def delete(self, collection: str, ids: Sequence[PointId]) -> None: ...
    def count(self, collection: str, flt: Filter | None = None) -> int: ...
    def retrieve(self, collection: str, ids: Sequence[PointId], with_vectors: bool = False) -> list[Point]: ...
    def ids(self, collection: str, batch: int = 1000) -> Iterator[PointId]: ...
    def search(
        self,
        collection: str,
        vector: Vector,
        k: int = 10,
        flt: Filter | None = None,
        *,
        exact: bool = False,
        ef: int | None = None,
        sparse: tuple[list[int], list[float]] | None = None,
    ) -> list[Hit]: ...
    def switch_alias(self, alias: str, collection: str) -> None: ...
    def resolve(self, name: str) -> str: ...
    def close(self) -> None: ...


def where(store: VectorStore) -> str:
    """The store as a migration records it: its kind and where its data lives."""
    return f"{store.name} {getattr(store, 'location', '')}".strip()


def qdrant_id(pid: PointId) -> int | str:
    """Qdrant accepts unsigned integers and UUIDs; any other key maps to uuid5 (as qdrant/migration does)."""
    if isinstance(pid, int) and pid >= 0:
        return pid
    text = str(pid)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, text))


def as_matrix(vectors: Sequence[Vector] | Vector) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))


def normalize(v: Vector) -> Vector:
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else v
