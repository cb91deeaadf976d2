"""Dependencies as Annotated aliases, so routes declare what they need and tests can override it.

``require(action)`` is the front door of every route: who is calling (401), may they (403, before any work,
from the one rule table in ``jindan.security.rules``), and for AI actions whether they are within their rate
(429 + Retry-After).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from jindan.api import context
from jindan.api.limits import AnyLimiter, RateLimited
from jindan.db.engine import Database
from jindan.llm.router import Router
from jindan.rag.stack import SearchStack
from jindan.security import rules
from jindan.security.authenticate import Authenticator
from jindan.security.identities import InvalidCredentials
from jindan.security.principal import Principal
from jindan.settings import Settings

SESSION_COOKIE = "jindan_session"
MAX_ID = 2**31 - 1  # PostgreSQL integer ids


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.session() as session:
        yield session


async def get_router(request: Request) -> Router:
    r: Router = request.app.state.router
    return r


async def get_stack(request: Request) -> SearchStack:
    stack: SearchStack = request.app.state.search
    return stack


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def credential(request: Request) -> tuple[str, str] | None:
    """(kind, value) of the credential a request carries: bearer, x-goog-api-key, or the console cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _unauthorized("Authorization must be 'Bearer <platform JWT or service key>'")
        return "bearer", value.strip()
    if goog := request.headers.get("x-goog-api-key"):
        return "bearer", goog.strip()
    if cookie := request.cookies.get(SESSION_COOKIE):
        return "session", cookie
    return None


async def resolve_principal(request: Request) -> Principal | None:
    """The caller, or None for a request without credentials on a service that requires them.

    Runs on the event loop: verifying a JWT or a cached key is CPU work of microseconds; only a first sight of
    a user or an uncached key goes to PostgreSQL, on a worker thread."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    auth: Authenticator = request.app.state.auth
    found = credential(request)
    try:
        if found is None:
            principal = Principal.open() if auth.open else None
        elif found[0] == "session":
            principal = await asyncio.to_thread(auth.session, found[1])
        else:
            principal = auth.cached(found[1]) or await asyncio.to_thread(auth.principal, found[1])
    except InvalidCredentials as exc:
        raise _unauthorized(str(exc)) from exc
    request.state.principal = principal
    if principal is not None:
        context.set_principal(principal.log_fields())
    return principal


async def get_principal(request: Request) -> Principal:
    principal = await resolve_principal(request)
    if principal is None:
        raise _unauthorized("credentials required: a platform JWT or a service key as a bearer token")
    return principal


def _target(request: Request) -> rules.Target | None:
    for name, kind in (("user_id", "student"), ("class_id", "class")):
        raw = request.path_params.get(name)
        if raw is not None:
            try:
                value = int(raw)
            except ValueError:
                return None
            return rules.Target(kind, value) if 0 < value <= MAX_ID else None  # type: ignore[arg-type]
    return None


def require(action: str) -> Any:
    """The dependency a route declares: its value is the principal, allowed to do ``action`` right now."""
    rules.reach(Principal.open(), action)  # an unknown action fails when the route is defined, not when called

    async def check(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        reach = rules.reach(principal, action)
        if reach != "all":
            auth: Authenticator = request.app.state.auth
            target = _target(request)
            ok = reach != "none" and await asyncio.to_thread(rules.allowed, principal, action, target, auth.relations())
            if not ok:
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.role} may not {action} here")
        if action in rules.AI_ACTIONS:
            limiter: AnyLimiter = request.app.state.limiter
            try:  # shared limits are one PostgreSQL statement: off the event loop
                await asyncio.to_thread(limiter.take, principal.limit_key, principal.role)
            except RateLimited as exc:
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    str(exc),
                    headers={"Retry-After": str(int(exc.retry_after_s) + 1)},
                ) from exc
        request.state.action = action
        return principal

    return Depends(check)


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
SessionDep = Annotated[Session, Depends(get_session)]
RouterDep = Annotated[Router, Depends(get_router)]
StackDep = Annotated[SearchStack, Depends(get_stack)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(resolve_principal)]
