"""Does an attention model add to the diagnosis blend (GRU + boosted trees)? Prints JSON; nothing is shipped.

    python scripts/diagnosis_attention.py --fold 0 --cache /tmp/kt-attn/f0
    python scripts/diagnosis_attention.py --fold 0 --cache /tmp/kt-attn/f0 --member gru --seed 2 --name gru_s2

Fits on the other four folds of ASSISTments 2015 (pyKT layout) and predicts every response of the test fold from
earlier ones only. Members, each cached as logits in ``--cache``: the shipped GRU (seeds 0 and 1) and trees, and an
AKT/simpleKT-style attention model: the current concept's embedding attends to earlier (concept, outcome)
embeddings (strictly earlier responses, plus a learned "no history" slot), with a learned decay per head on the
distance and a learned bonus per head for the same concept; optionally the earlier interactions are first encoded
by a causal transformer layer (``--encoder``). Its head reads the attention output, the concept and the 13
features, as the GRU's does. ``--member gru`` measures one more GRU instead (``--seed``, ``--hidden``).
Needs torch and scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from jindan.diagnosis import boosted, sequence
from jindan.diagnosis.features import NAMES, sequence_features
from jindan.diagnosis.model import auc
from jindan.evaluation.diagnosis import Log, read_pykt


class Attention(nn.Module):
    def __init__(self, m: int, *, d: int = 64, heads: int = 4, encoder: bool = True, features: bool = True) -> None:
        super().__init__()
        self.d, self.h, self.features = d, heads, features
        self.qe = nn.Embedding(m + 1, d)  # concept (row m: unknown or padding)
        self.re = nn.Embedding(2 * (m + 1), d)  # (concept, outcome)
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(d, d) for _ in range(4))
        self.null_k, self.null_v = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))
        self.decay = nn.Parameter(torch.zeros(heads))
        self.same = nn.Parameter(torch.zeros(heads))
        self.encoder = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout=0.0, batch_first=True) if encoder else None
        self.ln, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.out = nn.Sequential(nn.Linear(2 * d + (len(NAMES) if features else 0), 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, c: torch.Tensor, y: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        b, t, h = c.shape[0], c.shape[1], self.h
        dh = self.d // h
        q = self.qe(c)
        v = self.re(c * 2 + y) + q
        if self.encoder is not None:
            v = self.encoder(v, src_mask=torch.triu(torch.ones(t, t, dtype=torch.bool), 1))

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(b, -1, h, dh).transpose(1, 2)

        keys = torch.cat([heads(self.wk(self.null_k).expand(b, 1, -1)), heads(self.wk(q))], 2)
        values = torch.cat([heads(self.wv(self.null_v).expand(b, 1, -1)), heads(self.wv(v))], 2)
        s = heads(self.wq(q)) @ keys.transpose(-1, -2) / math.sqrt(dh)  # key 0: no history; key j + 1: response j
        now, then = torch.arange(t)[:, None], torch.arange(t + 1)[None, :] - 1
        distance = torch.where(then < 0, 0, now - then).clamp(min=0).float()
        s = s - nn.functional.softplus(self.decay).view(1, h, 1, 1) * distance
        same = (c[:, :, None] == torch.cat([torch.full((b, 1), -1), c], 1)[:, None, :]).float()
        s = s + self.same.view(1, h, 1, 1) * same[:, None]
        s = s.masked_fill(then >= now, float("-inf"))  # only strictly earlier responses
        a = (torch.softmax(s, -1) @ values).transpose(1, 2).reshape(b, t, self.d)
        x = self.ln(q + self.wo(a))
        x = self.ln2(x + self.ffn(x))
        parts = [x, q, f] if self.features else [x, q]
        out: torch.Tensor = self.out(torch.cat(parts, -1)).squeeze(-1)
        return out


def _items(logs: list[Log], m: int) -> list[tuple[torch.Tensor, ...]]:
    return [
        (
            torch.tensor([c if 0 <= c < m else m for c in cs]),
            torch.tensor(ys),
            torch.tensor(sequence_features(cs, ys)),
            torch.tensor(ys, dtype=torch.float32),
        )
        for cs, ys in logs
    ]


def _batch(group: list[tuple[torch.Tensor, ...]], m: int) -> tuple[torch.Tensor, ...]:
    return (
        pad_sequence([g[0] for g in group], batch_first=True, padding_value=m),
        pad_sequence([g[1] for g in group], batch_first=True),
        pad_sequence([g[2] for g in group], batch_first=True),
        pad_sequence([g[3] for g in group], batch_first=True, padding_value=-1.0),
    )


def attention_logits(train: list[Log], test: list[Log], *, seed: int, epochs: int, **kw: Any) -> np.ndarray:
    torch.manual_seed(seed)
    m = 1 + max(max(cs) for cs, _ in train)
    items = _items(train, m)
    net = Attention(m, **kw)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    decay = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, epochs * 2 // 3), gamma=0.3)
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    batches = [order[i : i + 64] for i in range(0, len(order), 64)]
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        rng.shuffle(batches)
        for bat in batches:
            c, y, f, target = _batch([items[i] for i in bat], m)
            mask = target >= 0
            loss = nn.functional.binary_cross_entropy_with_logits(net(c, y, f)[mask], target[mask])
            opt.zero_grad()
            loss.backward()
            opt.step()
        decay.step()
    net.eval()
    with torch.no_grad():
        return np.concatenate([net(*_batch([it], m)[:3])[0].double().numpy() for it in _items(test, m)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/assist2015/train_valid.csv"))
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--member", choices=["attention", "gru"], default="attention")
    ap.add_argument("--name", default="attention", help="cache name of the new member's logits")
    ap.add_argument("--hidden", type=int, default=128, help="GRU width (--member gru)")
    ap.add_argument("--no-encoder", action="store_true")
    ap.add_argument("--no-features", action="store_true")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    train = [x for x in read_pykt(args.data, exclude_folds={args.fold}) if x[0]]
    test = [x for x in read_pykt(args.data, folds={args.fold}) if x[0]]
    y = np.concatenate([np.asarray(ys, dtype=np.float64) for _, ys in test])
    args.cache.mkdir(parents=True, exist_ok=True)
    fit_s: dict[str, float] = {}

    def member(name: str, make: Any) -> np.ndarray:
        path = args.cache / f"{name}.npy"
        if not path.exists():
            start = time.perf_counter()
            np.save(path, make())
            fit_s[name] = round(time.perf_counter() - start, 1)
        z: np.ndarray = np.load(path)
        return z

    def gru(seed: int, hidden: int = 128) -> np.ndarray:
        g = sequence.train(train, seed=seed, hidden=hidden)
        return np.concatenate([g.logits_sequence(cs, ys) for cs, ys in test])

    def trees() -> np.ndarray:
        t = boosted.train(train)
        return np.concatenate([t.logits_sequence(cs, ys) for cs, ys in test])

    g0, g1 = member("gru_s0", lambda: gru(0)), member("gru_s1", lambda: gru(1))
    h = member("trees_s0", trees)
    kw = {"encoder": not args.no_encoder, "features": not args.no_features}
    if args.member == "gru":
        a = member(args.name, lambda: gru(args.seed, args.hidden))
    else:
        a = member(args.name, lambda: attention_logits(train, test, seed=args.seed, epochs=args.epochs, **kw))
    report: dict[str, Any] = {"fold": args.fold, "predictions": len(y), "fit_and_predict_s": fit_s}
    report["own"] = {k: round(auc(y, z), 4) for k, z in (("gru_s0", g0), ("gru_s1", g1), ("trees", h), (args.name, a))}
    for basis, g in (("one_gru_seed", g0), ("two_gru_seeds", (g0 + g1) / 2)):
        blends = {"shipped_0.4_0.6": auc(y, 0.4 * g + 0.6 * h)}
        for wg in (0.2, 0.3, 0.4):
            for wa in (0.1, 0.2):
                blends[f"gru{wg}_new{wa}_trees{round(1 - wg - wa, 2)}"] = auc(y, wg * g + wa * a + (1 - wg - wa) * h)
        report[basis] = {k: round(v, 4) for k, v in blends.items()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
