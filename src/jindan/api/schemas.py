"""Shared pieces of the API's schema: text that PostgreSQL can store, and the error responses every route has."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not accepted")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


class ErrorOut(BaseModel):
    detail: Any
    request_id: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or invalid credentials"},
    403: {"model": ErrorOut, "description": "The caller may not do this"},
    404: {"model": ErrorOut, "description": "Not found"},
    422: {"description": "Invalid input"},
    429: {"model": ErrorOut, "description": "Rate limit reached (see Retry-After)"},
    503: {"model": ErrorOut, "description": "A component is unavailable (see Retry-After)"},
}
