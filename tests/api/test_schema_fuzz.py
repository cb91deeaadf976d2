"""schemathesis over the whole OpenAPI schema, authenticated, against a ready stack: 0 server errors and 0
responses that break the schema. Bounded in examples per operation; the stack is real (PostgreSQL, the default
embedder, embedded Qdrant, a fitted diagnosis model) except the LLM, which is scripted for speed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy.engine import make_url
from tests.fixtures.auth import secured
from tests.llm.fakes import Scripted

from jindan.api.app import create_app
from jindan.db.engine import Database
from jindan.db.repositories import ResponseRepository, UserRepository
from jindan.diagnosis.service import fit_and_store
from jindan.embed.registry import build_embedder
from jindan.importers.questions import import_questions
from jindan.llm.router import Router
from jindan.rag.index import Indexer
from jindan.rag.stack import SearchStack
from jindan.security.identities import issue
from jindan.security.secrets import resolve
from jindan.settings import Settings
from jindan.vectors.qdrant_edge import QdrantEdgeStore

BANK = Path(__file__).resolve().parents[2] / "src" / "jindan" / "data" / "ko" / "questions.jsonl"
EXAMPLES = int(os.environ.get("JINDAN_FUZZ_EXAMPLES", "20"))


@pytest.fixture(scope="module")
def ready_app(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    name = "t_fuzz"
    admin = pg_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "jindan_template"')
    url = make_url(pg_server.get_uri(database=name, driver="psycopg")).render_as_string(hide_password=False)
    home = tmp_path_factory.mktemp("fuzz")
    s = secured(Settings(home=home, database={"url": url}))  # type: ignore[arg-type]
    s.llm.max_tokens = 16
    s.limits.ai_per_minute = dict.fromkeys(("student", "teacher", "admin", "service"), 100_000)
    s.limits.ai_burst = 100_000
    db = Database(s)
    assert import_questions(db, BANK).counts.inserted > 100
    with db.session() as ses:
        student = UserRepository(ses).sync("fuzz-student", "student", None)
        qids = [q for q in range(1, 40)]
        ResponseRepository(ses).record(student, None, [{"question_id": q, "correct": q % 3 > 0} for q in qids])
    fit_and_store(db)
    store, embedder = QdrantEdgeStore(home / "qdrant"), build_embedder(s)
    Indexer(db, store, embedder).run()
    router = Router(s, {"llamacpp": Scripted("llamacpp", text="힌트 [1] 를 보세요")})
    app = create_app(s, db, router, SearchStack(s, db, router, store=store, embedder=embedder))
    token = issue(s, resolve(s), "fuzz-admin", "admin", 3600)
    with TestClient(app):  # lifespan up for the whole module
        yield app, token
    store.close()
    db.close()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_server_errors_and_no_schema_violations(ready_app: tuple[FastAPI, str], mode: str) -> None:
    """Every operation, valid inputs and invalid ones: never a 5xx, never a response outside the schema."""
    app, token = ready_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers)

        try:
            run()
            operations += 1  # counted only when examples ran
        except Unsatisfiable:
            assert mode == "negative", operation.path  # nothing to make invalid (no parameters, no body)
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's first failure, then fail once
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:800]}")
    assert operations >= 10
    assert not failures, "\n\n".join(failures)
