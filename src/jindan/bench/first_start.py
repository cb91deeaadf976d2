"""`jindan bench first-start`: what a newcomer waits for on a fresh home's first `jindan serve`.

A real process on an empty home (embedded profile: its own PostgreSQL; the first start imports the bank and
indexes it in the background). Seconds from the process start to the service answering, then from the service
answering to: the first progress count on `/ready`, similar-question search answering (`POST /similar`
returns results), and the whole index done. The machine's load average is reported beside them: on shared
cores the numbers move with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from jindan.bench.shutdown import JINDAN, fresh_home

QUERY = "Find the number of real solutions of $x^2 - 5x + 6 = 0$."


def _get(url: str) -> Any:
    try:
        r = httpx.get(url, timeout=10)
        return r.json() if r.status_code in (200, 503) else None
    except (httpx.HTTPError, ValueError):
        return None


def _answers(port: int) -> int:
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/similar", json={"text": QUERY, "k": 5}, timeout=60)
    except httpx.HTTPError:
        return 0
    return len(r.json().get("results") or []) if r.status_code == 200 else 0


def run(
    bank: Path,
    *,
    questions: int | None = None,
    until: str = "search",
    home: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 3600,
) -> dict[str, Any]:
    """Start on an empty home, watch until search answers (``until="search"``) or the index is whole
    (``"full"``), then SIGTERM."""
    root, lines, port, environ = fresh_home(bank, questions, home, env, "jindan-first-")
    base = f"http://127.0.0.1:{port}"
    marks: dict[str, float] = {}
    load_start = os.getloadavg()[0]
    log = root / "serve.log"
    try:
        with log.open("wb") as sink:
            proc = subprocess.Popen([*JINDAN, "serve"], env=environ, stdout=sink, stderr=subprocess.STDOUT)
        started = time.monotonic()
        while time.monotonic() - started < timeout_s and proc.poll() is None:
            now = time.monotonic() - started
            if "answer" not in marks:
                if _get(f"{base}/health") is not None:
                    marks["answer"] = now
                time.sleep(0.1)
                continue
            ready = _get(f"{base}/ready") or {}
            index = str(ready.get("index") or "")
            if "progress" not in marks and ready.get("index_progress"):
                marks["progress"] = now
            if "search" not in marks and index.startswith("ready") and _answers(port):
                marks["search"] = now  # readiness said so and a search returned results
            if "search" in marks and (until == "search" or index == "ready"):
                marks["full"] = now if index == "ready" else marks.get("full", -1.0)
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        answer = marks.get("answer")

        def after(mark: str) -> float | None:
            at = marks.get(mark)
            return None if at is None or at < 0 or answer is None else round(at - answer, 1)

        return {
            "questions": len(lines),
            "until": until,
            "service_answers_s": None if answer is None else round(answer, 1),
            "first_progress_after_answer_s": after("progress"),
            "search_answers_after_answer_s": after("search"),
            "index_whole_after_answer_s": after("full"),
            "load_average_1min": [round(load_start, 1), round(os.getloadavg()[0], 1)],
            "log": log.read_text(errors="replace")[-3000:],
        }
    finally:
        if home is None:
            shutil.rmtree(root, ignore_errors=True)
