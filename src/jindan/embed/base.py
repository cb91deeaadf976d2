"""The embedder interface. Vectors are float32, L2-normalised, shape (n, dim); queries and passages are
separate calls because some models (e5) embed them differently."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]


class EmbedderError(RuntimeError):
    """An embedder failure with an actionable message."""


class EmbedderSwitchedOff(EmbedderError):
    """The embedder is a legacy API the operator switched off (`jindan legacy off`): deliberate, not transient.
    Vectors from another model would not match the collection, so there is no fallback: the message says how
    to move (re-index with a local embedder) or restore it."""


class ProviderGate(Protocol):
    """What an embedder asks before each call: the reason a provider is refused (the legacy switch), or None."""

    def refused(self, provider: str) -> str | None: ...


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
