"""Replicas that start together upgrade the schema once: the upgrade runs under an advisory lock."""

from __future__ import annotations

import threading

from jindan.db import migrations
from jindan.db.engine import Database


def test_upgrades_started_together_upgrade_once(db: Database) -> None:
    migrations.downgrade(db.engine, "base")
    results: list[bool] = []
    barrier = threading.Barrier(3)

    def replica() -> None:
        barrier.wait()
        results.append(migrations.upgrade(db.engine))

    threads = [threading.Thread(target=replica) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == [False, False, True]
    assert migrations.current(db.engine) == migrations.head()
