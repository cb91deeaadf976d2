"""Readiness of a Qdrant cluster against a local HTTP server answering as a 3-node cluster does (the REST
shapes of /cluster, /aliases, /collections/{name} and /collections/{name}/cluster): the requests made, and
what /ready and `jindan doctor` say about shards, replicas and write consistency."""

from __future__ import annotations

from typing import Any

from pytest_httpserver import HTTPServer

from jindan.readiness import check_all
from jindan.settings import QdrantSettings, Settings
from jindan.vectors.qdrant_cluster import check

OK = {"status": "ok", "time": 0.0001}
NAME = "questions__e5_small__v1"


def cluster(peers: int) -> dict[str, Any]:
    if peers == 1:
        return {"result": {"status": "disabled"}, **OK}
    return {
        "result": {
            "status": "enabled",
            "peer_id": 1,
            "peers": {str(i): {"uri": f"http://qdrant-{i - 1}.qdrant-headless:6335/"} for i in range(1, peers + 1)},
            "raft_info": {
                "term": 2,
                "commit": 40,
                "pending_operations": 0,
                "leader": 1,
                "role": "Leader",
                "is_voter": True,
            },
            "consensus_thread_status": {"consensus_thread_status": "working", "last_update": "2026-12-06T22:00:00Z"},
            "message_send_failures": {},
        },
        **OK,
    }


def collection(shards: int, replication: int, consistency: int) -> dict[str, Any]:
    return {
        "result": {
            "status": "green",
            "optimizer_status": "ok",
            "indexed_vectors_count": 0,
            "points_count": 5000,
            "segments_count": 6,
            "config": {
                "params": {
                    "vectors": {"size": 384, "distance": "Cosine"},
                    "shard_number": shards,
                    "replication_factor": replication,
                    "write_consistency_factor": consistency,
                    "on_disk_payload": True,
                },
                "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
                "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000},
                "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
                "quantization_config": None,
            },
            "payload_schema": {},
        },
        **OK,
    }


def layout(states: dict[tuple[int, int], str]) -> dict[str, Any]:
    """Replica states by (shard, peer), as peer 1 reports them: its own shards with counts, the rest remote."""
    local = [{"shard_id": s, "points_count": 800, "state": st} for (s, p), st in states.items() if p == 1]
    remote = [{"shard_id": s, "peer_id": p, "state": st} for (s, p), st in states.items() if p != 1]
    return {
        "result": {
            "peer_id": 1,
            "shard_count": len({s for s, _ in states}),
            "local_shards": local,
            "remote_shards": remote,
            "shard_transfers": [],
        },
        **OK,
    }


def serve(httpserver: HTTPServer, peers: int, states: dict[tuple[int, int], str], params: tuple[int, int, int]) -> None:
    httpserver.expect_ordered_request("/readyz", method="GET").respond_with_data("all shards are ready")
    httpserver.expect_ordered_request("/cluster", method="GET").respond_with_json(cluster(peers))
    httpserver.expect_ordered_request("/aliases", method="GET").respond_with_json(
        {"result": {"aliases": [{"alias_name": "questions", "collection_name": NAME}]}, **OK}
    )
    httpserver.expect_ordered_request(f"/collections/{NAME}", method="GET").respond_with_json(collection(*params))
    httpserver.expect_ordered_request(f"/collections/{NAME}/cluster", method="GET").respond_with_json(layout(states))


def three_nodes(down: frozenset[tuple[int, int]] = frozenset()) -> dict[tuple[int, int], str]:
    """6 shards x 2 replicas over peers 1..3 (shard s on peers s % 3 + 1 and (s + 1) % 3 + 1)."""
    pairs = [(s, p) for s in range(6) for p in (s % 3 + 1, (s + 1) % 3 + 1)]
    return {pair: ("Dead" if pair in down else "Active") for pair in pairs}


def settings(url: str, **qdrant: Any) -> QdrantSettings:
    base: dict[str, Any] = {"shard_number": 6, "replication_factor": 2, "write_consistency_factor": 2}
    return QdrantSettings(url=url, **{**base, **qdrant})


def test_a_healthy_three_node_cluster(httpserver: HTTPServer) -> None:
    serve(httpserver, 3, three_nodes(), (6, 2, 2))
    ok, detail = check(settings(httpserver.url_for("/"), write_ordering="strong"), "questions")
    httpserver.check_assertions()
    assert ok, detail
    assert detail.endswith(
        f"3 peers; questions -> {NAME}: 6 shard(s) x 2 replica(s) (12/12 active), write consistency 2, ordering strong"
    ), detail


def test_a_dead_replica_is_a_warning_and_a_shard_with_none_is_not_ready(httpserver: HTTPServer) -> None:
    serve(httpserver, 3, three_nodes(frozenset({(0, 1)})), (6, 2, 1))
    ok, detail = check(settings(httpserver.url_for("/")), "questions")
    assert (
        ok
        and "(11/12 active)" in detail
        and "warning: 1 shard replica(s) not active (shard 0 on peer 1: Dead)" in detail
    )
    assert "settings say 6 x 2, consistency 2: they apply to collections created from now on" in detail

    httpserver.clear()
    serve(httpserver, 3, three_nodes(frozenset({(0, 1), (0, 2)})), (6, 2, 1))
    ok, detail = check(settings(httpserver.url_for("/")), "questions")
    assert not ok and "shard(s) 0 have no active replica" in detail, detail


def test_a_single_node_asked_for_replicas(httpserver: HTTPServer) -> None:
    serve(httpserver, 1, {(s, 1): "Active" for s in range(6)}, (6, 1, 1))
    ok, detail = check(settings(httpserver.url_for("/"), replication_factor=1), "questions")
    assert ok and "single node; questions -> " in detail and "warning" not in detail

    httpserver.clear()
    serve(httpserver, 1, {(s, 1): "Active" for s in range(6)}, (6, 2, 3))
    ok, detail = check(settings(httpserver.url_for("/")), "questions")
    assert ok and "warning: replication factor 2 needs 2 peers; the cluster has 1" in detail
    assert "warning: write consistency factor 3 > replication factor 2: writes fail" in detail


def test_no_collection_yet_and_a_server_away(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/readyz", method="GET").respond_with_data("ok")
    httpserver.expect_ordered_request("/cluster", method="GET").respond_with_json(cluster(3))
    httpserver.expect_ordered_request("/aliases", method="GET").respond_with_json({"result": {"aliases": []}, **OK})
    httpserver.expect_ordered_request("/collections/questions", method="GET").respond_with_json(
        {"status": {"error": "Not found: Collection `questions` doesn't exist!"}, "time": 0.0}, status=404
    )
    ok, detail = check(settings(httpserver.url_for("/")), "questions")
    assert ok and "3 peers; no collection behind 'questions' yet (new ones: 6 shard(s) x 2 replica(s)" in detail
    ok, detail = check(settings("http://127.0.0.1:9"), "questions")
    assert not ok and "unreachable" in detail


def test_ready_and_doctor_show_the_cluster(httpserver: HTTPServer) -> None:
    serve(httpserver, 3, three_nodes(), (6, 2, 2))
    s = Settings(
        profile="local",
        vectors={"store": "qdrant"},  # type: ignore[arg-type]
        qdrant={
            "url": httpserver.url_for("/"),
            "shard_number": 6,
            "replication_factor": 2,
            "write_consistency_factor": 2,
        },  # type: ignore[arg-type]
    )
    status = next(st for st in check_all(s, None) if st.component == "vectors:qdrant")
    assert status.ok and "6 shard(s) x 2 replica(s) (12/12 active)" in status.detail
