"""Sign-in and sign-out, the language switch, the Hangul web font, and the embedded profile's demo sign-in.

A sign-in proves an identity the service already knows (a platform JWT or a service key, checked by the same
``Authenticator`` as bearer tokens) and stores the resolved principal in a signed, HttpOnly, SameSite=Strict
cookie that ``api/deps.get_principal`` reads like any other credential.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from jindan.api.deps import SESSION_COOKIE, PrincipalDep
from jindan.console import demo, font
from jindan.console.i18n import LANGS
from jindan.console.web import LANG_COOKIE, ConsoleRoute, form, nav, page, safe_next, secure
from jindan.security.authenticate import Authenticator
from jindan.security.identities import InvalidCredentials
from jindan.security.principal import Principal

public = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
demo_router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
home_router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
FONT_CACHE = "hangul.woff"


def home(p: Principal) -> str:
    """Where a sign-in lands: the operator page, else the classes, else the first page the menu offers."""
    urls = [url for url, _ in nav(p)]
    for preferred in ("/console/ops", "/console/classes"):
        if preferred in urls:
            return preferred
    return urls[0] if urls else "/console/signin"


def _signin_page(request: Request, next_url: str | None, error: str | None = None, status: int = 200) -> Response:
    context = {"next": safe_next(next_url, ""), "error": error, "demo": demo_offered(request)}
    return page(request, "pages/signin.html", context, status=status)


def demo_offered(request: Request) -> bool:
    return bool(getattr(request.app.state, "console_demo", False))


def start_session(request: Request, p: Principal, next_url: str | None) -> Response:
    auth: Authenticator = request.app.state.auth
    response = RedirectResponse(safe_next(next_url, home(p)), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        auth.session_cookie(p),
        max_age=request.app.state.settings.auth.session_ttl_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return secure(response)


@public.get("/signin")
def signin_page(request: Request, next: str | None = None) -> Response:
    return _signin_page(request, next)


@public.post("/signin")
async def signin(request: Request) -> Response:
    data = await form(request)
    credential = data.get("credential", "").strip()
    auth: Authenticator = request.app.state.auth
    if not credential:
        return _signin_page(request, data.get("next"), "signin_empty", 422)
    try:
        p = await asyncio.to_thread(auth.principal, credential)
    except InvalidCredentials:
        return _signin_page(request, data.get("next"), "signin_invalid", 401)
    return start_session(request, p, data.get("next"))


@public.post("/signout")
def signout() -> Response:
    response = RedirectResponse("/console/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return secure(response)


@public.get("/lang/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGS:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, path="/", samesite="lax")
    return secure(response)


@public.get("/fonts/hangul.woff")
async def hangul_font(request: Request) -> Response:
    """NanumGothic as a web font (see console/font.py); 404 without one: browsers use the system's fonts."""
    data = await asyncio.to_thread(font.web_font, request.app.state.settings.home / "console" / FONT_CACHE)
    if data is None:
        return Response(status_code=404)
    return Response(data, media_type="font/woff", headers={"Cache-Control": "public, max-age=604800"})


@demo_router.post("/demo")
async def demo_signin(request: Request) -> Response:
    """Sign in as the demo student, teacher or admin (seeded on first use). Exists only where the service
    serves the machine's own user without credentials (embedded profile, loopback)."""
    role = (await form(request)).get("role", "")
    if role not in demo.ROLES:
        return _signin_page(request, None, "signin_invalid", 422)
    state = request.app.state
    seeded = await asyncio.to_thread(demo.seed, state.db)
    demo.index_new_questions(state, seeded)
    return start_session(request, seeded.people[role], None)


@home_router.get("")
def console_home(p: PrincipalDep) -> Response:
    return secure(RedirectResponse(home(p), status_code=303))
