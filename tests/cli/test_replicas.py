"""Three `jindan serve` replicas on loopback against one PostgreSQL, as real processes.

They start at once on an empty database: the schema is upgraded once, the first start's bank imported once
and indexed once (the others show its progress); the replica indexing is killed with SIGKILL and another
takes the job over; a fresh replica replaces it. Then the AI limit holds across the three, a console sign-in
made on one is valid on the others, a revoked key fails on all of them within the stated bound, and the
traffic counts add up to the answers given.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from tests.conftest import shared_file
from tests.fixtures.processes import free_port

pytestmark = pytest.mark.slow

JINDAN = [sys.executable, "-m", "jindan.cli.main"]
BANK = 60
BURST = 4
LEASE_S = 3


@dataclass
class Replica:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    root: Path
    url: str  # the shared PostgreSQL (psycopg form)
    env: dict[str, str]
    replicas: list[Replica] = field(default_factory=list)

    def start(self, name: str) -> Replica:
        port = free_port()
        home = self.root / name
        log = self.root / f"{name}.log"
        env = {**self.env, "JINDAN_HOME": str(home), "JINDAN_SERVER__PORT": str(port)}
        with log.open("wb") as out:
            proc = subprocess.Popen([*JINDAN, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
        replica = Replica(port, proc, log)
        self.replicas.append(replica)
        return replica

    def cli(self, *args: str) -> str:
        env = {**self.env, "JINDAN_HOME": str(self.root / "cli")}
        done = subprocess.run([*JINDAN, *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query).fetchall()  # type: ignore[arg-type]


def wait_ready(r: Replica, timeout_s: float = 300) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        assert r.proc.poll() is None, f"serve exited with {r.proc.returncode}:\n{r.text()}"
        try:
            if httpx.get(f"{r.url}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"/ready did not answer 200 within {timeout_s:.0f} s:\n{r.text()}")


@pytest.fixture()
def cluster(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = Path(tmp_path_factory.mktemp("replicas"))
    name = f"replicas_{os.getpid()}"
    admin = pg_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # empty: the replicas upgrade it
    url = pg_server.get_uri(database=name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    bank = root / "bank.jsonl"
    bank.write_text("".join(shared_file("math/problems.jsonl").read_text().splitlines(keepends=True)[:BANK]))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "JINDAN_DATABASE__URL": make_url(pg_server.get_uri(database=name, driver="psycopg")).render_as_string(
            hide_password=False
        ),
        "JINDAN_DATABASE__AUTO_UPGRADE": "true",
        "JINDAN_VECTORS__STORE": "pgvector",
        "JINDAN_SERVER__DEMO_QUESTIONS": str(bank),
        "JINDAN_EMBED__BATCH_SIZE": "2",  # many small batches: the index can be watched and killed midway
        "JINDAN_AUTH__OPEN": "false",
        "JINDAN_AUTH__JWT_SECRET": "replicas-test-jwt-secret-0123456789abcdef",
        "JINDAN_AUTH__KEY_PEPPER": "replicas-test-key-pepper-0123456789abcdef",
        "JINDAN_AUTH__KEY_CACHE_S": "1",
        "JINDAN_LIMITS__AI_PER_MINUTE": json.dumps({"service": 1, "admin": 1, "student": 1, "teacher": 1}),
        "JINDAN_LIMITS__AI_BURST": str(BURST),
        "JINDAN_JOBS__LEASE_S": str(LEASE_S),
        "JINDAN_JOBS__POLL_S": "0.3",
        "JINDAN_LLAMACPP__N_CTX": "512",
    }
    c = Cluster(root, url, env)
    yield c
    for r in c.replicas:
        if r.proc.poll() is None:
            r.proc.kill()
            r.proc.wait()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def index_job(c: Cluster) -> tuple[str, int, int | None, str | None] | None:
    rows = c.sql("SELECT state, done, total, holder FROM jobs WHERE name = 'index:questions'")
    return rows[0] if rows else None  # type: ignore[return-value]


def test_three_replicas_share_one_postgresql(cluster: Cluster) -> None:
    c = cluster
    replicas = [c.start(f"r{i}") for i in range(3)]  # at once, on an empty database
    for r in replicas:
        wait_ready(r)
    logs = lambda: [r.text() for r in c.replicas]  # noqa: E731
    assert sum(t.count("upgrading the schema from empty") for t in logs()) == 1, logs()
    assert c.sql("SELECT count(*) FROM alembic_version") == [(1,)]
    end = time.monotonic() + 120  # the bank is imported in the background, once the services answer
    while c.sql("SELECT state FROM jobs WHERE name = 'demo-import'") != [("done",)] and time.monotonic() < end:
        time.sleep(0.2)
    assert sum(t.count("importing the demo bank") for t in logs()) == 1, logs()
    assert c.sql("SELECT count(*) FROM questions") == [(BANK,)]

    # the index runs on one replica; the others show its progress; its holder is killed midway
    end, holder, seen = time.monotonic() + 300, None, set()
    while time.monotonic() < end:
        job = index_job(c)
        if job is not None and job[0] == "running" and job[1] >= 6:
            holder = int(str(job[3]).rsplit(":", 1)[1])
            for r in replicas:
                if r.proc.pid != holder:
                    index = httpx.get(f"{r.url}/ready", timeout=10).json()["index"]
                    if re.search(r"building \(embedding: \d+ / 60, ", index):
                        seen.add(r.port)
            if len(seen) == 2:
                break
        time.sleep(0.1)
    assert holder is not None and len(seen) == 2, (index_job(c), logs())
    killed = next(r for r in replicas if r.proc.pid == holder)
    killed.proc.send_signal(signal.SIGKILL)
    killed.proc.wait()
    survivors = [r for r in replicas if r is not killed]

    end = time.monotonic() + 300
    while (job := index_job(c)) is not None and job[0] == "running" and time.monotonic() < end:
        time.sleep(0.3)
    rows = c.sql("SELECT state, takeovers, holder, detail FROM jobs WHERE name = 'index:questions'")
    state, takeovers, new_holder, detail = rows[0]
    assert state == "done" and takeovers == 1 and new_holder != holder, rows
    indexed, unchanged = map(int, re.search(r"(\d+) indexed .*, (\d+) unchanged", detail).groups())  # type: ignore[union-attr]
    assert unchanged > 0 and indexed + unchanged == BANK  # the new holder went on where the killed one stopped
    table = c.sql("SELECT collection FROM vector_aliases WHERE alias = 'questions'")[0][0]
    assert c.sql(f'SELECT count(*) FROM "vec_{table}"') == [(BANK,)]  # every passage indexed, none twice
    assert c.sql("SELECT count(*) FROM embedding_cache") == [(BANK,)]

    replicas = [*survivors, c.start("r3")]  # the orchestrator replaces the killed replica
    wait_ready(replicas[-1])
    for r in replicas:
        assert httpx.get(f"{r.url}/ready", timeout=10).json()["index"] == "ready"

    key = c.cli("auth", "key", "create", "--name", "platform-backend", "--role", "service").strip().splitlines()[-1]
    bearer = {"Authorization": f"Bearer {key}"}

    # the AI limit holds across the replicas: a burst of BURST for the key, not BURST per replica
    started, codes = time.monotonic(), []
    for i in range(3 * BURST):
        r = replicas[i % 3]
        body = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 1}
        codes.append(httpx.post(f"{r.url}/v1/chat/completions", json=body, headers=bearer, timeout=120).status_code)
    refill = (time.monotonic() - started) / 60  # 1 per minute
    admitted = codes.count(200)
    assert set(codes) <= {200, 429} and BURST <= admitted <= BURST + refill + 1, codes

    # a console sign-in made on one replica is valid on every replica
    signin = httpx.post(f"{replicas[0].url}/console/signin", data={"credential": key}, follow_redirects=False)
    assert signin.status_code == 303
    cookies = dict(signin.cookies)
    for r in replicas:
        assert httpx.get(f"{r.url}/console/ops", cookies=cookies, follow_redirects=False).status_code == 200
        assert httpx.get(f"{r.url}/questions?limit=1", headers=bearer).status_code == 200  # the key, cached

    # a revoked key fails on every replica within auth.key_cache_s (1 s here)
    c.cli("auth", "key", "revoke", "platform-backend")
    time.sleep(1.5)
    for r in replicas:
        assert httpx.get(f"{r.url}/questions?limit=1", headers=bearer).status_code == 401
        assert httpx.get(f"{r.url}/console/ops", cookies=cookies, follow_redirects=False).status_code != 200

    # traffic counts add up: every answer counted once, by the replica that gave it (flushed on SIGTERM)
    for r in replicas:
        r.proc.send_signal(signal.SIGTERM)
    for r in replicas:
        assert r.proc.wait(timeout=120) == 0, r.text()
    assert c.sql("SELECT coalesce(sum(requests), 0) FROM llm_traffic WHERE route = 'chat'") == [(admitted,)]
