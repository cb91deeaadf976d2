"""Job leases in PostgreSQL: one holder, waiting and reporting, takeover when the holder stops renewing."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from jindan.db.engine import Database
from jindan.jobs.lease import JobHeld, Jobs, LeaseLost


def expire(db: Database, name: str) -> None:
    """What a killed holder leaves: a running job whose lease has run out."""
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE name = :n"), {"n": name})


def test_one_holder_at_a_time_and_progress_everyone_reads(db: Database) -> None:
    a, b = Jobs(db), Jobs(db)
    b.holder = "other-host:42"
    lease = b.claim("index:q")
    assert lease is not None
    lease.report(0, 5000, "embedding")
    assert a.claim("index:q") is None  # held
    time.sleep(0.3)
    lease.report(3776, 5000, "embedding")
    status = a.status("index:q")
    assert status is not None and status.running and status.holder == "other-host:42"
    assert (status.done, status.total, status.phase) == (3776, 5000, "embedding")
    assert status.rate_per_s is not None and status.eta_s is not None
    assert status.eta_s == pytest.approx((5000 - 3776) / status.rate_per_s)
    assert status.line().startswith("embedding: 3,776 / 5,000, about ")
    with pytest.raises(JobHeld, match="other-host:42"), a.hold("index:q", wait=False):
        pass
    lease.finish()
    done = a.status("index:q")
    assert done is not None and done.state == "done" and not done.running
    assert a.claim("index:q") is not None  # free again


def test_a_dead_holder_is_taken_over_and_cannot_write_again(db: Database) -> None:
    first = Jobs(db).claim("index:q")
    assert first is not None
    first.report(10, 100, "embedding")
    expire(db, "index:q")
    status = Jobs(db).status("index:q")
    assert status is not None and status.orphaned and "stalled" in status.line()
    second = Jobs(db).claim("index:q")
    assert second is not None and second.took_over is not None and "taken over from" in second.took_over
    with pytest.raises(LeaseLost):
        first.report(11, 100)  # the old holder woke up: it must stop, not write over the new one
    after = Jobs(db).status("index:q")
    assert after is not None and after.takeovers == 1 and after.holder == Jobs(db).holder


def test_a_waiter_reports_the_holder_then_skips_a_job_done_meanwhile(db: Database) -> None:
    holder = Jobs(db, poll_s=0.05)
    lease = holder.claim("index:q")
    assert lease is not None
    lease.report(1, 3, "embedding")
    seen: list[str] = []

    def finish_soon() -> None:
        time.sleep(0.3)
        lease.finish()

    threading.Thread(target=finish_soon).start()
    with Jobs(db, poll_s=0.05).hold("index:q", once=True, on_wait=lambda s: seen.append(s.line())) as got:
        assert got is None  # another process finished it while we waited: nothing to run
    assert seen and seen[0] == "embedding: 1 / 3, estimating the time left"


def test_a_job_finished_after_the_caller_looked_is_not_run_again(db: Database) -> None:
    jobs = Jobs(db, poll_s=0.05)
    looked = jobs.clock()  # the caller decides the job is needed; another process finishes it before the claim
    other = Jobs(db).claim("import:demo")
    assert other is not None
    other.finish()
    with jobs.hold("import:demo", once=True, since=looked) as got:
        assert got is None
    with jobs.hold("import:demo", once=True, since=jobs.clock()) as got:
        assert got is not None  # done before the caller looked: asked again, it runs


def test_a_waiter_takes_over_when_the_holder_dies(db: Database) -> None:
    dead = Jobs(db).claim("index:q")
    assert dead is not None
    threading.Timer(0.2, expire, (db, "index:q")).start()
    with Jobs(db, poll_s=0.05).hold("index:q", once=True) as lease:
        assert lease is not None and lease.took_over is not None
        lease.report(5, 5, "done")
    status = Jobs(db).status("index:q")
    assert status is not None and status.state == "done" and status.takeovers == 1


def test_a_failure_is_recorded_and_the_next_claim_runs(db: Database) -> None:
    jobs = Jobs(db)
    with pytest.raises(ValueError), jobs.hold("migrate:x"):
        raise ValueError("boom")
    status = jobs.status("migrate:x")
    assert status is not None and status.state == "failed" and "boom" in (status.detail or "")
    assert [j.name for j in jobs.all()] == ["migrate:x"]


def test_the_heartbeat_keeps_a_quiet_holder_alive(db: Database) -> None:
    jobs = Jobs(db, lease_s=1.0)
    with jobs.hold("index:q") as lease:
        assert lease is not None
        time.sleep(1.6)  # no progress report for longer than the lease: the heartbeat renewed it
        assert Jobs(db, lease_s=1.0).claim("index:q") is None
