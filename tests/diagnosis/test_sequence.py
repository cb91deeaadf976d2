"""The GRU member: numpy predicts what torch predicts (concepts it never saw included), from earlier answers only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jindan.diagnosis import sequence
from jindan.diagnosis.features import sequence_features
from tests.diagnosis.members import assert_numpy_is_torch, assert_reads_earlier_answers_only, random_history

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
    history = random_history(CONCEPTS)
    model = sequence.export(net, CONCEPTS)
    assert_numpy_is_torch(model, _torch_logits(net, *history), history, sequence.GruModel.from_dict)


def test_each_prediction_reads_earlier_answers_only(net: torch.nn.Module) -> None:
    assert_reads_earlier_answers_only(sequence.export(net, CONCEPTS))
