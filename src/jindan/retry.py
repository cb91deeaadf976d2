"""How long a busy HTTP server asked to be left alone (``Retry-After``), read the same way for every client."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping


def retry_after(status: int, headers: Mapping[str, str]) -> float | None:
    """Seconds a 429 (rate limited) or 503 (overloaded) asked the client to wait: ``retry-after-ms``, or
    ``Retry-After`` in seconds or as an HTTP date. None for any other status, or when the server did not say."""
    if status not in (429, 503):
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers.get(name, "")) * scale)
        except ValueError:
            pass
    try:
        when = email.utils.parsedate_to_datetime(headers.get("retry-after", ""))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
