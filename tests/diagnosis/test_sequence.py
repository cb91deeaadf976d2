"""The GRU member: numpy predicts what torch predicts (concepts it never saw included), from earlier answers only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jindan.diagnosis import sequence
from jindan.diagnosis.features import sequence_features

CONCEPTS = 10


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    module = sequence.network(CONCEPTS, hidden=16)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return module.eval()


def _torch_logits(net: torch.nn.Module, cs: list[int], ys: list[int]) -> np.ndarray:
    known = [c if 0 <= c < CONCEPTS else CONCEPTS for c in cs]  # the numpy model's rows for an unknown concept
    c = torch.tensor([[min(k, CONCEPTS - 1) for k in known]])
    pc = torch.tensor([[CONCEPTS, *known[:-1]]])
    p = torch.tensor([[sequence.NONE] + [2 if y else 1 for y in ys[:-1]]])
    f = torch.tensor(sequence_features(cs, ys))[None]
    with torch.no_grad():
        out: np.ndarray = net(c, pc, p, f)[0].double().numpy()
    return out


def test_numpy_gives_the_logits_torch_gives(net: torch.nn.Module) -> None:
    rng = np.random.default_rng(0)
    cs = [int(c) for c in rng.integers(0, CONCEPTS + 3, size=80)]  # some concepts the model never saw
    ys = [int(y) for y in rng.integers(0, 2, size=80)]
    model = sequence.export(net, CONCEPTS)
    assert np.abs(model.logits_sequence(cs, ys) - _torch_logits(net, cs, ys)).max() < 1e-4
    again = sequence.GruModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.array_equal(again.logits_sequence(cs, ys), model.logits_sequence(cs, ys))
    assert model.logits_sequence([], []).shape == (0,)


def test_each_prediction_reads_earlier_answers_only(net: torch.nn.Module) -> None:
    model = sequence.export(net, CONCEPTS)
    cs, ys = [1, 2, 1, 3, 1, 2, 4, 1], [1, 0, 0, 1, 1, 0, 1, 0]
    n = 4
    flipped = ys[:n] + [1 - y for y in ys[n:]]
    a, b = model.logits_sequence(cs, ys), model.logits_sequence(cs, flipped)
    assert np.array_equal(a[: n + 1], b[: n + 1])  # the answer at n is predicted before it is given
    assert not np.allclose(a[n + 1 :], b[n + 1 :])
