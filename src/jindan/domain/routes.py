"""The answer routes: the kinds of request a model answers (each has its own provider chain, shadow run and
gateway model name). The names live here, below the LLM router and the privacy check that both read them."""

from __future__ import annotations

from typing import Literal, get_args

Route = Literal["explain", "hint", "diagnosis", "chat"]
ROUTES: tuple[Route, ...] = get_args(Route)
