"""`jindan bench api`: the service as clients meet it, on loopback, under a bounded load.

Starts `jindan serve` on a free loopback port with the configured stack, waits until similar-question search
answers, then drives similar-question search with wrk (a C load generator on one thread, which leaves the cores
to the server) or, without wrk, an asyncio client; then a bounded number of streamed hints. Prints
``{"similar": {rps, p50_ms, p99_ms, errors, ...}, "hint": {...}}``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from jindan.settings import Settings

Progress = Callable[[str], None]
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


class BenchError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _headers(settings: Settings) -> dict[str, str]:
    """Credentials for the bench: none while the embedded profile serves loopback openly, else an admin JWT."""
    from jindan.security.authenticate import serves_open
    from jindan.security.identities import issue
    from jindan.security.secrets import resolve

    local = settings.model_copy(update={"server": settings.server.model_copy(update={"host": "127.0.0.1"})})
    if serves_open(local):
        return {}
    return {"Authorization": f"Bearer {issue(settings, resolve(settings), 'jindan-bench', 'admin', 3600)}"}


def _start(port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "JINDAN_SERVER__HOST": "127.0.0.1", "JINDAN_SERVER__PORT": str(port)}
    cmd = [sys.executable, "-m", "jindan.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def _wait_ready(base: str, headers: dict[str, str], proc: subprocess.Popen[bytes], timeout_s: float) -> list[int]:
    """Question ids that similar-question search answers for, once the service and its index are up."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"jindan serve exited with {proc.returncode} during start-up")
        try:
            page = httpx.get(f"{base}/questions", params={"limit": 200}, headers=headers, timeout=5)
            if page.status_code == 200 and page.json()["items"]:
                ids = [q["id"] for q in page.json()["items"]]
                probe = httpx.get(f"{base}/questions/{ids[0]}/similar", headers=headers, timeout=30)
                if probe.status_code == 200:
                    return ids
                last = f"similar-question search: {probe.status_code} {probe.text[:200]}"
            else:
                last = f"/questions: {page.status_code} {page.text[:200]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(1.0)
    raise BenchError(f"the service was not ready in {timeout_s:.0f} s ({last}); run `jindan index questions` first")


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)$", value)
    if m is None:
        raise BenchError(f"cannot read wrk latency {value!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def _wrk(base: str, ids: list[int], headers: dict[str, str], seconds: int, connections: int) -> dict[str, Any]:
    header_lines = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    script = (
        header_lines + "local ids = {" + ",".join(map(str, ids)) + "}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        '  return wrk.format("GET", "/questions/" .. ids[(i % #ids) + 1] .. "/similar?k=10")\nend\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", fh.name, base]
        text = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(fh.name)
    pct = {int(p): _ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)$", text, re.MULTILINE)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if rps is None or total is None or 50 not in pct:
        raise BenchError(f"unexpected wrk output:\n{text}")
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {
        "rps": round(float(rps.group(1)), 1),
        "p50_ms": round(pct[50], 2),
        "p99_ms": round(pct[99], 2),
        "errors": errors,
        "requests": int(total.group(1)),
        "load": f"wrk -t1 -c{connections} -d{seconds}s",
    }


async def _python_load(
    base: str, ids: list[int], headers: dict[str, str], seconds: int, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def worker(n: int, client: httpx.AsyncClient) -> None:
        nonlocal errors
        i = n
        while time.monotonic() < stop:
            i += connections
            t = time.perf_counter()
            try:
                r = await client.get(f"/questions/{ids[i % len(ids)]}/similar", params={"k": 10})
                errors += r.status_code != 200
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - t) * 1000)

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(n, client) for n in range(connections)))
        elapsed = time.perf_counter() - start
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "errors": errors,
        "requests": len(latencies),
        "load": f"python asyncio client, {connections} connections, {seconds} s (install wrk for a lighter client)",
    }


async def _hints(base: str, ids: list[int], headers: dict[str, str], count: int, concurrency: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    totals: list[float] = []
    firsts: list[float] = []
    errors = 0

    async def one(n: int, client: httpx.AsyncClient) -> None:
        nonlocal errors
        async with gate:
            t = time.perf_counter()
            first = None
            ok = False
            try:
                body = {"student_answer": f"{n + 2}"}
                async with client.stream("POST", f"/questions/{ids[n % len(ids)]}/hint", json=body) as r:
                    if r.status_code != 200:
                        errors += 1
                        return
                    async for line in r.aiter_lines():
                        if line.startswith("event: delta") and first is None:
                            first = time.perf_counter()
                        if line.startswith("event: error"):
                            break
                        if line.startswith("event: usage"):
                            ok = True
            except httpx.HTTPError:
                ok = False
            if not ok:
                errors += 1
                return
            totals.append((time.perf_counter() - t) * 1000)
            firsts.append(((first or time.perf_counter()) - t) * 1000)

    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=300) as client:
        start = time.perf_counter()
        await asyncio.gather(*(one(n, client) for n in range(count)))
        elapsed = time.perf_counter() - start

    def pct(xs: list[float], q: float) -> float | None:
        return round(float(np.percentile(xs, q)), 1) if xs else None

    return {
        "rps": round(len(totals) / elapsed, 2),
        "p50_ms": pct(totals, 50),
        "p99_ms": pct(totals, 99),
        "ttft_p50_ms": pct(firsts, 50),
        "errors": errors,
        "requests": count,
        "load": f"{count} streamed hints, {concurrency} at a time",
    }


def run(
    settings: Settings,
    *,
    seconds: int = 10,
    connections: int = 8,
    hints: int = 8,
    hint_concurrency: int = 2,
    ready_timeout_s: float = 600.0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    say = progress or (lambda _: None)
    headers = _headers(settings)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkstemp(prefix="jindan-bench-api-", suffix=".log")[1])
    say(f"starting jindan serve on {base}")
    proc = _start(port, log)
    try:
        ids = _wait_ready(base, headers, proc, ready_timeout_s)
        say(f"similar-question search: {seconds} s, {connections} connections")
        if shutil.which("wrk"):
            similar = _wrk(base, ids, headers, seconds, connections)
        else:
            similar = asyncio.run(_python_load(base, ids, headers, seconds, connections))
        say(f"hints: {hints}, {hint_concurrency} at a time")
        hint = asyncio.run(_hints(base, ids, headers, hints, hint_concurrency))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    log.unlink(missing_ok=True)
    return {
        "similar": similar,
        "hint": hint,
        "profile": settings.profile,
        "embedder": settings.embed.provider,
        "vectors": settings.vectors.store,
        "cpus": os.cpu_count(),
    }
