"""The migration's safety gates, each shown closing: a damaged copy fails `verify` with the check and the keys
named, `cutover` refuses a collection whose latest verify failed, and `rollback` after a failed cutover keeps
the collection that is serving. Real PostgreSQL + pgvector; embedded Qdrant and the Qdrant client API."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from jindan.db.engine import Database
from jindan.migrate.cutover import CutoverRefused, cutover, last_event, record, rollback
from jindan.migrate.plan import SourcePlan, inspect_source
from jindan.migrate.run import as_array, migrate
from jindan.migrate.verify import VerifyReport, verify
from jindan.vectors.base import CollectionNotFound, CollectionSpec, Point, VectorStore
from jindan.vectors.qdrant_edge import QdrantEdgeStore
from tests.migrate.test_migrate import DIM, make_source

ROWS = 300


@pytest.fixture(params=["qdrant-edge", "qdrant"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "qdrant-edge":
        s: VectorStore = QdrantEdgeStore(tmp_path / "edge")
    else:
        from qdrant_client import QdrantClient

        from jindan.vectors.qdrant import QdrantStore

        s = QdrantStore(client=QdrantClient(":memory:"))
    yield s
    s.close()


@pytest.fixture()
def copied(db: Database, db_url: str, store: VectorStore) -> SourcePlan:
    """A 300-row legacy table copied into ``v2``, and a full verify that passes before any damage."""
    make_source(db_url, rows=ROWS, nulls=0)
    plan = inspect_source(db.engine, "legacy.question_vectors", target="v2")
    assert migrate(db, store, plan, readers=2, batch=64).copied == ROWS
    clean = verify(db, store, plan, full=True, seed=7)
    assert clean.passed, clean.to_dict()
    search = next(c.detail for c in clean.checks if c.name == "search")
    assert (search["queries"], search["exact_recall_at_10"], search["recall_at_10"]) == (50, 1.0, 1.0)
    assert search["ef"] == 128
    assert 0.8 <= search["top10_overlap_pgvector"] <= 1.0  # pgvector's own index, reported
    return plan


def failed(report: VerifyReport) -> dict[str, dict[str, Any]]:
    return {c.name: c.detail for c in report.checks if not c.passed}


def source_sql(db_url: str, statement: str, *params: Any) -> None:
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        register_vector(c)
        c.execute(statement, params or None)


def rewrite(store: VectorStore, key: int, change: Callable[[Point], Point]) -> None:
    (p,) = store.retrieve("v2", [key], with_vectors=True)
    store.upsert("v2", [change(p)])


def test_a_point_missing_in_qdrant_fails_count_and_ids(db: Database, store: VectorStore, copied: SourcePlan) -> None:
    store.delete("v2", [17])
    bad = failed(verify(db, store, copied, full=True))
    assert set(bad) == {"count", "ids"}
    assert bad["count"] == {"source": ROWS, "target": ROWS - 1}
    assert bad["ids"]["missing"] == [17] and bad["ids"]["extra"] == [] and bad["ids"]["missing_count"] == 1


def test_a_source_row_left_out_fails_ids(db: Database, db_url: str, store: VectorStore, copied: SourcePlan) -> None:
    source_sql(
        db_url,
        "INSERT INTO legacy.question_vectors (id, embedding, subject) VALUES (5000, %s, 'Late')",
        np.ones(DIM, np.float32),
    )
    bad = failed(verify(db, store, copied, full=True))
    assert set(bad) == {"count", "ids"} and bad["ids"]["missing"] == [5000] and bad["ids"]["extra"] == []


def test_an_extra_point_in_qdrant_fails_count_and_ids(db: Database, store: VectorStore, copied: SourcePlan) -> None:
    store.upsert("v2", [Point(90_001, np.ones(DIM, np.float32), {"subject": "Stray"})])
    bad = failed(verify(db, store, copied, full=True))
    assert set(bad) == {"count", "ids"}
    assert bad["ids"]["extra"] == [90_001] and bad["ids"]["missing"] == [] and bad["ids"]["extra_count"] == 1


def test_a_changed_vector_fails_vectors_with_its_key(db: Database, store: VectorStore, copied: SourcePlan) -> None:
    rewrite(store, 23, lambda p: Point(p.id, -p.vector, p.payload))  # opposite direction: cosine cannot hide it
    report = verify(db, store, copied, full=True)
    bad = failed(report)
    assert "vectors" in bad and "payloads" not in bad and "ids" not in bad
    assert bad["vectors"] == {"compared": ROWS, "mismatched": ["23"]}


def test_a_slightly_changed_vector_is_still_caught(db: Database, store: VectorStore, copied: SourcePlan) -> None:
    def nudge(p: Point) -> Point:
        v = p.vector.copy()
        v[0] += 0.05 * float(np.linalg.norm(v))  # a small change in one component
        return Point(p.id, v, p.payload)

    rewrite(store, 61, nudge)
    assert failed(verify(db, store, copied, full=True))["vectors"]["mismatched"] == ["61"]


def test_a_changed_payload_fails_payloads_with_its_key(db: Database, store: VectorStore, copied: SourcePlan) -> None:
    rewrite(store, 31, lambda p: Point(p.id, p.vector, {**p.payload, "subject": "Changed"}))
    rewrite(store, 32, lambda p: Point(p.id, p.vector, {k: v for k, v in p.payload.items() if k != "level"}))
    rewrite(store, 33, lambda p: Point(p.id, p.vector, {**p.payload, "score": p.payload["score"] + 0.5}))
    bad = failed(verify(db, store, copied, full=True))
    assert set(bad) == {"payloads"}
    assert bad["payloads"] == {"compared": ROWS, "mismatched": ["31", "32", "33"]}


def test_payload_numbers_are_compared_to_their_last_bits(db: Database, store: VectorStore, copied: SourcePlan) -> None:
    """A timestamp's numeric twin a minute off is damage; a float that lost its last bit is not."""

    def shift(field: str, by: Callable[[float], float]) -> Callable[[Point], Point]:
        return lambda p: Point(p.id, p.vector, {**p.payload, field: by(p.payload[field])})

    rewrite(store, 51, shift("updated_at_ts", lambda t: t + 60))
    rewrite(store, 52, shift("score", lambda x: math.nextafter(x, 1)))
    rewrite(store, 53, shift("updated_at_ts", lambda t: t + 1e-6))
    bad = failed(verify(db, store, copied, full=True))
    assert bad == {"payloads": {"compared": ROWS, "mismatched": ["51"]}}


def test_text_keys_are_named_as_keys(db: Database, db_url: str, tmp_path: Path) -> None:
    make_source(db_url, rows=120, text_keys=True, nulls=0)
    store = QdrantEdgeStore(tmp_path / "edge")
    plan = inspect_source(db.engine, "legacy.question_vectors", target="texty")
    migrate(db, store, plan)
    store.delete("texty", ["q-00007"])
    rewrite_in(store, "texty", "q-00009", lambda p: Point(p.id, -p.vector, p.payload))
    bad = failed(verify(db, store, plan, full=True))
    assert bad["ids"]["missing"] == ["q-00007"] and bad["vectors"]["mismatched"] == ["q-00009"]
    store.close()


def rewrite_in(store: VectorStore, collection: str, key: Any, change: Callable[[Point], Point]) -> None:
    (p,) = store.retrieve(collection, [key], with_vectors=True)
    store.upsert(collection, [change(p)])


def test_a_vector_nulled_in_the_source_fails_ids(
    db: Database, db_url: str, store: VectorStore, copied: SourcePlan
) -> None:
    """A row whose vector became NULL is no longer searchable; Qdrant still holding it is an extra point."""
    source_sql(db_url, "UPDATE legacy.question_vectors SET embedding = NULL WHERE id = 41")
    bad = failed(verify(db, store, copied, full=True))
    assert {"count", "ids"} <= set(bad) and bad["ids"]["extra"] == [41] and bad["ids"]["missing"] == []


def test_a_collection_of_the_wrong_dimension_fails_without_crashing(
    db: Database, db_url: str, store: VectorStore
) -> None:
    make_source(db_url, rows=ROWS, nulls=0)
    plan = inspect_source(db.engine, "legacy.question_vectors", target="narrow")
    store.create(CollectionSpec(name="narrow", dim=DIM - 4, payload_indexes={}))  # a careless script's target
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as c:
        register_vector(c)
        rows = c.execute("SELECT id, embedding FROM legacy.question_vectors").fetchall()
    store.upsert("narrow", [Point(int(k), as_array(v)[: DIM - 4]) for k, v in rows])  # truncated vectors
    report = verify(db, store, plan, full=True)
    bad = failed(report)
    assert not report.passed and {"distance", "vectors", "search"} <= set(bad) and "ids" not in bad
    assert bad["distance"] == {"source": f"{DIM}-d cosine", "target": f"{DIM - 4}-d cosine"}
    assert len(bad["vectors"]["mismatched"]) == 50  # every row (the detail lists the first 50)


def test_the_default_sample_catches_damage_spread_over_the_table(
    db: Database, store: VectorStore, copied: SourcePlan
) -> None:
    for key in range(1, ROWS + 1, 10):  # one row in ten
        rewrite(store, key, lambda p: Point(p.id, -p.vector, p.payload))
    bad = failed(verify(db, store, copied, sample=50, seed=7))
    assert "vectors" in bad and bad["vectors"]["compared"] == 50
    assert all(int(k) % 10 == 1 for k in bad["vectors"]["mismatched"])  # only damaged keys are named


def test_damage_beyond_the_first_page_of_keys_is_found(db: Database, db_url: str, tmp_path: Path) -> None:
    """verify reads rows back in pages of 500 keys: damage on the second and third page is named too."""
    make_source(db_url, rows=1200, nulls=0)
    store = QdrantEdgeStore(tmp_path / "edge")
    plan = inspect_source(db.engine, "legacy.question_vectors", target="v2")
    migrate(db, store, plan, batch=500)
    for key in (499, 500, 501, 1000, 1001, 1200):
        rewrite(store, key, lambda p: Point(p.id, -p.vector, {**p.payload, "subject": "Changed"}))
    bad = failed(verify(db, store, plan, full=True))
    damaged = sorted(["499", "500", "501", "1000", "1001", "1200"])
    assert bad["vectors"] == {"compared": 1200, "mismatched": damaged}
    assert bad["payloads"] == {"compared": 1200, "mismatched": damaged}
    store.close()


def test_exact_search_stays_exact_when_pgvector_s_index_is_poor(db: Database, db_url: str, tmp_path: Path) -> None:
    """The ground truth is PostgreSQL's exact search, never its approximate index, even after the query has
    run often enough for the driver to prepare it (a prepared plan kept the index scan once)."""
    make_source(db_url, rows=2000, nulls=0)
    source_sql(db_url, "DROP INDEX legacy.question_vectors_embedding_idx")
    source_sql(
        db_url,
        "CREATE INDEX ON legacy.question_vectors USING hnsw (embedding vector_cosine_ops) "
        "WITH (m = 2, ef_construction = 4)",  # a deliberately poor index
    )
    with db.engine.connect() as c:
        c.exec_driver_sql(f"ALTER DATABASE {c.engine.url.database} SET hnsw.ef_search = 10")
    store = QdrantEdgeStore(tmp_path / "edge")
    plan = inspect_source(db.engine, "legacy.question_vectors", target="v2")
    migrate(db, store, plan)
    report = verify(db, store, plan, queries=40)
    search = next(c.detail for c in report.checks if c.name == "search")
    assert report.passed, report.to_dict()
    assert search["exact_recall_at_10"] == 1.0 and search["queries"] == 40
    assert search["top10_overlap_pgvector"] < 0.9  # what the poor index returns differs: it is not the truth
    store.close()


# cutover and rollback ------------------------------------------------------------------------------


def test_cutover_is_refused_after_a_failed_verify_and_allowed_after_a_passing_one(
    db: Database, store: VectorStore, copied: SourcePlan
) -> None:
    store.delete("v2", [17])
    broken = verify(db, store, copied, full=True)
    record(db, "verify", "v2", broken.to_dict())
    with pytest.raises(CutoverRefused, match=r"latest verify failed \(count, ids\)"):
        cutover(db, store, "questions", "v2")
    assert store.resolve("questions") == "questions"  # no alias was made
    rewrite_from_source(db, store, copied)  # repaired: copy again
    fixed = verify(db, store, copied, full=True)
    assert fixed.passed, fixed.to_dict()
    record(db, "verify", "v2", fixed.to_dict())
    assert cutover(db, store, "questions", "v2") is None
    assert store.resolve("questions") == "v2"


def rewrite_from_source(db: Database, store: VectorStore, plan: SourcePlan) -> None:
    assert migrate(db, store, plan, again=True).copied == ROWS


def test_a_passing_verify_followed_by_a_failing_one_refuses(
    db: Database, store: VectorStore, copied: SourcePlan
) -> None:
    record(db, "verify", "v2", verify(db, store, copied).to_dict())
    rewrite(store, 5, lambda p: Point(p.id, p.vector, {**p.payload, "subject": "Changed"}))
    record(db, "verify", "v2", verify(db, store, copied, full=True).to_dict())
    with pytest.raises(CutoverRefused, match="payloads"):  # the latest verify decides, not any earlier one
        cutover(db, store, "questions", "v2")


def test_a_sampled_verify_opens_the_cutover_only_when_accepted_and_recorded(
    db: Database, store: VectorStore, copied: SourcePlan
) -> None:
    sampled = verify(db, store, copied, sample=20)
    assert sampled.passed and sampled.to_dict()["full"] is False
    record(db, "verify", "v2", sampled.to_dict())
    with pytest.raises(CutoverRefused, match=r"compared a sample of the rows \(20\).*--accept-sampled"):
        cutover(db, store, "questions", "v2")
    assert store.resolve("questions") == "questions"
    assert cutover(db, store, "questions", "v2", accept_sampled=True) is None
    done = last_event(db, "cutover", "v2")
    assert done is not None and done.detail["full"] is False and done.detail["store"] == sampled.store


def test_a_verify_of_another_store_does_not_open_this_one(
    db: Database, store: VectorStore, copied: SourcePlan, tmp_path: Path
) -> None:
    record(db, "verify", "v2", verify(db, store, copied, full=True).to_dict())
    elsewhere = QdrantEdgeStore(tmp_path / "elsewhere")  # a collection of the same name on another store
    try:
        elsewhere.create(CollectionSpec(name="v2", dim=DIM, payload_indexes={}))
        with pytest.raises(CutoverRefused, match=r"ran on .*not on the store this cutover switches"):
            cutover(db, elsewhere, "questions", "v2")
        assert elsewhere.resolve("questions") == "questions"
    finally:
        elsewhere.close()
    assert cutover(db, store, "questions", "v2") is None  # the store that was verified


def test_each_verify_draws_its_own_sample_and_records_the_seed(
    db: Database, store: VectorStore, copied: SourcePlan
) -> None:
    first, second = verify(db, store, copied, sample=10), verify(db, store, copied, sample=10)
    assert first.seed != second.seed
    rewrite(store, 7, lambda p: Point(p.id, -p.vector, p.payload))
    hits = [verify(db, store, copied, sample=30, seed=seed) for seed in range(12)]
    caught = [r.seed for r in hits if not r.passed]
    assert caught and len(caught) < len(hits)  # different seeds look at different rows
    again = verify(db, store, copied, sample=30, seed=caught[0])
    assert not again.passed  # a failing sample can be drawn again from its recorded seed


def _serving(store: VectorStore, tmp: str, seed: int) -> np.ndarray:
    """A collection whose one point identifies it (``seed``), so a search shows which collection answers."""
    vec = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    store.create(CollectionSpec(name=tmp, dim=DIM, payload_indexes={}))
    store.upsert(tmp, [Point(seed, vec, {"collection": tmp})])
    return vec


def test_rollback_after_a_refused_cutover_keeps_the_collection_serving(
    db: Database, store: VectorStore, tmp_path: Path
) -> None:
    for seed, name in enumerate(("v0", "v1", "v2")):
        _serving(store, name, seed)
    record(db, "verify", "v0", {"passed": True})
    record(db, "verify", "v1", {"passed": True})
    cutover(db, store, "questions", "v0")
    assert cutover(db, store, "questions", "v1") == "v0"
    record(db, "verify", "v2", {"passed": False, "checks": [{"name": "ids", "passed": False}]})
    with pytest.raises(CutoverRefused, match=r"failed \(ids\)"):
        cutover(db, store, "questions", "v2")
    failure = last_event(db, "cutover_failed")
    assert failure is not None and failure.detail["serving"] == "v1" and failure.target == "v2"
    env = tmp_path / ".env"
    said = rollback(db, store, "questions", env_file=env)
    assert said == "the last cutover (to v2) failed and changed nothing: alias 'questions' still serves v1"
    assert store.resolve("questions") == "v1" and not env.exists()  # neither v0 nor pgvector
    hit = store.search("questions", np.ones(DIM, np.float32), k=1)[0]
    assert hit.payload["collection"] == "v1"


def test_rollback_after_a_cutover_whose_switch_failed(db: Database, store: VectorStore, tmp_path: Path) -> None:
    _serving(store, "v1", 1)
    _serving(store, "v2", 2)
    record(db, "verify", "v1", {"passed": True})
    record(db, "verify", "v2", {"passed": True})
    cutover(db, store, "questions", "v1")
    store.drop("v2")  # verified, then lost before the switch
    with pytest.raises(CollectionNotFound):
        cutover(db, store, "questions", "v2")
    assert store.resolve("questions") == "v1"
    assert "still serves v1" in rollback(db, store, "questions", env_file=tmp_path / ".env")
    assert store.resolve("questions") == "v1"


def test_rollback_after_a_bad_cutover_serves_the_previous_collection(
    db: Database, store: VectorStore, tmp_path: Path
) -> None:
    v1 = _serving(store, "v1", 1)
    _serving(store, "v2", 2)
    record(db, "verify", "v1", {"passed": True})
    record(db, "verify", "v2", {"passed": True})
    cutover(db, store, "questions", "v1")
    cutover(db, store, "questions", "v2")
    assert store.search("questions", v1, k=1)[0].payload["collection"] == "v2"
    assert rollback(db, store, "questions", env_file=tmp_path / ".env") == "alias 'questions' -> v1"
    assert store.resolve("questions") == "v1"
    assert store.search("questions", v1, k=1)[0].payload["collection"] == "v1"
    assert rollback(db, store, "questions", env_file=tmp_path / ".env") == "alias 'questions' -> v1"  # idempotent


def test_cli_refuses_cutover_after_a_failed_verify(db_url: str, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from jindan.cli.main import app

    make_source(db_url, rows=ROWS, nulls=0)
    env = {"JINDAN_DATABASE__URL": db_url, "JINDAN_HOME": str(tmp_path), "JINDAN_VECTORS__STORE": "qdrant-edge"}
    src = ["--source", "legacy.question_vectors", "--target", "qv2"]
    runner = CliRunner()
    assert runner.invoke(app, ["migrate", "run", *src], env=env).exit_code == 0
    store = QdrantEdgeStore(tmp_path / "qdrant")
    store.delete("qv2", [3, 4])
    store.close()
    verified = runner.invoke(app, ["migrate", "verify", *src, "--json", "--full"], env=env)
    body = json.loads(verified.stdout)
    assert verified.exit_code == 1 and body["passed"] is False
    ids = next(c for c in body["checks"] if c["name"] == "ids")
    assert ids["detail"]["missing"] == [3, 4]
    refused = runner.invoke(app, ["migrate", "cutover", "--target", "qv2"], env=env)
    assert refused.exit_code == 1 and "latest verify failed (count, ids)" in refused.output
    assert runner.invoke(app, ["migrate", "run", *src, "--again"], env=env).exit_code == 0
    assert runner.invoke(app, ["migrate", "verify", *src], env=env).exit_code == 0  # a sample passes
    sampled = runner.invoke(app, ["migrate", "cutover", "--target", "qv2"], env=env)
    assert sampled.exit_code == 1 and "--accept-sampled" in sampled.output
    assert runner.invoke(app, ["migrate", "verify", *src, "--full"], env=env).exit_code == 0
    assert runner.invoke(app, ["migrate", "cutover", "--target", "qv2"], env=env).exit_code == 0
