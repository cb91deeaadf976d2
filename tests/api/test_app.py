from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.fixtures.auth import School

from jindan.api.app import create_app
from jindan.db.engine import Database
from jindan.settings import Settings


def _bank(tmp_path: Path) -> Path:
    path = tmp_path / "demo.jsonl"
    rows = [{"id": f"d{i}", "problem": f"p{i}", "subject": "Algebra" if i % 2 else "Geometry"} for i in range(7)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def client(settings: Settings, db: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings.server.demo_questions = _bank(tmp_path)
    settings.server.demo_index = False
    app = create_app(settings, db)
    with TestClient(app) as c:
        app.state.index_thread.join(60)  # the first start imports in the background, after the service answers
        yield c


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert "/ready" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_first_start_imports_the_demo_bank_once(client: TestClient, settings: Settings, db: Database) -> None:
    page = client.get("/questions", params={"limit": 3}).json()
    assert page["total"] == 7 and len(page["items"]) == 3
    restarted = create_app(settings, db)
    with TestClient(restarted) as again:  # a restart does not import twice, nor start a thread for nothing
        assert restarted.state.index_thread is None
        assert again.get("/questions").json()["total"] == 7
    geo = client.get("/questions", params={"subject": "Geometry"}).json()
    assert geo["total"] == 4 and {q["subject"] for q in geo["items"]} == {"Geometry"}
    one = client.get(f"/questions/{page['items'][0]['id']}").json()
    assert one["concepts"] == [one["subject"]]
    assert client.get("/questions/999999").status_code == 404
    assert client.get("/questions", params={"limit": 0}).status_code == 422


def test_ready_names_the_component_that_is_down(settings: Settings, db: Database) -> None:
    settings.llm.provider = "ollama"
    settings.ollama.hosts = ["http://127.0.0.1:9"]  # nothing listens on the discard port
    settings.server.demo_import = False
    with TestClient(create_app(settings, db)) as c:
        r = c.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["ready"] is False
    by_name = {x["component"]: x for x in body["components"]}
    assert by_name["database"]["ok"] is True
    assert by_name["llm:ollama"]["ok"] is False and "unreachable" in by_name["llm:ollama"]["detail"]


def test_ready_reports_missing_schema(settings: Settings, db: Database) -> None:
    from jindan.db import migrations

    settings.server.demo_import = False
    with TestClient(create_app(settings, db)) as c:
        migrations.downgrade(db.engine, "base")
        body = c.get("/ready").json()
    assert "jindan db upgrade" in next(x for x in body["components"] if x["component"] == "database")["detail"]


def test_credentials_required_when_not_open(settings: Settings, db: Database, school: School) -> None:
    with TestClient(create_app(settings, db)) as c:
        assert c.get("/questions").status_code == 401
        assert c.get("/questions").headers["www-authenticate"] == "Bearer"
        for bad in ("Bearer nope", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer jdn_000000000000_" + "x" * 43):
            assert c.get("/questions", headers={"Authorization": bad}).status_code == 401, bad
        assert c.get("/questions", headers=school.headers["student"]).status_code == 200
        assert c.get("/questions", headers=school.headers["service"]).status_code == 200
        assert c.get("/health").status_code == 200  # liveness stays open for orchestrators


def test_non_embedded_profile_refuses_to_start_without_secrets(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="JINDAN_AUTH__KEY_PEPPER"):
        create_app(Settings(profile="local", home=tmp_path, database={"url": db_url}))  # type: ignore[arg-type]


def test_embedded_profile_refuses_an_open_api_off_loopback(settings: Settings) -> None:
    settings.server.host = "0.0.0.0"
    with pytest.raises(RuntimeError, match="only on loopback"):
        create_app(settings)


def test_shutdown_waits_for_the_background_index_to_stop(settings: Settings, db: Database, tmp_path: Path) -> None:
    """The first start's background index never runs on into closed stores: shutdown stops it and waits."""
    settings.server.demo_questions = _bank(tmp_path)
    settings.server.demo_index = True
    app = create_app(settings, db)
    with TestClient(app):
        thread = app.state.index_thread
        assert thread is not None and thread.is_alive()  # still loading the embedder or embedding
    assert app.state.index_stop.is_set() and not thread.is_alive()
