"""``auto``: the embedder is chosen by the bank's language when the bank is indexed.

A bank of problems whose passages hold (almost) no Hangul is embedded by the English embedder
(all-MiniLM-L6-v2: about 4x faster than e5 on a CPU, and as good or better on English problems); a Korean or
mixed bank, and a bank with reading passages (learning materials), by e5, which reads both languages and finds
a passage for a question better. The collection records the model that embedded it, and queries are embedded
by that model (:func:`jindan.embed.registry.embedder_for`), so the choice is made once per collection.

Before any bank is indexed (and for anything that is not a bank: a query with no collection yet) ``auto`` is e5.
When the English embedder cannot be built here (sentence-transformers not installed), every bank gets e5.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from jindan.embed.base import Embedder, EmbedderError, Matrix

HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
LATIN = re.compile(r"[A-Za-z]")
ENGLISH_BELOW = 0.01  # a bank is English when fewer than 1 in 100 of its passages hold Hangul


def hangul_share(texts: Sequence[str]) -> float:
    """The share of the texts that hold Hangul (0.0 for none): a Korean question among English ones is a
    question the English embedder cannot read, whatever its length."""
    return sum(1 for t in texts if HANGUL.search(t)) / len(texts) if texts else 0.0


def is_english(texts: Sequence[str], below: float = ENGLISH_BELOW) -> bool:
    """True for a bank with Latin letters in it and (almost) no Hangul."""
    return any(LATIN.search(t) for t in texts) and hangul_share(texts) < below


class AutoEmbedder:
    """e5 until a bank is indexed; :meth:`for_texts` picks the embedder a bank's passages get.

    ``build`` makes an embedder by provider name (the registry's); ``korean`` reads every language and is used
    for queries and for any bank with Hangul in it, ``english`` only for banks without."""

    def __init__(
        self,
        build: Callable[[str], Embedder],
        korean: str = "e5",
        english: str = "sentence-transformers",
        english_model: str = "all-MiniLM-L6-v2",
    ) -> None:
        self._build, self.english_provider = build, english
        self.korean = build(korean)
        self.delegate = self.korean  # what embeds until a bank chooses (the embedding cache files under it)
        self.model_id, self.dim = self.korean.model_id, self.korean.dim
        self.models = (self.model_id, english_model)  # a collection of either is one this embedder built
        self._english: Embedder | None = None

    def english(self) -> Embedder | None:
        """The English embedder, built once (None when it cannot run here, or its vectors do not fit)."""
        if self._english is None:
            try:
                self._english = self._build(self.english_provider)
            except EmbedderError:
                return None
        return self._english

    def for_model(self, model_id: str) -> Embedder | None:
        """The embedder of a collection built with ``model_id``, when it is one of auto's (one instance per model:
        the service's search and its background index share it)."""
        if model_id == self.korean.model_id:
            return self.korean
        return self.english() if model_id == self.models[1] else None

    def for_texts(self, texts: Sequence[str], *, reading: bool = False) -> Embedder:
        """The embedder for a bank of these passages: the English one only for an English bank of problems.
        ``reading``: the bank holds reading passages (learning materials) that questions are asked against,
        where e5 finds the passage more often (science question -> support passage: R@5 0.971 against
        MiniLM's 0.941), so it keeps e5 whatever its language."""
        if not reading and is_english(texts) and (english := self.english()) is not None:
            return english
        return self.korean

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self.korean.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self.korean.embed_passages(texts)
