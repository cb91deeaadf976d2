"""The training loop the sequence members (the GRU, the attention model) share, with torch: Adam over students
in batches of 64 of similar length, shuffled every epoch, the learning rate cut to 0.3x after two thirds of the
epochs. Each item is one student's tensors, the target last; padded targets (-1) are left out of the loss."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def fit_batches(
    net: Any, items: Sequence[tuple[Any, ...]], *, pads: Sequence[float], epochs: int, seed: int, lr: float
) -> None:
    """Train ``net`` in place: ``net(*inputs)`` gives a logit per step; ``pads`` pads each tensor of an item."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pad_sequence

    opt = torch.optim.Adam(net.parameters(), lr=lr)
    decay = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, epochs * 2 // 3), gamma=0.3)
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    batches = [order[i : i + 64] for i in range(0, len(order), 64)]
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        rng.shuffle(batches)
        for b in batches:
            group = [items[i] for i in b]
            *inputs, target = (
                pad_sequence([g[j] for g in group], batch_first=True, padding_value=p) for j, p in enumerate(pads)
            )
            mask = target >= 0
            loss = nn.functional.binary_cross_entropy_with_logits(net(*inputs)[mask], target[mask])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        decay.step()
