"""The composition root of the service: ``create_app(settings)`` builds everything, no hidden globals."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from jindan import __version__, console
from jindan.answers.log import AnswerLog
from jindan.api import errors
from jindan.api.gateway import gemini as gateway_gemini
from jindan.api.gateway import openai as gateway_openai
from jindan.api.gateway import responses_api as gateway_responses
from jindan.api.gateway.shapes import wire_error
from jindan.api.limits import Limiter, build_limiter
from jindan.api.metrics import Metrics
from jindan.api.middleware import FrontDoor
from jindan.api.routes import diagnosis, diagnostic, health, llm, ops, questions, responses, search
from jindan.db.engine import Database
from jindan.db.migrations import ensure_schema
from jindan.demo import start_first_run
from jindan.domain.routes import ROUTES
from jindan.llm.legacy import LegacyGate, refresh_every
from jindan.llm.router import Router, build_router
from jindan.llm.traffic import Flushable, TrafficLog, flush_every
from jindan.rag.stack import SearchStack
from jindan.security import privacy
from jindan.security.authenticate import Authenticator, serves_open
from jindan.security.secrets import resolve
from jindan.settings import Settings

log = logging.getLogger(__name__)


INDEX_STOP_WAIT_S = 5.0  # the batch in hand; past that the lease runs out and the next start takes over


async def _stop_index(state: Any) -> None:
    """Ask a background index to stop after its batch and wait for it, so it never runs on into closed stores
    (what it embedded stays; the next start goes on from there)."""
    state.index_stop.set()
    thread = getattr(state, "index_thread", None)
    if thread is not None and thread.is_alive():
        log.info("stopping the background index after its current batch")
        await asyncio.to_thread(thread.join, INDEX_STOP_WAIT_S)


async def _flush(counts: Flushable) -> None:
    try:
        await asyncio.to_thread(counts.flush)
    except Exception as exc:
        log.warning("the last counts could not be written: %s", type(exc).__name__)


def _start_preload(settings: Settings, router: Router) -> asyncio.Task[None] | None:
    """Ollama loads a model on first use (seconds); load it at startup instead, in the background."""
    if not settings.ollama.preload or not any("ollama" in router.chain(r) for r in ROUTES):
        return None

    async def preload() -> None:
        try:
            provider = router.provider("ollama")
            await provider.preload()  # type: ignore[attr-defined]
            log.info("ollama model %s preloaded", provider.model)
        except Exception as exc:
            log.warning("ollama preload failed (first request will load the model): %s", exc)

    return asyncio.create_task(preload())


def create_app(
    settings: Settings, db: Database | None = None, router: Router | None = None, stack: SearchStack | None = None
) -> FastAPI:
    """Build the app. Pass ``db`` / ``router`` to share already built ones (tests); otherwise built on startup.

    Refuses (RuntimeError with the setting to fix) a configuration that would be unsafe to serve: missing or
    short secrets, an open API off loopback, an external destination the profile does not allow."""
    privacy.check(settings)
    privacy.enforce_offline(settings)
    material = resolve(settings)
    serves_open(settings)
    metrics = Metrics(lambda: app.state)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = db is None
        database = db or Database(settings, statement_timeout_s=settings.database.statement_timeout_s)
        app.state.db = database
        app.state.router = router or build_router(settings, database, read_switches=False)
        gate = app.state.router.gate = app.state.router.gate or LegacyGate(settings, database)
        app.state.router.observer = metrics
        if app.state.router.shadow is not None:
            app.state.router.shadow.observer = metrics
        app.state.search = stack or SearchStack(settings, database, app.state.router)
        app.state.search.observer = metrics
        app.state.search.answer_observer = metrics
        app.state.auth = Authenticator(settings, database, material)
        app.state.limiter = build_limiter(settings.limits, database)
        metrics.traffic = TrafficLog(database)
        metrics.answer_log = AnswerLog(database)
        flusher = asyncio.create_task(flush_every(metrics.traffic))
        answer_flusher = asyncio.create_task(flush_every(metrics.answer_log))
        gate_task = asyncio.create_task(refresh_every(gate))
        preload = _start_preload(settings, app.state.router)
        try:
            ensure_schema(database.engine, auto_upgrade=settings.auto_upgrade)
            await asyncio.to_thread(gate.refresh)  # then every few seconds: any replica or the CLI may switch it
            if settings.profile == "embedded" and settings.server.demo_import:
                app.state.index_thread = start_first_run(settings, app.state.search, app.state.index_stop)
            yield
        finally:
            await _stop_index(app.state)
            if preload is not None:
                preload.cancel()
            if app.state.router.shadow is not None:
                await app.state.router.shadow.drain(settings.server.shadow_drain_s)
            flusher.cancel()
            answer_flusher.cancel()
            gate_task.cancel()
            await _flush(metrics.traffic)
            await _flush(metrics.answer_log)
            if router is None:
                await app.state.router.aclose()
            if stack is None:
                app.state.search.close()
            if owned:
                database.close()

    app = FastAPI(
        title="jindan",
        version=__version__,
        summary="Local-first AI for learning diagnosis: similar questions, hints, explanations, mastery.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.index_stop = threading.Event()
    app.state.metrics = metrics
    app.state.limiter = Limiter(settings.limits)
    errors.install(app)
    app.add_middleware(FrontDoor, max_body=settings.limits.body_bytes, metrics=metrics, shape=wire_error)
    for module in (health, ops, questions, responses, llm, search, diagnosis, diagnostic):
        app.include_router(module.router)
    app.include_router(gateway_openai.router)  # /v1/...: the openai SDK's calls
    app.include_router(gateway_responses.router)  # /v1/responses: the Responses API (Agents SDK, LangChain)
    app.include_router(gateway_gemini.router)  # /{v1,v1beta}/models/...: the google-genai SDK's calls
    console.install(app, settings)
    return app
