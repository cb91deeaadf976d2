"""Scoring answers against the bank: final-answer extraction and normalisation, leaks, language, JSON."""

from __future__ import annotations

import pytest

from jindan.answers import grading


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (r"... so $x = \boxed{\dfrac{9}{7}}$.", r"\frac{9}{7}"),
        (r"The answer is $\frac{18}{14}$.", r"\dfrac{9}{7}"),
        (r"\boxed{0.5}", r"\frac12"),
        ("Therefore the total is 1,000.", "1000"),
        (r"\boxed{\$10}", "10"),
        (r"\boxed{90^\circ}", "90"),
        (r"\boxed{5\text{ cm}}", "5"),
        ("정답은 36입니다.", "36"),
        ("따라서 답은 ④이다.", r"④ $-\frac{5}{4}$"),
        (r"답: $-\frac{5}{4}$", r"④ $-\frac{5}{4}$"),
        (r"We get \boxed{\left( 1, \frac{1}{2} \right)}", r"\left(1,\frac{1}{2}\right)"),
    ],
)
def test_correct_answers(text: str, key: str) -> None:
    assert grading.correct(text, key) is True


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (r"\boxed{3}", "2"),
        ("First 36, then adding 1 gives 37.", "36"),  # without a box or phrase, the last number counts
        ("답은 ③이다.", r"④ $-\frac{5}{4}$"),
        ("no answer here", "7"),
    ],
)
def test_wrong_answers(text: str, key: str) -> None:
    assert grading.correct(text, key) is False


def test_no_key_is_unknown_not_wrong() -> None:
    assert grading.correct("anything", None) is None and grading.leaked("anything", "") is None


def test_boxed_keeps_nested_braces() -> None:
    assert grading.boxed(r"first \boxed{1} then \boxed{\frac{a}{b^{2}}} end") == r"\frac{a}{b^{2}}"


def test_hint_leaks() -> None:
    key = r"\frac{9}{7}"
    assert grading.leaked(r"Try writing $x = n + r$. The answer is $\frac{9}{7}$.", key)
    assert grading.leaked(r"so \boxed{9/7}", key)
    assert grading.leaked("x는 9/7 입니다", key)  # a non-trivial key stated verbatim
    assert not grading.leaked("Write x as n plus its fractional part first.", key)
    assert not grading.leaked("Look at x^2 + x - 6 and factor it.", "2")  # short keys only count when committed


def test_language_share() -> None:
    assert grading.in_language(r"분모 $x^2+x-6$ 을 인수분해 해 보세요.", "ko")
    assert not grading.in_language("Factor the denominator first.", "ko")
    assert grading.in_language("Factor the denominator first.", "en")
    assert not grading.in_language("$x^2$", "en")  # formulas alone are no language
    assert grading.hangul_share("") == 0.0


def test_json_object() -> None:
    assert grading.json_object('```json\n{"answer": "4", "explanation": "2+2"}\n```') == {
        "answer": "4",
        "explanation": "2+2",
    }
    assert grading.json_object('{"answer": ') is None and grading.json_object("[1, 2]") is None
