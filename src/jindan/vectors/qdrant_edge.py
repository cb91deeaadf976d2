"""Embedded Qdrant (``qdrant-edge-py``): the Qdrant engine in-process, the embedded profile's default.

The engine has one shard per directory and no collections or aliases, so this store keeps one shard per
collection under ``root/<collection>/`` with the collection spec beside it, and the aliases in
``root/aliases.json`` (replaced atomically, so a reader sees the old or the new target, never a mix).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from jindan.vectors.base import (
    CollectionNotFound,
    CollectionSpec,
    Filter,
    Hit,
    Point,
    PointId,
    Vector,
    VectorStoreError,
    qdrant_id,
)
from jindan.vectors.qdrant_common import clean, original_id, point_payload, to_point

SPEC_FILE = "jindan-collection.json"
ALIASES = "aliases.json"

log = logging.getLogger(__name__)


def _edge() -> Any:
    try:
        import qdrant_edge
    except ImportError as exc:
        raise VectorStoreError("embedded Qdrant needs qdrant-edge-py: pip install 'jindan[embedded]'") from exc
    return qdrant_edge


class QdrantEdgeStore:
    name = "qdrant-edge"

    def __init__(self, root: Path, *, search_threads: int | None = None) -> None:
        self.q = _edge()
        self.root = Path(root)
        self.location = str(self.root.resolve())
        self.root.mkdir(parents=True, exist_ok=True)
        self.search_threads = search_threads
        self._shards: dict[str, Any] = {}
        self._specs: dict[str, CollectionSpec] = {}
        self._alias_cache: tuple[tuple[int, int, int], dict[str, str]] | None = None

    # collections -------------------------------------------------------------------------------------
    def _dir(self, collection: str) -> Path:
        if not collection or "/" in collection or collection.startswith("."):
            raise VectorStoreError(f"invalid collection name {collection!r}")
        return self.root / collection

    def _config(self, spec: CollectionSpec) -> Any:
        q = self.q
        distance = {"cosine": q.Distance.Cosine, "dot": q.Distance.Dot, "euclid": q.Distance.Euclid}[spec.distance]
        quant = None
        if spec.quantization == "int8":
            quant = q.ScalarQuantizationConfig(type=q.ScalarType.Int8, quantile=0.99, always_ram=True)
        sparse = {"text": q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)} if spec.sparse else None
        return q.EdgeConfig(
            vectors={"": q.EdgeVectorParams(size=spec.dim, distance=distance)},
            sparse_vectors=sparse,
            hnsw_config=q.HnswIndexConfig(
                m=spec.hnsw_m, ef_construct=spec.hnsw_ef_construct, full_scan_threshold=10000
            ),
            quantization_config=quant,
            max_search_threads=self.search_threads,
        )

    def create(self, spec: CollectionSpec) -> None:
        path = self._dir(spec.name)
        if (path / SPEC_FILE).exists():
            raise VectorStoreError(f"collection {spec.name!r} already exists")
        if path.exists():  # a create that was killed before it wrote the spec: never served, start it again
            log.warning("removing the unfinished collection %s left by an interrupted run", spec.name)
            shutil.rmtree(path)
        shard = self.q.EdgeShard.create(str(path / "shard"), self._config(spec))
        for field, kind in spec.payload_indexes.items():  # indexes before upload
            schema = {
                "keyword": self.q.PayloadSchemaType.Keyword,
                "integer": self.q.PayloadSchemaType.Integer,
                "float": self.q.PayloadSchemaType.Float,
            }[kind]
            shard.update(self.q.UpdateOperation.create_field_index(field, schema))
        shard.flush()
        (path / SPEC_FILE).write_text(json.dumps(asdict(spec)))
        self._shards[spec.name] = shard
        self._specs[spec.name] = spec

    def exists(self, collection: str) -> bool:
        return (self._dir(collection) / SPEC_FILE).exists()

    def collections(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob(f"*/{SPEC_FILE}"))

    def spec(self, collection: str) -> CollectionSpec:
        name = self.resolve(collection)
        if name not in self._specs:
            path = self._dir(name) / SPEC_FILE
            if not path.exists():
                raise CollectionNotFound(f"no collection {collection!r}: run `jindan index questions` first")
            self._specs[name] = CollectionSpec(**json.loads(path.read_text()))
        return self._specs[name]

    def _shard(self, collection: str) -> Any:
        name = self.resolve(collection)
        if name not in self._shards:
            self.spec(name)
            try:
                self._shards[name] = self.q.EdgeShard.load(str(self._dir(name) / "shard"))
            except Exception as exc:
                if "WouldBlock" in str(exc):  # the engine locks its WAL: one process per shard
                    raise VectorStoreError(
                        f"embedded Qdrant collection {name!r} is open in another process (a running `jindan "
                        f"serve` or `jindan index` on {self.root}); stop it first, or use a Qdrant server "
                        "(JINDAN_VECTORS__STORE=qdrant) for several processes"
                    ) from exc
                raise
        return self._shards[name]

    def drop(self, collection: str) -> None:
        shard = self._shards.pop(collection, None)
        if shard is not None:
            shard.close()
        self._specs.pop(collection, None)
        shutil.rmtree(self._dir(collection), ignore_errors=True)
        aliases = {a: c for a, c in self._aliases().items() if c != collection}
        self._write_aliases(aliases)

    # points ------------------------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[Point]) -> None:
        if not points:
            return
        q = self.q
        edge_points = []
        for p in points:
            pid, payload = point_payload(p.id, p.payload)
            # a buffer, not a list: 384 Python floats per point cost more than the engine's own work
            vector: Any = np.ascontiguousarray(p.vector, dtype=np.float32).data
            if p.sparse is not None:
                vector = {"": vector, "text": q.SparseVector(indices=p.sparse[0], values=p.sparse[1])}
            edge_points.append(q.Point(pid, vector, payload))
        self._shard(collection).update(q.UpdateOperation.upsert_points(edge_points))

    def delete(self, collection: str, ids: Sequence[PointId]) -> None:
        if ids:
            self._shard(collection).update(self.q.UpdateOperation.delete_points([qdrant_id(i) for i in ids]))

    def count(self, collection: str, flt: Filter | None = None) -> int:
        return int(self._shard(collection).count(self.q.CountRequest(exact=True, filter=self._filter(flt))))

    def retrieve(self, collection: str, ids: Sequence[PointId], with_vectors: bool = False) -> list[Point]:

        records = self._shard(collection).retrieve(
            [qdrant_id(i) for i in ids], with_payload=True, with_vector=with_vectors
        )
        return [to_point(r) for r in records]

    def ids(self, collection: str, batch: int = 1000) -> Iterator[PointId]:
        shard = self._shard(collection)
        offset = None
        while True:
            records, offset = shard.scroll(self.q.ScrollRequest(limit=batch, offset=offset, with_payload=["_key"]))
            for r in records:
                yield original_id(r.id, r.payload)
            if offset is None:
                return

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
        q = self.q
        params = q.SearchParams(
            hnsw_ef=ef, exact=exact, quantization=q.QuantizationSearchParams(rescore=True, oversampling=2.0)
        )
        dense = q.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist())
        if sparse is None:
            request = q.QueryRequest(limit=k, query=dense, filter=self._filter(flt), with_payload=True, params=params)
        else:  # hybrid: dense and sparse candidates fused with reciprocal rank fusion
            pre = [
                q.Prefetch(query=dense, limit=k * 5, filter=self._filter(flt), params=params),
                q.Prefetch(
                    query=q.Query.Nearest(q.SparseVector(indices=sparse[0], values=sparse[1]), using="text"),
                    limit=k * 5,
                    filter=self._filter(flt),
                ),
            ]
            request = q.QueryRequest(limit=k, prefetches=pre, query=q.Fusion.Rrf(k=60), with_payload=True)
        hits = self._shard(collection).query(request)
        return [Hit(original_id(h.id, h.payload), float(h.score), clean(h.payload)) for h in hits]

    def _filter(self, flt: Filter | None) -> Any:
        if flt is None or flt.empty():
            return None
        q = self.q
        must: list[Any] = [q.FieldCondition(key=k, match=q.MatchValue(v)) for k, v in flt.equals.items()]
        must += [q.FieldCondition(key=k, match=q.MatchAny(list(v))) for k, v in flt.any_of.items()]
        must += [q.FieldCondition(key=k, range=q.RangeFloat(gte=lo, lte=hi)) for k, (lo, hi) in flt.ranges.items()]
        must_not = [q.HasIdCondition({qdrant_id(i) for i in flt.exclude_ids})] if flt.exclude_ids else None
        return q.Filter(must=must or None, must_not=must_not)

    # aliases -----------------------------------------------------------------------------------------
    def _aliases(self) -> dict[str, str]:
        """The alias file, parsed again only when it changed (a cutover in another process is seen at once)."""
        path = self.root / ALIASES
        try:
            st = path.stat()
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self._alias_cache is None or self._alias_cache[0] != stamp:
            self._alias_cache = (stamp, json.loads(path.read_text()))
        return dict(self._alias_cache[1])

    def _write_aliases(self, aliases: dict[str, str]) -> None:
        tmp = self.root / f".{ALIASES}.tmp"
        tmp.write_text(json.dumps(aliases, indent=2))
        os.replace(tmp, self.root / ALIASES)  # atomic on POSIX

    def switch_alias(self, alias: str, collection: str) -> None:
        if not self.exists(collection):
            raise CollectionNotFound(f"cannot point alias {alias!r} at missing collection {collection!r}")
        if self.exists(alias):
            raise VectorStoreError(f"{alias!r} is a collection name; an alias cannot shadow it")
        self._write_aliases({**self._aliases(), alias: collection})

    def resolve(self, name: str) -> str:
        return self._aliases().get(name, name)

    def optimize(self, collection: str) -> None:
        """Build the HNSW index now (the engine otherwise searches unindexed segments by brute force)."""
        self._shard(collection).optimize()

    def flush(self) -> None:
        for shard in self._shards.values():
            shard.flush()

    def close(self) -> None:
        for shard in self._shards.values():
            shard.flush()
            shard.close()
        self._shards.clear()
