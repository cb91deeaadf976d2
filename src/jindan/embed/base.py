"""The embedder interface. Vectors are float32, L2-normalised, shape (n, dim); queries and passages are
separate calls because some models (e5) embed them differently."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]


class EmbedderError(RuntimeError):
    """An embedder failure with an actionable message."""


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_queries(self, texts: list[str]) -> Matrix: ...

    def embed_passages(self, texts: list[str]) -> Matrix: ...


def normalized(rows: npt.ArrayLike, dim: int, model_id: str) -> Matrix:
    """float32, L2-normalised, and the dimension the collection expects (checked, never assumed)."""
    m = np.ascontiguousarray(np.asarray(rows, dtype=np.float32))
    if m.ndim == 1:
        m = m[None, :]
    if m.shape[1] != dim:
        raise EmbedderError(f"{model_id} returned {m.shape[1]}-d vectors; configured dimension is {dim}")
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Matrix = (m / norms).astype(np.float32)
    return out
