"""`jindan bench shutdown`: how long `jindan serve` takes to exit on SIGTERM while it prepares its bank.

A real process on a fresh home (embedded profile: its own PostgreSQL, the first start's background import and
index of a bank of ``questions``): once the step chosen by ``during`` (``index``: passages embedded, ``import``:
rows imported) has done ``after``, SIGTERM; the time to exit is what an orchestrator's grace period must cover
(Kubernetes' default is 30 s; the goal is under 10 s). Then that step's job as the next start sees it:
stopped, its lease released, what was done kept.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

JINDAN = [sys.executable, "-m", "jindan.cli.main"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _progress(port: int) -> dict[str, Any] | None:
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None
    found: dict[str, Any] | None = body.get("index_progress")
    return found


def fresh_home(
    bank: Path, questions: int | None, home: Path | None, env: dict[str, str] | None, prefix: str
) -> tuple[Path, list[str], int, dict[str, str]]:
    """An empty home for a first `jindan serve` of the first ``questions`` of ``bank``: (folder, the bank's lines,
    a free port, the process environment)."""
    root = home or Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))  # readable parents (as root)
    root.mkdir(parents=True, exist_ok=True)
    lines = bank.read_text().splitlines(keepends=True)[:questions]
    (root / "bank.jsonl").write_text("".join(lines))
    port = _port()
    environ = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "JINDAN_HOME": str(root / "home"),
        "JINDAN_SERVER__PORT": str(port),
        "JINDAN_SERVER__DEMO_QUESTIONS": str(root / "bank.jsonl"),
        **(env or {}),
    }
    return root, lines, port, environ


def _is(during: str, name: str, import_job: str) -> bool:
    return name.startswith("index:") if during == "index" else name == import_job


def run(
    bank: Path,
    *,
    questions: int = 400,
    after: int = 16,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    start_timeout_s: float = 600,
    exit_timeout_s: float = 120,
    during: str = "index",
) -> dict[str, Any]:
    """Start, wait until ``after`` passages are indexed (or rows imported), SIGTERM, time the exit; the job as
    left behind."""
    from jindan.demo import IMPORTING
    from jindan.jobs.index import IMPORT_JOB

    if during not in ("index", "import"):
        raise ValueError("during is index or import")
    phase = "embedding" if during == "index" else IMPORTING
    root, lines, port, environ = fresh_home(bank, questions, home, env, "jindan-shutdown-")
    log = root / "serve.log"
    try:
        with log.open("wb") as sink:
            proc = subprocess.Popen([*JINDAN, "serve"], env=environ, stdout=sink, stderr=subprocess.STDOUT)
        started = time.monotonic()
        seen: dict[str, Any] | None = None
        while time.monotonic() - started < start_timeout_s:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited with {proc.returncode} before indexing:\n{log.read_text()}")
            seen = _progress(port)
            if seen is not None and str(seen.get("phase")).startswith(phase) and seen["done"] >= after:
                break
            time.sleep(0.2)
        else:
            proc.kill()
            raise RuntimeError(f"{phase} did not reach {after} in {start_timeout_s:.0f} s")
        indexing_s = time.monotonic() - started
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=exit_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        exit_s = time.monotonic() - signalled
        pgdata = root / "home" / "pgdata"
        pg_stopped = not (pgdata / "postmaster.pid").exists()  # before `index status` starts it again
        status = subprocess.run(
            [*JINDAN, "index", "status", "--json"], env=environ, capture_output=True, text=True, timeout=300
        )
        jobs = json.loads(status.stdout)["jobs"] if status.returncode == 0 else []
        job = next((j for j in jobs if _is(during, str(j["name"]), IMPORT_JOB)), None)
        return {
            "during": during,
            "questions": len(lines),
            "done_when_signalled": seen["done"] if seen else None,
            "seconds_to_signal": round(indexing_s, 1),
            "sigterm_to_exit_s": round(exit_s, 2),
            "exit_code": code,
            "postgres_stopped": pg_stopped,
            "job": None if job is None else {k: job[k] for k in ("state", "done", "total", "detail")},
            "log": log.read_text(errors="replace")[-4000:],
        }
    finally:
        if home is None:
            shutil.rmtree(root, ignore_errors=True)
