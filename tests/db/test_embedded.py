"""The embedded PostgreSQL's lifecycle across processes: the last user stops it, and what a killed process
left behind (its id in the user list, a server nobody uses, a stale postmaster.pid) never needs a manual step."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from jindan.db.embedded import start_embedded
from tests.fixtures.processes import alive, postmasters

pytestmark = pytest.mark.slow

HOLD = """
import sys
from pathlib import Path
from jindan.db.embedded import start_embedded
from tests.fixtures.processes import alive, postmasters
url, handle = start_embedded(Path(sys.argv[1]), "jindan")
print(handle.pid, flush=True)
sys.stdin.read()
handle.release()
"""


@pytest.fixture()
def pgdata() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="jindan-embedded-", dir="/tmp"))  # as root every parent must be readable
    yield root / "pgdata"
    for pid in postmasters(root / "pgdata"):  # never leave a server behind, whatever the test did
        psutil.Process(pid).kill()
    shutil.rmtree(root, ignore_errors=True)


def holder(pgdata: Path) -> tuple[subprocess.Popen[str], int]:
    """Another process using the server; returns it and the postmaster's pid."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(pgdata)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def answers(url: str) -> bool:
    with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def test_the_last_user_stops_the_server(pgdata: Path) -> None:
    _, mine = start_embedded(pgdata, "jindan")
    other, postmaster = holder(pgdata)
    assert postmaster == mine.pid
    mine.release()
    assert alive(postmaster), "stopped while another process still used it"
    other.communicate("", timeout=60)
    assert other.returncode == 0
    assert not alive(postmaster)
    assert not (pgdata / "postmaster.pid").exists()
    mine.release()  # idempotent


def test_one_process_with_two_databases_keeps_it_until_both_close(pgdata: Path) -> None:
    url, first = start_embedded(pgdata, "jindan")
    _, second = start_embedded(pgdata, "other")
    assert first is second
    postmaster = first.pid
    assert postmaster is not None
    first.release()
    assert answers(url)
    second.release()
    assert not alive(postmaster)


def test_a_server_left_by_a_killed_process_is_reused_then_stopped(
    pgdata: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other, postmaster = holder(pgdata)
    other.send_signal(signal.SIGKILL)
    other.wait()
    assert alive(postmaster)  # what SIGKILL leaves: the server, and the dead process in its user list
    caplog.set_level(logging.INFO, "jindan.db.embedded")
    url, handle = start_embedded(pgdata, "jindan")
    assert handle.pid == postmaster
    assert "reusing the embedded PostgreSQL" in caplog.text
    assert answers(url)
    handle.release()
    assert not alive(postmaster), "the dead process still counted as a user"


def test_a_server_that_does_not_answer_is_replaced(pgdata: Path, caplog: pytest.LogCaptureFixture) -> None:
    other, postmaster = holder(pgdata)
    other.send_signal(signal.SIGKILL)
    other.wait()
    os.kill(postmaster, signal.SIGSTOP)  # hung: accepts no connection
    caplog.set_level(logging.INFO, "jindan.db.embedded")
    url, handle = start_embedded(pgdata, "jindan")
    assert "replacing the embedded PostgreSQL" in caplog.text
    assert handle.pid != postmaster and not alive(postmaster)
    assert answers(url)
    handle.release()
    assert postmasters(pgdata) == []


def test_a_stale_pid_file_naming_another_program_is_removed(pgdata: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, handle = start_embedded(pgdata, "jindan")
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    handle.release()
    with subprocess.Popen(["sleep", "60"]) as stranger:  # the old server's id, now another program's
        (pgdata / "postmaster.pid").write_text("\n".join([str(stranger.pid), *lines[1:]]) + "\n")
        caplog.set_level(logging.INFO, "jindan.db.embedded")
        url, handle = start_embedded(pgdata, "jindan")
        stranger.kill()
    assert "not stopped cleanly" in caplog.text
    assert answers(url)
    handle.release()
    assert postmasters(pgdata) == []
