"""What every console page shares: templates, the language, the page-or-fragment answer, the guarded route.

A handler declares ``require(action)`` like its JSON twin; :class:`ConsoleRoute` turns what the front door
raises into pages: 401 -> the sign-in page (htmx: ``HX-Redirect``), 403 -> the refusal page with no data,
a domain error -> the status ``api/errors.py`` gives it, rendered as a page. One URL answers a whole page,
or with ``HX-Request`` only its fragment, and always says ``Vary: HX-Request``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from jindan.api import errors
from jindan.api.deps import SESSION_COOKIE
from jindan.console.i18n import LANGS, strings
from jindan.security import rules
from jindan.security.principal import Principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")  # autoescaped: every template name ends in .html
LANG_COOKIE = "jindan_lang"
MAX_FORM = 64 * 1024
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def lang(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "ko")
    return chosen if chosen in LANGS else "ko"


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def principal_of(request: Request) -> Principal | None:
    p: Principal | None = getattr(request.state, "principal", None)
    return p


def can(p: Principal | None, action: str) -> bool:
    """Whether the rule table gives this principal any reach for ``action`` (what the menu shows)."""
    return p is not None and rules.reach(p, action) != "none"


def nav(p: Principal | None) -> list[tuple[str, str]]:
    """(url, label key) of the pages this principal may open, in the rule table's terms."""
    items: list[tuple[str, str]] = []
    if can(p, "search"):
        items.append(("/console/search", "nav_search"))
    if p is not None and p.role == "student" and p.user_id is not None:
        items.append((f"/console/students/{p.user_id}/diagnosis", "nav_my_diagnosis"))
        items.append((f"/console/students/{p.user_id}/diagnostic", "nav_my_diagnostic"))
    if can(p, "class.read"):
        items.append(("/console/classes", "nav_classes"))
    if can(p, "ops.read"):
        items.append(("/console/ops", "nav_ops"))
    return items


def secure(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Vary"] = "HX-Request, Cookie"
    return response


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    partial: str | None = None,
    status: int = 200,
) -> Response:
    """The whole page, or only ``partial`` (the same template the page includes) for an htmx request."""
    name = partial if partial is not None and is_htmx(request) else template
    language = lang(request)
    p = principal_of(request)
    ctx = {"t": strings(language), "lang": language, "me": p, "nav": nav(p), "path": request.url.path}
    response = templates.TemplateResponse(request, name, {**ctx, **(context or {})}, status_code=status)
    return secure(response)


def error_page(request: Request, status: int, detail: str) -> Response:
    """The refusal or failure page: a status, a sentence, nothing of the data asked for."""
    key = {403: "error_403", 404: "error_404", 409: "error_409", 429: "error_429"}.get(status, "error_other")
    return page(
        request,
        "pages/error.html",
        {"status": status, "key": key, "detail": detail},
        partial="partials/_error.html",
        status=status,
    )


def _invalid(request: Request, exc: RequestValidationError) -> Response:
    """An invalid parameter of a page is a bad address (404), except a text too long (a typed problem in a shared
    link the form's own limit never saw): a 422 that says which field and how long it may be."""
    long = [e for e in exc.errors() if e.get("type") == "string_too_long"]
    if not long:
        return error_page(request, 404, "")
    said = "; ".join(f"{e['loc'][-1]}: {e.get('ctx', {}).get('max_length', '?')}자까지" for e in long)
    return error_page(request, 422, f"입력이 너무 깁니다 ({said})")


def signin_redirect(request: Request) -> Response:
    target = "/console/signin?next=" + quote(request.url.path, safe="/")
    response: Response
    if is_htmx(request):
        response = Response(status_code=401, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if SESSION_COOKIE in request.cookies:
        response.delete_cookie(SESSION_COOKIE, path="/")  # expired or no longer valid
    return secure(response)


def _detail(exc: Exception, request: Request) -> tuple[int, str]:
    """Status and sentence for a domain error: the API's one map (api/errors.py), read from its answer."""
    p = principal_of(request)
    answer = errors.handle(exc, operator=can(p, "ops.read"))
    return answer.status_code, str(json.loads(bytes(answer.body))["detail"])


class ConsoleRoute(APIRoute):
    """A route whose refusals and failures are pages, never JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except StarletteHTTPException as exc:
                if exc.status_code == 401:
                    return signin_redirect(request)
                response = error_page(request, exc.status_code, str(exc.detail))
                if exc.headers:
                    response.headers.update(exc.headers)
                return response
            except RequestValidationError as exc:
                return _invalid(request, exc)
            except Exception as exc:  # mapped by the API's one table (and logged there when it is a 5xx)
                status, detail = _detail(exc, request)
                return error_page(request, status, detail)

        return guarded


async def form(request: Request) -> dict[str, str]:
    """An url-encoded form body (the console's forms), without a multipart parser. A form posted from another
    site is refused (the SameSite cookie already keeps it from acting as the user; this also stops a sign-in
    forced on the user by another site)."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "forms are accepted from this site only")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise HTTPException(413, "form too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, "form must be UTF-8") from exc
    return {k: v.replace("\x00", "") for k, v in parse_qsl(text, keep_blank_values=True)}


def safe_next(target: str | None, fallback: str = "/console") -> str:
    """Only console paths: a sign-in never sends anyone to another site."""
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return fallback
