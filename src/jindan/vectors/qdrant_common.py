"""Pieces shared by both Qdrant stores (server client and embedded engine): ids, payload keys, scores."""

from __future__ import annotations

from typing import Any

import numpy as np

from jindan.vectors.base import Point, PointId, qdrant_id

KEY = "_key"  # the original key of a point whose id had to become a UUID


def point_payload(pid: PointId, payload: dict[str, Any]) -> tuple[int | str, dict[str, Any]]:
    qid = qdrant_id(pid)
    if qid != pid:
        payload = {**payload, KEY: pid}
    return qid, payload


def original_id(qid: Any, payload: dict[str, Any] | None) -> PointId:
    if payload and KEY in payload:
        key: PointId = payload[KEY]
        return key
    return int(qid) if isinstance(qid, int) or str(qid).isdigit() else str(qid)


def clean(payload: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (payload or {}).items() if k != KEY}


def to_point(record: Any) -> Point:
    """A record from either Qdrant API (unnamed or named dense vector) as our Point, original key restored."""
    vec = record.vector.get("") if isinstance(record.vector, dict) else record.vector
    return Point(original_id(record.id, record.payload), np.asarray(vec or [], dtype=np.float32), clean(record.payload))
