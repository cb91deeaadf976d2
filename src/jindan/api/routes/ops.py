"""Operator endpoints: Prometheus metrics (admins and service keys)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from jindan.api.deps import require
from jindan.api.schemas import ERRORS

router = APIRouter(tags=["operations"], responses=ERRORS)


@router.get("/metrics", response_class=Response, dependencies=[require("ops.read")])
def metrics(request: Request) -> Response:
    """Prometheus exposition: request latency per route, TTFT and tokens/s per provider and model, fallbacks,
    breaker states, shadow runs, vector search latency, the llama.cpp queue and prefix cache."""
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
