"""Qdrant server or cluster through ``qdrant-client`` (the plan's target vector store).

Cluster settings (shards, replicas, write consistency, write ordering) come from the settings: every write
waits (``wait=true``) until the configured number of replicas acknowledged it, in the configured order.
Collection specs live in Qdrant's own collection metadata; aliases are native and switched atomically in one
request.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


class QdrantStore:
    name = "qdrant"

    def __init__(
        self,
        url: str | None = None,
        *,
        path: str | None = None,
        api_key: str | None = None,
        client: Any = None,
        shard_number: int = 1,
        replication_factor: int = 1,
        write_consistency_factor: int = 1,
        write_ordering: str = "weak",
        timeout_s: float = 30.0,
    ) -> None:
        try:
            from qdrant_client import QdrantClient, models
        except ImportError as exc:
            raise VectorStoreError("the Qdrant server store needs qdrant-client: pip install 'jindan[qdrant]'") from exc
        self.m = models
        if client is None:
            client = QdrantClient(path=path) if path else QdrantClient(url=url, api_key=api_key, timeout=int(timeout_s))
        self.client = client
        self.location = path or url or "a client given in-process"  # which server a verify or cutover ran on
        self.shard_number = shard_number
        self.replication_factor = replication_factor
        self.write_consistency_factor = write_consistency_factor
        self.ordering = models.WriteOrdering(write_ordering)  # every write waits for its acks in this order

    def create(self, spec: CollectionSpec) -> None:
        m = self.m
        if self.client.collection_exists(spec.name):
            raise VectorStoreError(f"collection {spec.name!r} already exists")
        distance = {"cosine": m.Distance.COSINE, "dot": m.Distance.DOT, "euclid": m.Distance.EUCLID}[spec.distance]
        quant = None
        if spec.quantization == "int8":
            quant = m.ScalarQuantization(
                scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, quantile=0.99, always_ram=True)
            )
        self.client.create_collection(
            spec.name,
            vectors_config=m.VectorParams(size=spec.dim, distance=distance),
            sparse_vectors_config={"text": m.SparseVectorParams(modifier=m.Modifier.IDF)} if spec.sparse else None,
            hnsw_config=m.HnswConfigDiff(m=spec.hnsw_m, ef_construct=spec.hnsw_ef_construct),
            quantization_config=quant,
            metadata={"jindan_spec": _spec_dict(spec)},
            shard_number=self.shard_number,
            replication_factor=self.replication_factor,
            write_consistency_factor=self.write_consistency_factor,
        )
        schemas = {
            "keyword": m.PayloadSchemaType.KEYWORD,
            "integer": m.PayloadSchemaType.INTEGER,
            "float": m.PayloadSchemaType.FLOAT,
        }
        for field, kind in spec.payload_indexes.items():  # before upload, as Qdrant recommends
            self.client.create_payload_index(spec.name, field, field_schema=schemas[kind], wait=True)

    def exists(self, collection: str) -> bool:
        return bool(self.client.collection_exists(collection))

    def collections(self) -> list[str]:
        return sorted(c.name for c in self.client.get_collections().collections)

    def spec(self, collection: str) -> CollectionSpec:
        name = self.resolve(collection)
        if not self.client.collection_exists(name):
            raise CollectionNotFound(f"no collection {collection!r}: run `jindan index questions` first")
        meta = self.client.get_collection(name).config.metadata or {}
        if "jindan_spec" in meta:
            return CollectionSpec(**meta["jindan_spec"])
        params: Any = self.client.get_collection(name).config.params.vectors
        size = params.size if hasattr(params, "size") else next(iter(params.values())).size
        return CollectionSpec(name=name, dim=int(size))  # a collection jindan did not create

    def drop(self, collection: str) -> None:
        self.client.delete_collection(collection)

    def upsert(self, collection: str, points: Sequence[Point]) -> None:
        if not points:
            return
        m = self.m
        structs = []
        for p in points:
            pid, payload = point_payload(p.id, p.payload)
            vector: Any = np.asarray(p.vector, dtype=np.float32).tolist()
            if p.sparse is not None:
                vector = {"": vector, "text": m.SparseVector(indices=p.sparse[0], values=p.sparse[1])}
            structs.append(m.PointStruct(id=pid, vector=vector, payload=payload))
        self.client.upsert(collection, points=structs, wait=True, ordering=self.ordering)

    def delete(self, collection: str, ids: Sequence[PointId]) -> None:
        if ids:
            self.client.delete(
                collection, points_selector=[qdrant_id(i) for i in ids], wait=True, ordering=self.ordering
            )

    def count(self, collection: str, flt: Filter | None = None) -> int:
        return int(self.client.count(collection, count_filter=self._filter(flt), exact=True).count)

    def shards(self, collection: str) -> list[dict[str, Any]]:
        """Each shard replica of the collection: shard id, peer, state and (for the node asked) its points.
        Empty where the client has no cluster API (local mode)."""
        try:
            info = self.client.collection_cluster_info(self.resolve(collection))
        except (NotImplementedError, AttributeError):
            return []
        local = [
            {"shard": s.shard_id, "peer": info.peer_id, "state": str(s.state.value), "points": s.points_count}
            for s in info.local_shards
        ]
        remote = [
            {"shard": s.shard_id, "peer": s.peer_id, "state": str(s.state.value), "points": None}
            for s in info.remote_shards
        ]
        return sorted(local + remote, key=lambda r: (r["shard"], r["peer"]))

    def retrieve(self, collection: str, ids: Sequence[PointId], with_vectors: bool = False) -> list[Point]:
        records = self.client.retrieve(
            collection, [qdrant_id(i) for i in ids], with_payload=True, with_vectors=with_vectors
        )
        return [to_point(r) for r in records]

    def ids(self, collection: str, batch: int = 1000) -> Iterator[PointId]:
        offset = None
        while True:
            records, offset = self.client.scroll(
                collection, limit=batch, offset=offset, with_payload=["_key"], with_vectors=False
            )
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
        m = self.m
        params = m.SearchParams(hnsw_ef=ef, exact=exact, quantization=m.QuantizationSearchParams(rescore=True))
        dense = np.asarray(vector, dtype=np.float32).tolist()
        # collection may be an alias: Qdrant resolves it in every data call, so no extra round trip here
        if sparse is None:
            res = self.client.query_points(
                collection,
                query=dense,
                query_filter=self._filter(flt),
                limit=k,
                with_payload=True,
                search_params=params,
            )
        else:
            res = self.client.query_points(
                collection,
                prefetch=[
                    m.Prefetch(query=dense, filter=self._filter(flt), limit=k * 5, params=params),
                    m.Prefetch(
                        query=m.SparseVector(indices=sparse[0], values=sparse[1]),
                        using="text",
                        filter=self._filter(flt),
                        limit=k * 5,
                    ),
                ],
                query=m.FusionQuery(fusion=m.Fusion.RRF),
                limit=k,
                with_payload=True,
            )
        return [Hit(original_id(p.id, p.payload), float(p.score), clean(p.payload)) for p in res.points]

    def _filter(self, flt: Filter | None) -> Any:
        if flt is None or flt.empty():
            return None
        m = self.m
        must: list[Any] = [m.FieldCondition(key=k, match=m.MatchValue(value=v)) for k, v in flt.equals.items()]
        must += [m.FieldCondition(key=k, match=m.MatchAny(any=list(v))) for k, v in flt.any_of.items()]
        must += [m.FieldCondition(key=k, range=m.Range(gte=lo, lte=hi)) for k, (lo, hi) in flt.ranges.items()]
        must_not = [m.HasIdCondition(has_id=[qdrant_id(i) for i in flt.exclude_ids])] if flt.exclude_ids else None
        return m.Filter(must=must or None, must_not=must_not)

    def switch_alias(self, alias: str, collection: str) -> None:
        m = self.m
        if not self.client.collection_exists(collection):
            raise CollectionNotFound(f"cannot point alias {alias!r} at missing collection {collection!r}")
        ops: list[Any] = []
        if any(a.alias_name == alias for a in self.client.get_aliases().aliases):
            ops.append(m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=alias)))
        ops.append(m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=collection, alias_name=alias)))
        self.client.update_collection_aliases(change_aliases_operations=ops)  # one request: atomic

    def resolve(self, name: str) -> str:
        for a in self.client.get_aliases().aliases:
            if a.alias_name == name:
                return str(a.collection_name)
        return name

    def close(self) -> None:
        self.client.close()


def _spec_dict(spec: CollectionSpec) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(spec)
