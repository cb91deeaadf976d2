"""The one rule table: which role reaches what, for every action the service offers.

Reach: ``all`` (anything), ``own`` (the principal's own student record), ``class`` (a student in a class the
principal teaches, or a class the principal teaches), ``none``. A role missing from an action's row has none.
Every route names exactly one action; the access test fails for a route without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from jindan.security.principal import Principal, Role

Reach = Literal["none", "own", "class", "all"]
EVERYONE: dict[Role, Reach] = {"student": "all", "teacher": "all", "admin": "all", "service": "all"}
STAFF: dict[Role, Reach] = {"teacher": "all", "admin": "all", "service": "all"}
OPS: dict[Role, Reach] = {"admin": "all", "service": "all"}

RULES: dict[str, dict[Role, Reach]] = {
    "questions.read": EVERYONE,
    "question.answer": STAFF,  # answers and official solutions; students never receive them
    "search": EVERYONE,
    "ai.hint": EVERYONE,
    "ai.explain": EVERYONE,
    "ai.ask": EVERYONE,
    "ai.chat": STAFF,  # free prompts: the platform's backend, teachers and operators
    "ai.embed": OPS,
    "responses.write": {"student": "own", "admin": "all", "service": "all"},
    "responses.read": {"student": "own", "teacher": "class", "admin": "all", "service": "all"},
    "diagnosis.read": {"student": "own", "teacher": "class", "admin": "all", "service": "all"},
    "class.read": {"teacher": "class", "admin": "all", "service": "all"},
    "diagnostic.start": {"student": "own", "teacher": "class", "admin": "all", "service": "all"},
    "diagnostic.answer": {"student": "own", "admin": "all", "service": "all"},  # teachers never answer for them
    "ops.read": OPS,
}
AI_ACTIONS = frozenset(a for a in RULES if a.startswith("ai."))


@dataclass(frozen=True)
class Target:
    """What an action is about: a student (``users.id``) or a class (``classes.id``)."""

    kind: Literal["student", "class"]
    id: int


class Relations(Protocol):
    """Facts the rules need from the database (who teaches which class)."""

    def teaches_student(self, teacher_id: int, student_id: int) -> bool: ...

    def teaches_class(self, teacher_id: int, class_id: int) -> bool: ...


def reach(principal: Principal, action: str) -> Reach:
    if action not in RULES:
        raise KeyError(f"unknown action {action!r}; known: {', '.join(RULES)}")
    return RULES[action].get(principal.role, "none")


def allowed(principal: Principal, action: str, target: Target | None, relations: Relations) -> bool:
    r = reach(principal, action)
    if r == "all":
        return True
    if r == "none" or target is None or principal.user_id is None:
        return False
    if r == "own":
        return target.kind == "student" and target.id == principal.user_id
    if target.kind == "class":
        return relations.teaches_class(principal.user_id, target.id)
    return target.id == principal.user_id or relations.teaches_student(principal.user_id, target.id)
