"""A member of the prediction blend fitted with several seeds, its logits averaged: one seed moves a GRU's AUC by
about 0.002 and an attention model's or the trees' by about 0.0005, and the average is steadier and a little
better than any one of them (docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[np.float64]


class Member(Protocol):
    def logits_sequence(self, concepts: Sequence[int], correct: Sequence[int]) -> Arr: ...

    def to_dict(self) -> dict[str, Any]: ...


M = TypeVar("M", bound=Member)


@dataclass
class Averaged(Generic[M]):
    members: list[M]

    def logits_sequence(self, concepts: Sequence[int], correct: Sequence[int]) -> Arr:
        out: Arr = np.mean([m.logits_sequence(concepts, correct) for m in self.members], axis=0)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"members": [m.to_dict() for m in self.members]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], one: Callable[[dict[str, Any]], M]) -> Averaged[M]:
        """Also reads a single member (a model stored before members were averaged)."""
        return cls([one(d) for d in data.get("members", [data])])
