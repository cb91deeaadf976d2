"""`jindan serve` stopped with SIGTERM while the first start's index runs, as a real process.

The product goal is an exit within 10 s (an orchestrator's grace period, Kubernetes' default being 30 s, must
cover it); `jindan bench shutdown` prints the measured number (docs/benchmarks.md). The bound asserted here
is Kubernetes' default grace period, wide enough for a busy test machine: what this test pins is that the
index stops within a few texts, releases its lease and keeps what it embedded, and that the embedded
PostgreSQL is stopped cleanly.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import shared_file
from tests.fixtures.processes import postmasters

from jindan.bench import shutdown

pytestmark = pytest.mark.slow

KUBERNETES_DEFAULT_GRACE_S = 30


@pytest.fixture()
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="jindan-shutdown-", dir="/tmp"))  # as root every parent must be readable
    yield path
    for pid in postmasters(path / "home" / "pgdata"):
        import psutil

        psutil.Process(pid).kill()
    shutil.rmtree(path, ignore_errors=True)


def test_sigterm_while_indexing_exits_in_time_and_releases_the_job(root: Path) -> None:
    result = shutdown.run(shared_file("math/problems.jsonl"), questions=300, after=16, home=root)
    log = result.pop("log")
    print(json.dumps(result), file=sys.stderr)  # the measured number, for the record
    assert result["exit_code"] == 0, log
    assert result["sigterm_to_exit_s"] < KUBERNETES_DEFAULT_GRACE_S, log
    assert result["postgres_stopped"] and postmasters(root / "home" / "pgdata") == [], log
    job = result["job"]
    assert job is not None and job["state"] == "stopped", (job, log)  # released: the next start claims it at once
    assert result["done_when_signalled"] <= job["done"] < job["total"] == 300, (job, log)
    assert "background index stopped after" in log


def test_sigterm_while_importing_the_demo_bank_exits_and_the_next_start_resumes(root: Path) -> None:
    """The first start's import runs after the service answers, stops between batches of rows and is resumed."""
    result = shutdown.run(shared_file("math/problems.jsonl"), questions=5000, after=500, home=root, during="import")
    log = result.pop("log")
    print(json.dumps(result), file=sys.stderr)
    assert result["exit_code"] == 0, log
    assert result["sigterm_to_exit_s"] < KUBERNETES_DEFAULT_GRACE_S, log
    assert result["postgres_stopped"] and postmasters(root / "home" / "pgdata") == [], log
    job = result["job"]
    assert job is not None and job["state"] == "stopped", (job, log)
    assert 500 <= job["done"] < job["total"] == 5000, (job, log)
    assert "demo bank import stopped" in log
