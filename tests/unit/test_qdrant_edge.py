"""The embedded engine allows one process per shard; a second one gets an error that says what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jindan.vectors.base import CollectionSpec, Point, VectorStoreError
from jindan.vectors.qdrant_edge import QdrantEdgeStore

HOLD = """
import sys
from jindan.vectors.qdrant_edge import QdrantEdgeStore
store = QdrantEdgeStore(sys.argv[1])
print(store.count("c"), flush=True)
sys.stdin.read()
"""


def test_a_collection_open_in_another_process_is_an_actionable_error(tmp_path: Path) -> None:
    store = QdrantEdgeStore(tmp_path)
    store.create(CollectionSpec(name="c", dim=4, payload_indexes={}))
    store.upsert("c", [Point(1, np.ones(4, dtype=np.float32))])
    store.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "1"
        with pytest.raises(VectorStoreError, match="open in another process"):
            QdrantEdgeStore(tmp_path).count("c")
    finally:
        holder.communicate("", timeout=30)
    assert QdrantEdgeStore(tmp_path).count("c") == 1  # free again once the other process is gone


def test_a_create_killed_half_way_does_not_block_the_next(tmp_path: Path) -> None:
    from jindan.vectors.base import CollectionSpec
    from jindan.vectors.qdrant_edge import QdrantEdgeStore

    store = QdrantEdgeStore(tmp_path)
    leftover = tmp_path / "questions__v1" / "shard"
    leftover.mkdir(parents=True)
    (leftover / "segment.dat").write_bytes(b"half written")
    store.create(CollectionSpec(name="questions__v1", dim=4, model_id="m"))
    assert store.exists("questions__v1") and not (leftover / "segment.dat").exists()
    store.close()
