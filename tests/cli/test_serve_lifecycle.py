"""`jindan serve` and the CLI as real processes on a fresh home: how they stop, and how they start after a kill.

SIGTERM is how systemd, Docker and Kubernetes stop a service; SIGKILL is what comes when it does not stop in
time. Neither may leave the embedded PostgreSQL running, nor need a manual step before the next start.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from tests.conftest import shared_file
from tests.fixtures.processes import alive, free_port, postmasters
from tests.fixtures.sse import events

from jindan.llm.router import SHUTTING_DOWN

pytestmark = pytest.mark.slow

JINDAN = [sys.executable, "-m", "jindan.cli.main"]


@pytest.fixture()
def home() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="jindan-home-", dir="/tmp"))  # as root every parent must be readable
    yield root
    for pid in postmasters(root / "pgdata"):  # never leave a server behind, whatever the test did
        psutil.Process(pid).kill()
    shutil.rmtree(root, ignore_errors=True)


def environment(home: Path, **settings: str) -> dict[str, str]:
    return {**os.environ, "JINDAN_HOME": str(home), "HF_HUB_OFFLINE": "1", **settings}


def cli(home: Path, *args: str) -> None:
    done = subprocess.run([*JINDAN, *args], env=environment(home), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr


def serve(home: Path, port: int, **settings: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = home / f"serve-{port}.log"
    env = environment(home, JINDAN_SERVER__PORT=str(port), JINDAN_SERVER__DEMO_IMPORT="false", **settings)
    with log.open("wb") as out:
        proc = subprocess.Popen([*JINDAN, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 300) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        assert proc.poll() is None, f"serve exited with {proc.returncode}:\n{log.read_text()}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"/ready did not answer 200 within {timeout_s:.0f} s:\n{log.read_text()}")


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def users(pgdata: Path) -> list[int]:
    try:
        return list(json.loads((pgdata / ".handle_pids.json").read_text() or "[]"))
    except (OSError, ValueError):
        return []


def test_sigterm_during_a_streaming_hint(home: Path) -> None:
    pgdata = home / "pgdata"
    bank = home / "questions.jsonl"
    bank.write_text("".join(shared_file("math/problems.jsonl").read_text().splitlines(keepends=True)[:20]))
    cli(home, "import", "questions", str(bank))
    assert postmasters(pgdata) == [], "a CLI command left the embedded PostgreSQL running"

    # SIGTERM while a command has the database open: it closes it on the way out (exit 128 + 15)
    indexing = subprocess.Popen([*JINDAN, "index", "questions"], env=environment(home), stderr=subprocess.DEVNULL)
    end = time.monotonic() + 300
    while indexing.pid not in users(pgdata) and indexing.poll() is None and time.monotonic() < end:
        time.sleep(0.1)
    assert indexing.pid in users(pgdata) and len(postmasters(pgdata)) == 1  # the matcher sees a running server
    indexing.send_signal(signal.SIGTERM)
    assert indexing.wait(timeout=120) == 128 + signal.SIGTERM
    assert postmasters(pgdata) == [], "SIGTERM left the embedded PostgreSQL of a CLI command running"
    cli(home, "index", "questions")

    port = free_port()
    # no grace: the answer still streaming when the signal lands must end with an error event
    proc, log = serve(home, port, JINDAN_SERVER__SHUTDOWN_GRACE_S="0")
    wait_ready(port, proc, log)
    postmaster = postmaster_pid(pgdata)
    assert postmasters(pgdata) == [postmaster]
    # a model answer streaming as it is written (hints are held until checked, and a checked answer that
    # breaks off is replaced by the bank's: the raw chat route is where a cut stream shows)
    ask = {"messages": [{"role": "user", "content": "Explain in three sentences how to add fractions."}]}
    body, signalled = "", False
    with httpx.stream("POST", f"http://127.0.0.1:{port}/llm/chat", json=ask, timeout=300) as r:
        assert r.status_code == 200  # the sources are out; the model may still be reading the prompt
        for text in r.iter_text():  # a stream cut short would raise here (incomplete chunked body)
            body += text
            if "event: delta" in body and not signalled:  # the first token is here: the answer is streaming
                proc.send_signal(signal.SIGTERM)
                signalled = True
    kinds = [kind for kind, _ in events(body)]
    assert "delta" in kinds and "usage" not in kinds, kinds
    error = next(data for kind, data in events(body) if kind == "error")
    assert error["message"] == SHUTTING_DOWN and error["partial"]
    assert proc.wait(timeout=120) == 0, log.read_text()
    assert not alive(postmaster), log.read_text()
    assert postmasters(pgdata) == [] and not (pgdata / "postmaster.pid").exists()


def test_sigkill_then_a_restart_answers_ready(home: Path) -> None:
    pgdata = home / "pgdata"
    port = free_port()
    first, log = serve(home, port)
    wait_ready(port, first, log)
    postmaster = postmaster_pid(pgdata)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert alive(postmaster)  # what a kill leaves: the server, with the dead process still listed as its user

    port = free_port()
    second, log = serve(home, port)
    wait_ready(port, second, log)
    assert "reusing the embedded PostgreSQL" in log.read_text()
    assert postmaster_pid(pgdata) == postmaster
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=120) == 0, log.read_text()
    assert postmasters(pgdata) == [], "the killed process still counted as a user of the server"
