"""Shared pieces of the API's schema: text that PostgreSQL can store, and the error responses every route has."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

NO_NUL = r"^[^\x00]*$"  # PostgreSQL cannot store NUL; the schema says so, so clients and fuzzers know
Text = Annotated[str, Field(pattern=NO_NUL)]


BLANK = r"\t\n\x0b\x0c\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # what str.strip() strips
WRITTEN = rf"^[^\x00]*[^\x00{BLANK}][^\x00]*$"
Written = Annotated[str, Field(pattern=WRITTEN)]  # a problem or question a person wrote: not only spaces


class ErrorOut(BaseModel):
    detail: Any
    request_id: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body is not valid JSON"},
    401: {"model": ErrorOut, "description": "Missing or invalid credentials"},
    403: {"model": ErrorOut, "description": "The caller may not do this"},
    404: {"model": ErrorOut, "description": "Not found"},
    422: {"description": "Invalid input"},
    429: {"model": ErrorOut, "description": "Rate limit reached (see Retry-After)"},
    503: {"model": ErrorOut, "description": "A component is unavailable (see Retry-After)"},
}
