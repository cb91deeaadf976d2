"""The route names sit below both the LLM router and the privacy check, so neither needs the other's module to
know them: privacy never imports the LLM layer, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import jindan

SRC = Path(jindan.__file__).parent


def imported(module: Path) -> set[str]:
    """Every module a file imports, wherever the import statement is."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_privacy_does_not_reach_into_the_llm_layer() -> None:
    found = imported(SRC / "security" / "privacy.py")
    assert "jindan.domain.routes" in found  # the walk sees this file's imports
    assert not {m for m in found if m.startswith("jindan.llm")}


def test_the_route_names_import_nothing_of_jindan() -> None:
    found = imported(SRC / "domain" / "routes.py")
    assert "typing" in found
    assert not {m for m in found if m.startswith("jindan")}


def test_the_router_and_privacy_agree_on_the_routes() -> None:
    from jindan.domain.routes import ROUTES
    from jindan.llm import router
    from jindan.security import privacy

    assert router.check is privacy.check
    assert privacy.ROUTES is ROUTES
