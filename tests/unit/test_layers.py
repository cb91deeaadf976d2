"""Layers that only point down. Rooms (the packages under ``src/jindan``) import each other without a circle,
apart from the composition root (``api/app.py``), which mounts everything; the route names sit below both the LLM
router and the privacy check; the text reading sits below retrieval and the answer checks."""

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


COMPOSITION_ROOT = SRC / "api" / "app.py"


def room_arrows() -> dict[str, set[str]]:
    """room -> the rooms its modules import (a top-level module such as ``settings.py`` is a room of its own)."""
    rooms = {p.stem for p in SRC.iterdir() if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    arrows: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        if path == COMPOSITION_ROOT:
            continue
        here = path.relative_to(SRC).parts[0].removesuffix(".py")
        for name in imported(path):
            parts = name.split(".")
            if parts[0] == "jindan" and len(parts) > 1 and parts[1] in rooms and parts[1] != here:
                arrows.setdefault(here, set()).add(parts[1])
    return arrows


def test_the_rooms_have_no_circle() -> None:
    arrows = room_arrows()
    assert {"rag", "answers", "llm", "security"} <= set(arrows)  # the walk found the rooms
    reach = {room: set(to) for room, to in arrows.items()}
    changed = True
    while changed:
        changed = False
        for to in reach.values():
            more = set().union(*(reach.get(r, set()) for r in to)) - to
            if more:
                to |= more
                changed = True
    assert not sorted(room for room, to in reach.items() if room in to)


def test_privacy_does_not_reach_into_the_llm_layer() -> None:
    found = imported(SRC / "security" / "privacy.py")
    assert "jindan.domain.routes" in found  # the walk sees this file's imports
    assert not {m for m in found if m.startswith("jindan.llm")}


def test_the_route_names_and_the_text_reading_import_nothing_of_jindan() -> None:
    for module in (SRC / "domain" / "routes.py", SRC / "text" / "lexical.py"):
        found = imported(module)
        assert "re" in found or "typing" in found
        assert not {m for m in found if m.startswith("jindan")}


def test_the_router_and_privacy_agree_on_the_routes() -> None:
    from jindan.domain.routes import ROUTES
    from jindan.llm import router
    from jindan.security import privacy

    assert router.check is privacy.check
    assert privacy.ROUTES is ROUTES
