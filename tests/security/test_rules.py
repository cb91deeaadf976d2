"""The rule table itself: pure, no database."""

from __future__ import annotations

import pytest

from jindan.security import rules
from jindan.security.principal import Principal
from jindan.security.rules import Target


class School:
    """Teacher 10 teaches class 1 with student 1; student 2 is in class 2 taught by someone else."""

    def teaches_student(self, teacher_id: int, student_id: int) -> bool:
        return teacher_id == 10 and student_id == 1

    def teaches_class(self, teacher_id: int, class_id: int) -> bool:
        return teacher_id == 10 and class_id == 1


STUDENT = Principal("user", "student", user_id=1, external_id="a")
TEACHER = Principal("user", "teacher", user_id=10, external_id="t")
ADMIN = Principal("user", "admin", user_id=99, external_id="ops")
SERVICE = Principal("key", "service", key_name="backend")


@pytest.mark.parametrize(
    ("who", "action", "target", "expected"),
    [
        (STUDENT, "diagnosis.read", Target("student", 1), True),
        (STUDENT, "diagnosis.read", Target("student", 2), False),
        (STUDENT, "responses.write", Target("student", 1), True),
        (STUDENT, "responses.write", Target("student", 2), False),
        (STUDENT, "class.read", Target("class", 1), False),
        (STUDENT, "question.answer", None, False),
        (STUDENT, "ops.read", None, False),
        (STUDENT, "ai.chat", None, False),
        (STUDENT, "ai.hint", None, True),
        (TEACHER, "diagnosis.read", Target("student", 1), True),
        (TEACHER, "diagnosis.read", Target("student", 2), False),
        (TEACHER, "class.read", Target("class", 1), True),
        (TEACHER, "class.read", Target("class", 2), False),
        (TEACHER, "responses.write", Target("student", 1), False),
        (TEACHER, "responses.read", Target("student", 1), True),
        (TEACHER, "question.answer", None, True),
        (TEACHER, "ops.read", None, False),
        (ADMIN, "ops.read", None, True),
        (ADMIN, "diagnosis.read", Target("student", 2), True),
        (SERVICE, "class.read", Target("class", 2), True),
        (SERVICE, "ai.embed", None, True),
        (STUDENT, "diagnostic.start", Target("student", 1), True),
        (STUDENT, "diagnostic.start", Target("student", 2), False),
        (STUDENT, "diagnostic.start", Target("class", 1), False),
        (STUDENT, "diagnostic.answer", Target("student", 1), True),
        (STUDENT, "diagnostic.answer", Target("student", 2), False),
        (TEACHER, "diagnostic.start", Target("class", 1), True),
        (TEACHER, "diagnostic.start", Target("class", 2), False),
        (TEACHER, "diagnostic.start", Target("student", 1), True),
        (TEACHER, "diagnostic.answer", Target("student", 1), False),
        (SERVICE, "diagnostic.answer", Target("student", 2), True),
        (Principal.open(), "ops.read", None, True),
    ],
)
def test_rule_table(who: Principal, action: str, target: Target | None, expected: bool) -> None:
    assert rules.allowed(who, action, target, School()) is expected


def test_own_and_class_reach_need_a_target() -> None:
    assert not rules.allowed(STUDENT, "diagnosis.read", None, School())
    assert not rules.allowed(TEACHER, "class.read", None, School())
    assert not rules.allowed(Principal("key", "student"), "diagnosis.read", Target("student", 1), School())


def test_a_student_target_is_not_a_class_target() -> None:
    # class 1's id equals student 1's id: a student may not read class 1 because "own" only means a student
    assert not rules.allowed(STUDENT, "responses.read", Target("class", 1), School())


def test_unknown_action_is_an_error() -> None:
    with pytest.raises(KeyError, match="unknown action"):
        rules.reach(STUDENT, "grades.delete")


def test_every_role_has_a_reach_for_every_action() -> None:
    for action, row in rules.RULES.items():
        assert set(row) <= {"student", "teacher", "admin", "service"}, action
        assert row.get("admin") == "all", f"admins reach everything ({action})"


def test_log_fields_carry_no_names() -> None:
    p = Principal("user", "student", user_id=1, external_id="a", name="김학생")
    assert "김학생" not in repr(p.log_fields()) and p.limit_key != "a"
    assert p.limit_key == "user:1" and SERVICE.limit_key == "key:backend"


class Everyone:
    """Relations that say yes to everything: only the rule itself can then refuse."""

    def teaches_student(self, teacher_id: int, student_id: int) -> bool:
        return True

    def teaches_class(self, teacher_id: int, class_id: int) -> bool:
        return True


class Crossed:
    """Teacher 10 teaches student 7 and class 3; the ids overlap on purpose (class 7 and student 3 are not his)."""

    def teaches_student(self, teacher_id: int, student_id: int) -> bool:
        return (teacher_id, student_id) == (10, 7)

    def teaches_class(self, teacher_id: int, class_id: int) -> bool:
        return (teacher_id, class_id) == (10, 3)


def test_own_reach_never_asks_who_teaches_whom() -> None:
    assert not rules.allowed(STUDENT, "diagnosis.read", Target("student", 2), Everyone())
    assert not rules.allowed(STUDENT, "responses.read", Target("class", 1), Everyone())
    assert rules.allowed(STUDENT, "diagnosis.read", Target("student", 1), Everyone())


def test_class_reach_asks_about_students_and_classes_separately() -> None:
    assert rules.allowed(TEACHER, "diagnosis.read", Target("student", 7), Crossed())
    assert not rules.allowed(TEACHER, "diagnosis.read", Target("student", 3), Crossed())
    assert rules.allowed(TEACHER, "class.read", Target("class", 3), Crossed())
    assert not rules.allowed(TEACHER, "class.read", Target("class", 7), Crossed())
