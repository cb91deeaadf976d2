"""Bearer-token auth. With no tokens configured the API is open, which only the embedded profile allows."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jindan.settings import Settings

bearer = HTTPBearer(auto_error=False)


def require_token(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    settings: Settings = request.app.state.settings
    keys = [k.get_secret_value() for k in settings.server.api_keys]
    if not keys:
        return
    token = creds.credentials if creds else ""
    if not any(hmac.compare_digest(token.encode(), k.encode()) for k in keys):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def check_auth_config(settings: Settings) -> None:
    """Refuse to serve an open API outside the embedded profile (it would expose student data)."""
    if settings.profile != "embedded" and not settings.server.api_keys:
        raise RuntimeError(
            f"profile {settings.profile!r} needs API tokens: set JINDAN_SERVER__API_KEYS='[\"<token>\"]'"
        )
