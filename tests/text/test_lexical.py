"""Korean morphemes and LaTeX-aware forms: what find's lexical features and the sparse vectors see."""

from __future__ import annotations

from jindan.text.lexical import canonical, char_ngrams, containment, terms, token_pairs


def test_korean_terms_are_stems_without_particles() -> None:
    a = terms("이차방정식의 두 근을 구하시오")
    b = terms("이차방정식 두 근 구하기")
    assert "방정식" in a and "근" in a and "구하" in a
    assert not {"의", "을", "시", "오"} & set(a)  # particles and endings are not terms
    assert set(b) >= {"방정식", "근", "구하"}


def test_latex_terms_and_english_words() -> None:
    assert terms(r"$\frac{3}{4}$ 를 소수로") == ("소수", "\\frac", "3", "4")
    assert terms("What is the sum of the roots?") == ("sum", "roots")


def test_latex_and_typed_math_meet_in_one_form() -> None:
    assert canonical(r"$-\frac{5}{4}$") == canonical("-5/4") == "-5/4"
    assert canonical(r"$(-3)\times(+4)$") == canonical("(-3)x(+4)") == canonical("(-3) * (+4)")
    assert canonical(r"$\sqrt{2} \le x$") == "√2≤x"
    pasted = char_ngrams("다음을 계산하시오. (-3)×(+4)-(-18)÷(-6)")
    bank = char_ngrams(r"다음을 계산하시오. $(-3)\times(+4)-(-18)\div(-6)$")
    assert containment(pasted, bank) == 1.0
    assert containment(char_ngrams("삼각형의 넓이"), bank) == 0.0


def test_token_pairs_keep_the_notation_a_problem_is_written_in() -> None:
    pairs = token_pairs(r"How many $x$ satisfy $x^2+\frac{1}{2}=3$? 이차방정식의 해")
    assert {"p:how many", "p:x ^", "p:\\frac {", "p:이차방정식의 해"} <= set(pairs)
    assert pairs["p:$ x"] == 2 and token_pairs("x") == {}
