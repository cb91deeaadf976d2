"""Dual write: during the migration window the application writes to both stores and reads from the primary.

Every write (create, drop, upsert, delete, alias switch) goes to the primary first, then to the secondary, so
the store the application reads never misses a write that the new one received. A write the secondary refuses
raises after the primary has it; `jindan migrate sync` catches the secondary up from the source table. Every
read (exists, spec, collections, count, retrieve, ids, search, resolve) is answered by the primary alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from jindan.vectors.base import CollectionSpec, Filter, Hit, Point, PointId, Vector, VectorStore


class DualWriteStore:
    def __init__(self, primary: VectorStore, secondary: VectorStore) -> None:
        self.primary, self.secondary = primary, secondary
        self.name = f"{primary.name}+{secondary.name}"
        self.location = getattr(primary, "location", "")  # reads (and so a cutover) go to the primary

    # writes: primary, then secondary -----------------------------------------------------------------
    def create(self, spec: CollectionSpec) -> None:
        self.primary.create(spec)
        self.secondary.create(spec)

    def drop(self, collection: str) -> None:
        self.primary.drop(collection)
        self.secondary.drop(collection)

    def upsert(self, collection: str, points: Sequence[Point]) -> None:
        self.primary.upsert(collection, points)
        self.secondary.upsert(collection, points)

    def delete(self, collection: str, ids: Sequence[PointId]) -> None:
        self.primary.delete(collection, ids)
        self.secondary.delete(collection, ids)

    def switch_alias(self, alias: str, collection: str) -> None:
        self.primary.switch_alias(alias, collection)
        self.secondary.switch_alias(alias, collection)

    # reads: the primary ------------------------------------------------------------------------------
    def exists(self, collection: str) -> bool:
        return self.primary.exists(collection)

    def spec(self, collection: str) -> CollectionSpec:
        return self.primary.spec(collection)

    def collections(self) -> list[str]:
        return self.primary.collections()

    def count(self, collection: str, flt: Filter | None = None) -> int:
        return self.primary.count(collection, flt)

    def retrieve(self, collection: str, ids: Sequence[PointId], with_vectors: bool = False) -> list[Point]:
        return self.primary.retrieve(collection, ids, with_vectors)

    def ids(self, collection: str, batch: int = 1000) -> Iterator[PointId]:
        return self.primary.ids(collection, batch)

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
    ) -> list[Hit]:
        return self.primary.search(collection, vector, k, flt, exact=exact, ef=ef, sparse=sparse)

    def resolve(self, name: str) -> str:
        return self.primary.resolve(name)

    def close(self) -> None:
        try:
            self.primary.close()
        finally:
            self.secondary.close()
