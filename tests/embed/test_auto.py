"""``auto``: the embedder a bank gets is chosen by its language when it is indexed, and recorded on the collection."""

from __future__ import annotations

import pytest

from jindan.embed.auto import AutoEmbedder, hangul_share, is_english
from jindan.embed.base import Embedder, EmbedderError
from jindan.embed.registry import build_embedder, embedder_for
from jindan.settings import Settings

ENGLISH = [
    r"What is the value of $\frac{1}{2} + \frac{1}{3}$? Express your answer as a common fraction.",
    r"How many ways are there to put 5 balls in 2 boxes if the balls are distinguishable?",
    r"Find the area of the triangle with vertices $(0,0)$, $(4,0)$ and $(0,3)$.",
]
KOREAN = [
    r"이차방정식 $x^2-5x+6=0$의 두 근의 합을 구하시오.",
    "주사위 두 개를 던질 때 눈의 합이 7일 확률은?",
]


def test_a_bank_is_english_only_without_hangul() -> None:
    assert hangul_share(ENGLISH) == 0.0 and is_english(ENGLISH)
    assert hangul_share(KOREAN) == 1.0 and not is_english(KOREAN)
    mixed = ENGLISH * 10 + KOREAN[:1]  # one Korean question among 31 is a mixed bank
    assert hangul_share(mixed) == 1 / 31 and not is_english(mixed)
    assert is_english(ENGLISH * 40 + ["답: 3"])  # one in 121: a stray word does not make a bank Korean
    assert not is_english(["1 + 1 = 2", "3 * 4"]) and not is_english([])  # no letters: e5, which reads everything


def test_auto_is_e5_until_a_bank_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINDAN_EMBED__PROVIDER", "auto")
    auto = build_embedder(Settings())
    assert isinstance(auto, AutoEmbedder) and (auto.model_id, auto.dim) == ("multilingual-e5-small", 384)
    assert auto.models == ("multilingual-e5-small", "all-MiniLM-L6-v2")  # collections it may have built
    english = auto.for_texts(ENGLISH)
    assert auto.for_model("all-MiniLM-L6-v2") is english and auto.for_model("multilingual-e5-small") is auto.korean
    assert auto.for_model("text-embedding-3-small") is None
    assert english.model_id == "all-MiniLM-L6-v2"
    assert auto.for_texts(KOREAN).model_id == "multilingual-e5-small"
    assert auto.for_texts(ENGLISH + KOREAN).model_id == "multilingual-e5-small"
    assert embedder_for(Settings(), "multilingual-e5-small").__class__.__name__ == "E5Embedder"  # never "auto"


def test_auto_picks_its_own_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINDAN_EMBED__PROVIDER", "auto")
    monkeypatch.setenv("JINDAN_EMBED__MODEL", "all-MiniLM-L6-v2")
    with pytest.raises(EmbedderError, match="leave JINDAN_EMBED__MODEL empty"):
        build_embedder(Settings())


def test_without_the_english_embedder_every_bank_gets_e5() -> None:
    class Named:
        def __init__(self, model_id: str) -> None:
            self.model_id, self.dim = model_id, 384

        def embed_queries(self, texts: list[str]) -> None:
            raise AssertionError("not used")

        embed_passages = embed_queries

    def build(provider: str) -> Embedder:
        if provider == "sentence-transformers":
            raise EmbedderError("sentence-transformers is not installed")
        return Named("multilingual-e5-small")  # type: ignore[return-value]

    assert AutoEmbedder(build).for_texts(ENGLISH).model_id == "multilingual-e5-small"
