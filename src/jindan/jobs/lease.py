"""Leases on named jobs in PostgreSQL (``jobs`` table): one holder at a time, progress every replica reads.

A claim is one atomic statement: it succeeds when the job is not running, or when its holder's lease ran out
(the holder died or hung: the job is taken over). The holder renews the lease with every progress report and
from a heartbeat thread; a report that finds its token gone (someone took over) raises ``LeaseLost`` so the
old holder stops. Plain statements only (no session locks, no prepared state), so it works through
PgBouncer's transaction pooling.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import text

from jindan.db.engine import Database, process_name

log = logging.getLogger(__name__)

CLAIM = text(
    """
    INSERT INTO jobs AS j (name, state, holder, token, lease_until, phase, done, total, rate_done, rate_at,
                           takeovers, detail, started_at, updated_at, finished_at)
    VALUES (:name, 'running', :holder, :token, now() + make_interval(secs => :lease), :phase, 0, NULL, 0, now(),
            0, NULL, now(), now(), NULL)
    ON CONFLICT (name) DO UPDATE SET
        state = 'running', holder = :holder, token = :token, lease_until = excluded.lease_until, phase = :phase,
        takeovers = j.takeovers + CASE WHEN j.state = 'running' THEN 1 ELSE 0 END,
        detail = CASE WHEN j.state = 'running' THEN 'taken over from ' || coalesce(j.holder, '?') END,
        done = 0, rate_done = 0, rate_at = now(), started_at = now(), updated_at = now(), finished_at = NULL
    WHERE j.state <> 'running' OR j.lease_until < now()
    RETURNING j.detail
    """
)
REPORT = text(
    """
    UPDATE jobs SET done = :done, total = :total, phase = :phase, updated_at = now(),
        lease_until = now() + make_interval(secs => :lease),
        rate_done = CASE WHEN :reset THEN :done ELSE rate_done END,
        rate_at = CASE WHEN :reset THEN now() ELSE rate_at END
    WHERE name = :name AND token = :token
    RETURNING 1
    """
)
RENEW = text(
    "UPDATE jobs SET lease_until = now() + make_interval(secs => :lease) WHERE name = :name AND token = :token "
    "RETURNING 1"
)
FINISH = text(
    "UPDATE jobs SET state = :state, token = NULL, lease_until = NULL, detail = :detail, finished_at = now(), "
    "updated_at = now() WHERE name = :name AND token = :token"
)
READ = "SELECT *, now() AS db_now FROM jobs"


class LeaseLost(RuntimeError):
    """Another process took the job over (this one was too slow to renew its lease): stop writing."""


class JobHeld(RuntimeError):
    """The job runs elsewhere and the caller chose not to wait."""

    def __init__(self, status: JobStatus) -> None:
        super().__init__(f"{status.name} is running on {status.holder}: {status.line()}")
        self.status = status


@dataclass(frozen=True)
class JobStatus:
    name: str
    state: str  # running | done | failed | stopped
    holder: str | None
    phase: str
    done: int
    total: int | None
    takeovers: int
    detail: str | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    lease_left_s: float | None  # seconds until the holder's lease runs out (running jobs)
    rate_per_s: float | None  # progress per second in the current phase
    eta_s: float | None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def orphaned(self) -> bool:
        """Running, but its holder stopped renewing: the next claim takes it over."""
        return self.running and (self.lease_left_s or 0.0) <= 0

    def line(self) -> str:
        """'3,776 / 5,000, about 4 min left' (or the state of a job that is not running)."""
        count = f"{self.done:,} / {self.total:,}" if self.total is not None else f"{self.done:,}"
        if not self.running:
            return f"{self.state}: {count}" + (f" ({self.detail})" if self.detail else "")
        if self.orphaned:
            return f"{count}, stalled (its holder {self.holder} stopped; the next replica takes it over)"
        left = "estimating the time left" if self.eta_s is None else f"about {_duration(self.eta_s)} left"
        phase = f" {self.phase}:" if self.phase else ""
        return f"{phase} {count}, {left}".strip()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "holder": self.holder,
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "rate_per_s": None if self.rate_per_s is None else round(self.rate_per_s, 2),
            "takeovers": self.takeovers,
            "detail": self.detail,
            "started_at": self.started_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "line": self.line(),
        }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _status(row: Any) -> JobStatus:
    now: datetime = row.db_now
    rate = eta = None
    if row.rate_at is not None and row.done > row.rate_done:
        elapsed = (now - row.rate_at).total_seconds()
        if elapsed > 0:
            rate = (row.done - row.rate_done) / elapsed
            if row.total is not None:
                eta = max(0.0, (row.total - row.done) / rate)
    left = (row.lease_until - now).total_seconds() if row.lease_until is not None else None
    return JobStatus(
        row.name, row.state, row.holder, row.phase, row.done, row.total, row.takeovers, row.detail,
        row.started_at, row.updated_at, row.finished_at, left, rate, eta,
    )  # fmt: skip


class Lease:
    """A claimed job. ``report`` progress (it renews the lease); the holder's ``hold`` block finishes it."""

    def __init__(self, jobs: Jobs, name: str, token: str, phase: str, took_over: str | None) -> None:
        self.jobs, self.name, self.token, self.phase = jobs, name, token, phase
        self.took_over = took_over  # "taken over from host:pid" when the previous holder died
        self.done, self.total = 0, cast(int | None, None)
        self.outcome = "done"  # what the job ends as; the holder may say "stopped"
        self.detail: str | None = None
        self.lost = False
        self._lock = threading.Lock()

    def report(self, done: int, total: int | None = None, phase: str | None = None) -> None:
        """Store progress (``done`` of ``total`` in ``phase``); raises LeaseLost when another process took over."""
        with self._lock:
            reset = phase is not None and phase != self.phase
            self.phase = phase if phase is not None else self.phase
            self.done, self.total = done, total if total is not None else self.total
            params = {"done": done, "total": self.total, "phase": self.phase, "reset": reset}
            self._write(REPORT, params)

    def renew(self) -> None:
        with self._lock:
            self._write(RENEW, {})

    def _write(self, statement: Any, params: dict[str, Any]) -> None:
        if self.lost:
            raise LeaseLost(f"{self.name} was taken over by another process")
        with self.jobs.db.engine.begin() as conn:
            ok = conn.execute(
                statement, {"name": self.name, "token": self.token, "lease": self.jobs.lease_s, **params}
            ).first()
        if ok is None:
            self.lost = True
            raise LeaseLost(f"{self.name} was taken over by another process")

    def finish(self) -> None:
        with self._lock, self.jobs.db.engine.begin() as conn:
            conn.execute(FINISH, {"name": self.name, "token": self.token, "state": self.outcome, "detail": self.detail})


class Jobs:
    def __init__(self, db: Database, lease_s: float = 30.0, poll_s: float = 2.0) -> None:
        self.db, self.lease_s, self.poll_s = db, lease_s, poll_s
        self.holder = process_name()

    def claim(self, name: str, phase: str = "starting") -> Lease | None:
        """The job's lease, or None while another process holds it."""
        token = secrets.token_hex(16)
        with self.db.engine.begin() as conn:
            row = conn.execute(
                CLAIM, {"name": name, "holder": self.holder, "token": token, "lease": self.lease_s, "phase": phase}
            ).first()
        if row is None:
            return None
        if row.detail:
            log.warning("job %s: %s (its lease ran out)", name, row.detail)
        return Lease(self, name, token, phase, row.detail)

    def clock(self) -> datetime:
        """The database's time: what ``hold(since=...)`` compares with the jobs' own times."""
        with self.db.engine.connect() as conn:
            now: datetime = conn.execute(text("SELECT now()")).scalar_one()
        return now

    def status(self, name: str) -> JobStatus | None:
        with self.db.engine.connect() as conn:  # the primary: a replica's lag would misjudge a holder
            row = conn.execute(text(f"{READ} WHERE name = :name"), {"name": name}).first()
        return None if row is None else _status(row)

    def all(self) -> list[JobStatus]:
        with self.db.engine.connect() as conn:
            return [_status(r) for r in conn.execute(text(f"{READ} ORDER BY started_at DESC"))]

    @contextmanager
    def hold(
        self,
        name: str,
        *,
        wait: bool = True,
        once: bool = False,
        stop: threading.Event | None = None,
        on_wait: Callable[[JobStatus], None] | None = None,
        since: datetime | None = None,
    ) -> Iterator[Lease | None]:
        """Run the block as the job's only holder. While another process holds it: raise JobHeld (``wait``
        False) or wait, calling ``on_wait`` with its progress, and take it over if its holder dies. With
        ``once``, a job another process finished while we waited is not run again (the block gets None); so
        is one we were asked to ``stop`` waiting for, and one finished at or after ``since`` (:meth:`clock`,
        read when the caller decided the job was needed: it may finish before this call). The job ends done,
        failed (an exception) or ``lease.outcome``."""
        waited_since: datetime | None = since
        while True:
            if once and waited_since is not None and _done_since(self.status(name), waited_since):
                yield None  # the process we waited for finished it
                return
            lease = self.claim(name)
            if lease is not None:
                break
            status = self.status(name)
            if status is None:
                continue  # finished and removed between the two statements: claim again
            if waited_since is None:
                waited_since = status.started_at
            if not wait:
                raise JobHeld(status)
            if on_wait is not None:
                on_wait(status)
            if (stop or threading.Event()).wait(self.poll_s):
                yield None
                return
        beat = _Heartbeat(lease, self.lease_s / 3)
        beat.start()
        try:
            yield lease
        except BaseException as exc:
            lease.outcome = "stopped" if isinstance(exc, (LeaseLost, KeyboardInterrupt, SystemExit)) else "failed"
            lease.detail = lease.detail or f"{type(exc).__name__}: {exc}"[:500]
            raise
        finally:
            beat.stop()
            if not lease.lost:
                try:
                    lease.finish()
                except Exception as exc:  # the lease runs out on its own; the next claim takes over
                    log.warning("job %s could not be marked %s: %s", name, lease.outcome, type(exc).__name__)


def _done_since(status: JobStatus | None, since: datetime) -> bool:
    return status is not None and status.state == "done" and (status.finished_at or since) >= since


class _Heartbeat(threading.Thread):
    """Renews a lease while its block runs (a long batch between two progress reports keeps the lease)."""

    def __init__(self, lease: Lease, every_s: float) -> None:
        super().__init__(name=f"lease-{lease.name}", daemon=True)
        self.lease, self.every_s = lease, every_s
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every_s):
            try:
                self.lease.renew()
            except LeaseLost:
                log.warning("job %s was taken over by another process; this one stops", self.lease.name)
                return
            except Exception as exc:  # PostgreSQL away for a moment: try again at the next beat
                log.warning("job %s: lease not renewed (%s)", self.lease.name, type(exc).__name__)

    def stop(self) -> None:
        self._halt.set()
