"""Liveness and readiness. Readiness details (component names, URLs, errors) are for operators only."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from jindan import __version__
from jindan.api.deps import DatabaseDep, OptionalPrincipal, SettingsDep
from jindan.jobs.index import index_status
from jindan.llm.legacy import legacy_line
from jindan.rag.index import SECOND_PASS
from jindan.readiness import check_all
from jindan.security import privacy, rules

router = APIRouter(tags=["health"])


class ComponentOut(BaseModel):
    component: str
    ok: bool
    detail: str


class IndexProgressOut(BaseModel):
    phase: str
    done: int
    total: int | None
    eta_s: float | None
    holder: str | None = None  # operators only


class ReadyOut(BaseModel):
    ready: bool
    profile: str
    privacy: str
    index: str
    legacy: str = "on"
    index_progress: IndexProgressOut | None = None
    components: list[ComponentOut] | None = None


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers. Says nothing about its dependencies (see /ready)."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
async def ready(request: Request, settings: SettingsDep, db: DatabaseDep, principal: OptionalPrincipal) -> JSONResponse:
    """Readiness of every configured component, the privacy status and the question index.

    Anyone sees whether the service is ready; component details only admins and service keys."""
    statuses, job = await asyncio.gather(
        asyncio.to_thread(check_all, settings, db), asyncio.to_thread(index_status, settings, db)
    )
    thread = getattr(request.app.state, "index_thread", None)
    building = (thread is not None and thread.is_alive()) or (job is not None and job.running)
    index = "ready"
    if building and job is not None and job.phase == SECOND_PASS:
        index = f"ready; improving ({job.line()}): each question's worked solution joins its passage"
    elif building:
        index = f"building ({job.line()}): similar-question search answers when it finishes" if job else "building"
    operator = principal is not None and rules.reach(principal, "ops.read") == "all"
    body = ReadyOut(
        ready=all(s.ok for s in statuses),
        profile=settings.profile,
        privacy=privacy.status(settings),
        index=index,
        legacy=legacy_line(request.app.state.router),
    )
    if job is not None and job.running:
        body.index_progress = IndexProgressOut(
            phase=job.phase, done=job.done, total=job.total, eta_s=job.eta_s, holder=job.holder if operator else None
        )
    if operator:
        body.components = [ComponentOut(component=s.component, ok=s.ok, detail=s.detail) for s in statuses]
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if body.ready else 503)
