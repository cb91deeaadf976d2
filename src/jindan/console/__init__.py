"""The web console at ``/console``: students, teachers and operators, served by the same app as the API.

Server-rendered templates with htmx (vendored from the npm package, no build step, nothing from a CDN). Every
page reads the same services as its JSON twin under the same ``require(action)``; it never calls the API over
HTTP. The browser streams hints and explanations from the API itself (``POST /questions/{id}/hint``) with the
session cookie, so there is one RAG path.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.staticfiles import StaticFiles

from jindan.api.deps import SESSION_COOKIE
from jindan.console import diagnostic, ops, signin, student, teacher
from jindan.console.web import HERE
from jindan.security.authenticate import serves_open
from jindan.settings import Settings


def signed_in(request: Request) -> None:
    """Console pages need a console sign-in, even where the API itself serves without credentials."""
    if SESSION_COOKIE not in request.cookies and "authorization" not in request.headers:
        raise HTTPException(401, "sign in to use the console")


def install(app: FastAPI, settings: Settings) -> None:
    """Wire the console into ``app`` (called by ``create_app``, the composition root)."""
    app.state.console_demo = serves_open(settings)
    app.include_router(signin.public)
    if app.state.console_demo:
        app.include_router(signin.demo_router)
    private = APIRouter(dependencies=[Depends(signed_in)])
    for module in (student, teacher, diagnostic, ops):
        private.include_router(module.router)
    private.include_router(signin.home_router)
    app.include_router(private)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
