"""The attention member: numpy predicts what torch predicts, from earlier answers only, and it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jindan.diagnosis import attention
from jindan.diagnosis.features import sequence_features
from jindan.diagnosis.model import auc
from jindan.evaluation.diagnosis import read_pykt
from tests.conftest import shared_file
from tests.diagnosis.members import assert_numpy_is_torch, assert_reads_earlier_answers_only, random_history

CONCEPTS = 10


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    module = attention.network(CONCEPTS)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))  # decay, same-concept bonus and the null slot away from zero
    return module.eval()


def _torch_logits(net: torch.nn.Module, cs: list[int], ys: list[int]) -> np.ndarray:
    c = torch.tensor([[x if 0 <= x < CONCEPTS else CONCEPTS for x in cs]])
    f = torch.tensor(sequence_features(cs, ys))[None]
    with torch.no_grad():
        out: np.ndarray = net(c, torch.tensor([ys]), f)[0].double().numpy()
    return out


def test_numpy_gives_the_logits_torch_gives(net: torch.nn.Module) -> None:
    history = random_history(CONCEPTS, n=60)
    model = attention.export(net, CONCEPTS)
    assert_numpy_is_torch(model, _torch_logits(net, *history), history, attention.AttentionModel.from_dict)


def test_each_prediction_reads_earlier_answers_only(net: torch.nn.Module) -> None:
    assert_reads_earlier_answers_only(attention.export(net, CONCEPTS))


def test_it_learns_from_students_answers() -> None:
    logs = [x for x in read_pykt(shared_file("assist2015/train_valid.csv"), folds={1})[:900] if x[0]]
    model = attention.train(logs[:700], epochs=3)
    z = np.concatenate([model.logits_sequence(cs, ys) for cs, ys in logs[700:]])
    y = np.concatenate([ys for _, ys in logs[700:]])
    assert auc(y, z) > 0.65
