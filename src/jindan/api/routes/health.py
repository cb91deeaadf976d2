"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from jindan import __version__
from jindan.api.deps import DatabaseDep, SettingsDep
from jindan.readiness import check_all

router = APIRouter(tags=["health"])


class ComponentOut(BaseModel):
    component: str
    ok: bool
    detail: str


class ReadyOut(BaseModel):
    ready: bool
    profile: str
    components: list[ComponentOut]


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers. Says nothing about its dependencies (see /ready)."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def ready(settings: SettingsDep, db: DatabaseDep) -> JSONResponse:
    """Readiness: checks each configured component and says which one is down and why."""
    statuses = check_all(settings, db)
    body = ReadyOut(
        ready=all(s.ok for s in statuses),
        profile=settings.profile,
        components=[ComponentOut(component=s.component, ok=s.ok, detail=s.detail) for s in statuses],
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)
