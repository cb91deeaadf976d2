"""An attention model of a student's history (AKT / simpleKT style), the third member of the prediction blend.

The concept asked attends to the student's strictly earlier answers, each a (concept, outcome) embedding first
read by one causal transformer layer, plus a learned "no history yet" slot. Each of the 4 heads has a learned
decay on the distance to an earlier answer and a learned bonus for an answer on the same concept. The head reads
the attention output, the concept and the logistic model's 13 features, as the GRU's does. It sees the history
differently from the GRU (all earlier answers at once rather than one state), which is why averaging it in helps
a little even though alone it is weaker (docs/benchmarks.md).

Trained with torch (`jindan diagnosis fit`, when torch is installed); prediction is plain numpy, so serving needs
no torch. The numpy forward pass gives torch's logits (tested).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from jindan.diagnosis.averaged import Averaged
from jindan.diagnosis.features import sequence_features
from jindan.diagnosis.fitting import fit_batches

Arr = npt.NDArray[np.float64]
WIDTH = 64
HEADS = 4
EPS = 1e-5  # torch's LayerNorm default


def _linear(w: dict[str, Arr], name: str, x: Arr) -> Arr:
    out: Arr = x @ w[f"{name}.weight"].T + w[f"{name}.bias"]
    return out


def _norm(w: dict[str, Arr], name: str, x: Arr) -> Arr:
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    out: Arr = (x - mu) / np.sqrt(var + EPS) * w[f"{name}.weight"] + w[f"{name}.bias"]
    return out


def _softmax(s: Arr) -> Arr:
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    out: Arr = e / e.sum(-1, keepdims=True)
    return out


def _split(x: Arr, heads: int) -> Arr:
    """(n, d) -> (heads, n, d / heads)"""
    return x.reshape(x.shape[0], heads, -1).transpose(1, 0, 2)


def _join(x: Arr) -> Arr:
    """(heads, n, dh) -> (n, heads * dh)"""
    return x.transpose(1, 0, 2).reshape(x.shape[1], -1)


@dataclass
class AttentionModel:
    """Weights as numpy arrays (names follow the torch module they were trained in)."""

    w: dict[str, Arr]
    concepts: int
    heads: int = HEADS

    def to_dict(self) -> dict[str, Any]:
        return {"concepts": self.concepts, "heads": self.heads, "w": {k: v.tolist() for k, v in self.w.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttentionModel:
        w = {k: np.asarray(v, dtype=np.float64) for k, v in data["w"].items()}
        return cls(w, int(data["concepts"]), int(data.get("heads", HEADS)))

    def _encode(self, v: Arr) -> Arr:
        """The causal transformer layer over the answers (torch's TransformerEncoderLayer, post-norm, ReLU)."""
        w, h = self.w, self.heads
        qkv = v @ w["encoder.self_attn.in_proj_weight"].T + w["encoder.self_attn.in_proj_bias"]
        q, k, val = np.split(qkv, 3, axis=-1)
        qh, kh, vh = _split(q, h), _split(k, h), _split(val, h)
        s = qh @ kh.transpose(0, 2, 1) / math.sqrt(qh.shape[-1])
        n = len(v)
        s = np.where(np.triu(np.ones((n, n), dtype=bool), 1), -np.inf, s)  # an answer sees itself and earlier
        attended = _linear(w, "encoder.self_attn.out_proj", _join(_softmax(s) @ vh))
        x = _norm(w, "encoder.norm1", v + attended)
        ff = _linear(w, "encoder.linear2", np.maximum(0.0, _linear(w, "encoder.linear1", x)))
        return _norm(w, "encoder.norm2", x + ff)

    def logits_sequence(self, concepts: Sequence[int], correct: Sequence[int]) -> Arr:
        w, h, m = self.w, self.heads, self.concepts
        n = len(concepts)
        if n == 0:
            return np.zeros(0)
        c = np.array([x if 0 <= x < m else m for x in concepts], dtype=np.int64)
        q = w["qe.weight"][c]
        v = self._encode(w["re.weight"][c * 2 + np.asarray(correct, dtype=np.int64)] + q)
        keys = _linear(w, "wk", np.vstack([w["null_k"], q]))  # key 0: no history yet; key j + 1: answer j
        values = _linear(w, "wv", np.vstack([w["null_v"], v]))
        qh, kh, vh = _split(_linear(w, "wq", q), h), _split(keys, h), _split(values, h)
        s = qh @ kh.transpose(0, 2, 1) / math.sqrt(qh.shape[-1])  # (heads, n, n + 1)
        now, then = np.arange(n)[:, None], np.arange(n + 1)[None, :] - 1
        distance = np.where(then < 0, 0, np.maximum(now - then, 0)).astype(np.float64)
        decay = np.log1p(np.exp(w["decay"]))  # softplus
        same = (c[:, None] == np.concatenate([[-1], c])[None, :]).astype(np.float64)
        s = s - decay[:, None, None] * distance + w["same"][:, None, None] * same
        s = np.where(then >= now, -np.inf, s)  # only strictly earlier answers
        x = _norm(w, "ln", q + _linear(w, "wo", _join(_softmax(s) @ vh)))
        x = _norm(w, "ln2", x + _linear(w, "ffn.2", np.maximum(0.0, _linear(w, "ffn.0", x))))
        hidden = np.maximum(0.0, _linear(w, "out.0", np.hstack([x, q, sequence_features(concepts, correct)])))
        out: Arr = _linear(w, "out.2", hidden).ravel()
        return out


def network(concepts: int, width: int = WIDTH) -> Any:
    """The torch module (``concepts`` known concepts; row ``concepts`` of the embeddings: unknown, padding)."""
    import torch
    from torch import nn

    from jindan.diagnosis.features import NAMES

    m, d, h = concepts, width, HEADS

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qe = nn.Embedding(m + 1, d)
            self.re = nn.Embedding(2 * (m + 1), d)  # (concept, outcome)
            self.wq, self.wk, self.wv, self.wo = (nn.Linear(d, d) for _ in range(4))
            self.null_k, self.null_v = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))
            self.decay, self.same = nn.Parameter(torch.zeros(h)), nn.Parameter(torch.zeros(h))
            self.encoder = nn.TransformerEncoderLayer(d, h, 2 * d, dropout=0.0, batch_first=True)
            self.ln, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
            self.out = nn.Sequential(nn.Linear(2 * d + len(NAMES), 64), nn.ReLU(), nn.Linear(64, 1))

        def forward(self, c: Any, y: Any, f: Any) -> Any:
            b, t = c.shape
            q = self.qe(c)
            v = self.encoder(self.re(c * 2 + y) + q, src_mask=torch.triu(torch.ones(t, t, dtype=torch.bool), 1))

            def split(x: Any) -> Any:
                return x.view(b, -1, h, d // h).transpose(1, 2)

            keys = torch.cat([split(self.wk(self.null_k).expand(b, 1, -1)), split(self.wk(q))], 2)
            values = torch.cat([split(self.wv(self.null_v).expand(b, 1, -1)), split(self.wv(v))], 2)
            s = split(self.wq(q)) @ keys.transpose(-1, -2) / math.sqrt(d // h)
            now, then = torch.arange(t)[:, None], torch.arange(t + 1)[None, :] - 1
            distance = torch.where(then < 0, 0, now - then).clamp(min=0).float()
            s = s - nn.functional.softplus(self.decay).view(1, h, 1, 1) * distance
            same = (c[:, :, None] == torch.cat([torch.full((b, 1), -1), c], 1)[:, None, :]).float()
            s = (s + self.same.view(1, h, 1, 1) * same[:, None]).masked_fill(then >= now, float("-inf"))
            x = self.ln(q + self.wo((torch.softmax(s, -1) @ values).transpose(1, 2).reshape(b, t, d)))
            x = self.ln2(x + self.ffn(x))
            return self.out(torch.cat([x, q, f], -1)).squeeze(-1)

    return Net()


def export(net: Any, concepts: int) -> AttentionModel:
    return AttentionModel({k: v.detach().double().numpy() for k, v in net.state_dict().items()}, concepts)


def train(
    logs: Sequence[tuple[Sequence[int], Sequence[int]]], *, epochs: int = 10, seed: int = 0, width: int = WIDTH
) -> AttentionModel:
    """Fit with torch (Adam, batches of similar-length students). Raises ImportError without torch."""
    import torch

    torch.manual_seed(seed)
    m = 1 + max((max(cs) for cs, _ in logs if len(cs)), default=0)
    items = [
        (
            torch.tensor([x if 0 <= x < m else m for x in cs]),
            torch.tensor(list(ys)),
            torch.tensor(sequence_features(cs, ys)),
            torch.tensor(list(ys), dtype=torch.float32),
        )
        for cs, ys in logs
        if len(cs)
    ]
    net = network(m, width)
    fit_batches(net, items, pads=(m, 0, 0, -1.0), epochs=epochs, seed=seed, lr=2e-3)
    return export(net, m)


def train_set(logs: Sequence[tuple[Sequence[int], Sequence[int]]], *, seeds: int = 2) -> Averaged[AttentionModel]:
    return Averaged([train(logs, seed=seed) for seed in range(seeds)])
