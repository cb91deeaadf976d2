"""A small recurrent model (DKT-style GRU) blended with the logistic model for prediction accuracy.

The logistic model stays the explanation a teacher reads; the GRU adds what a fixed feature set misses (order
effects, transfer between concepts). It is trained with torch when torch is installed (`jindan diagnosis fit`)
and runs in plain numpy at prediction time, so serving needs no torch. Inputs per step: the previous answer's
concept and outcome; output for a response: GRU state + the answered concept + the logistic model's features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from jindan.diagnosis.averaged import Averaged
from jindan.diagnosis.features import sequence_features
from jindan.diagnosis.fitting import fit_batches

Arr = npt.NDArray[np.float64]
NONE = 0  # previous outcome codes: 0 none, 1 wrong, 2 right


def _sig(x: Arr) -> Arr:
    out: Arr = 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))
    return out


@dataclass
class GruModel:
    """Weights as numpy arrays (names follow the torch module they were trained in)."""

    w: dict[str, Arr]
    concepts: int

    def to_dict(self) -> dict[str, Any]:
        return {"concepts": self.concepts, "w": {k: v.tolist() for k, v in self.w.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GruModel:
        return cls({k: np.asarray(v, dtype=np.float64) for k, v in data["w"].items()}, int(data["concepts"]))

    def _cid(self, c: int) -> int:
        return c if 0 <= c < self.concepts else self.concepts  # unknown concept -> the padding row

    def states(self, concepts: Sequence[int], correct: Sequence[int]) -> Arr:
        """GRU state before each response (and one more after the last): shape (n + 1, H)."""
        w = self.w
        hidden = w["gru.weight_hh_l0"].shape[1]
        prev_c = [self.concepts, *(self._cid(c) for c in concepts)]
        prev_y = [NONE, *(2 if y else 1 for y in correct)]
        x = np.concatenate([w["ce.weight"][prev_c], w["pe.weight"][prev_y]], axis=1)
        gi_all = x @ w["gru.weight_ih_l0"].T + w["gru.bias_ih_l0"]  # the inputs' part, every step at once
        w_hh, b_hh = w["gru.weight_hh_l0"], w["gru.bias_hh_l0"]
        h = np.zeros(hidden)
        out = np.empty((len(concepts) + 1, hidden))
        for t, gi in enumerate(gi_all):
            gh = w_hh @ h + b_hh
            rz = _sig(gi[: 2 * hidden] + gh[: 2 * hidden])
            n = np.tanh(gi[2 * hidden :] + rz[:hidden] * gh[2 * hidden :])
            h = n + rz[hidden:] * (h - n)
            out[t] = h
        return out

    def head(self, states: Arr, concepts: Sequence[int], features: npt.NDArray[np.float32]) -> Arr:
        w = self.w
        q = w["qe.weight"][[min(self._cid(c), self.concepts - 1) for c in concepts]]
        x = np.concatenate([states, q, features.astype(np.float64)], axis=1)
        hid = np.maximum(0.0, x @ w["out.0.weight"].T + w["out.0.bias"])
        logits: Arr = (hid @ w["out.2.weight"].T + w["out.2.bias"]).ravel()
        return logits

    def logits_sequence(self, concepts: Sequence[int], correct: Sequence[int]) -> Arr:
        s = self.states(concepts, correct)[: len(concepts)]
        return self.head(s, concepts, sequence_features(concepts, correct))


def train_set(logs: Sequence[tuple[Sequence[int], Sequence[int]]], *, seeds: int = 2) -> Averaged[GruModel]:
    return Averaged([train(logs, seed=seed) for seed in range(seeds)])


def network(concepts: int, hidden: int = 128) -> Any:
    """The torch module (``concepts`` known concepts; row ``concepts`` of the previous-concept embedding: none yet)."""
    import torch
    from torch import nn

    from jindan.diagnosis.features import NAMES

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ce = nn.Embedding(concepts + 1, 32)
            self.pe = nn.Embedding(3, 8)
            self.qe = nn.Embedding(concepts, 32)
            self.gru = nn.GRU(40, hidden, batch_first=True)
            self.out = nn.Sequential(nn.Linear(hidden + 32 + len(NAMES), 64), nn.ReLU(), nn.Linear(64, 1))

        def forward(self, c: Any, pc: Any, p: Any, f: Any) -> Any:
            hs, _ = self.gru(torch.cat([self.ce(pc), self.pe(p)], -1))
            return self.out(torch.cat([hs, self.qe(c), f], -1)).squeeze(-1)

    return Net()


def export(net: Any, concepts: int) -> GruModel:
    return GruModel({k: v.detach().double().numpy() for k, v in net.state_dict().items()}, concepts)


def train(
    logs: Sequence[tuple[Sequence[int], Sequence[int]]],
    *,
    epochs: int = 10,
    hidden: int = 128,
    seed: int = 0,
    threads: int | None = None,
) -> GruModel:
    """Fit with torch (Adam, batches of similar-length students). Raises ImportError without torch."""
    import torch

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    m_concepts = 1 + max((max(cs) for cs, _ in logs if len(cs)), default=0)
    items = []
    for cs, ys in logs:
        if not len(cs):
            continue
        items.append(
            (
                torch.tensor(list(cs)),
                torch.tensor([m_concepts, *cs[:-1]]),
                torch.tensor([NONE] + [2 if y else 1 for y in ys[:-1]]),
                torch.tensor(sequence_features(cs, ys)),
                torch.tensor(list(ys), dtype=torch.float32),
            )
        )
    net = network(m_concepts, hidden)
    fit_batches(net, items, pads=(0, m_concepts, 0, 0, -1.0), epochs=epochs, seed=seed, lr=3e-3)
    return export(net, m_concepts)
