"""The Qdrant server store against a local HTTP server: the exact REST requests a Qdrant server receives
(qdrant-client's local mode, used by the contract suite, ignores quantization and payload indexes)."""

from __future__ import annotations

from pytest_httpserver import HTTPServer

from jindan.vectors.base import CollectionSpec
from jindan.vectors.qdrant import QdrantStore

OK = {"status": "ok", "time": 0}


def test_create_sends_the_metric_hnsw_int8_and_payload_indexes(httpserver: HTTPServer) -> None:
    spec = CollectionSpec(
        name="q8", dim=384, model_id="all-minilm", quantization="int8", payload_indexes={"subject": "keyword"}
    )
    httpserver.expect_ordered_request("/collections/q8/exists", method="GET").respond_with_json(
        {"result": {"exists": False}, **OK}
    )
    httpserver.expect_ordered_request(
        "/collections/q8",
        method="PUT",
        json={
            "vectors": {"size": 384, "distance": "Cosine"},
            "shard_number": 2,
            "replication_factor": 2,
            "write_consistency_factor": 1,
            "hnsw_config": {"m": 16, "ef_construct": 100},
            "quantization_config": {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}},
            "metadata": {
                "jindan_spec": {
                    "name": "q8",
                    "dim": 384,
                    "distance": "cosine",
                    "model_id": "all-minilm",
                    "hnsw_m": 16,
                    "hnsw_ef_construct": 100,
                    "quantization": "int8",
                    "payload_indexes": {"subject": "keyword"},
                    "sparse": False,
                }
            },
        },
    ).respond_with_json({"result": True, **OK})
    httpserver.expect_ordered_request(
        "/collections/q8/index",
        method="PUT",
        query_string="wait=true",
        json={"field_name": "subject", "field_schema": "keyword"},
    ).respond_with_json({"result": {"operation_id": 1, "status": "completed"}, **OK})
    from qdrant_client import QdrantClient

    client = QdrantClient(url=httpserver.url_for("").rstrip("/"), check_compatibility=False)  # no racing GET /
    store = QdrantStore(client=client, shard_number=2, replication_factor=2)
    store.create(spec)
    store.close()
    httpserver.check_assertions()
    assert len(httpserver.log) == 3
