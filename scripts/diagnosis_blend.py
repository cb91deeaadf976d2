"""How the prediction blend's weights were chosen: each learned member alone and blends of them. Prints JSON.

    python scripts/diagnosis_blend.py --fold 0 --cache /tmp/kt-blend/f0
    python scripts/diagnosis_blend.py --fold 1 --cache /tmp/kt-blend/f1

Fits the shipped members on the other four folds of ASSISTments 2015 (pyKT layout) and predicts every response of
the test fold from earlier ones only: the GRU (seeds 0-4), the boosted trees (seeds 0-4) and the attention model
(seeds 0-2) (`jindan.diagnosis.{sequence,boosted,attention}`). Each member's logits are cached in ``--cache``, so
a second run only blends. Needs torch and scikit-learn; about 16 minutes on 2 cores the first time.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jindan.diagnosis import attention, boosted, sequence
from jindan.diagnosis.model import auc
from jindan.evaluation.diagnosis import read_pykt

GRU_SEEDS = TREE_SEEDS = (0, 1, 2, 3, 4)  # as shipped (`jindan.diagnosis.model`)
ATTENTION_SEEDS = (0, 1, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/assist2015/train_valid.csv"))
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--cache", type=Path, required=True)
    args = ap.parse_args()
    train = [x for x in read_pykt(args.data, exclude_folds={args.fold}) if x[0]]
    test = [x for x in read_pykt(args.data, folds={args.fold}) if x[0]]
    y = np.concatenate([np.asarray(ys, dtype=np.float64) for _, ys in test])
    args.cache.mkdir(parents=True, exist_ok=True)
    fit_s: dict[str, float] = {}

    def member(name: str, fitted: Callable[[], Any]) -> np.ndarray:
        path = args.cache / f"{name}.npy"
        if not path.exists():
            start = time.perf_counter()
            model = fitted()
            np.save(path, np.concatenate([model.logits_sequence(cs, ys) for cs, ys in test]))
            fit_s[name] = round(time.perf_counter() - start, 1)
        z: np.ndarray = np.load(path)
        return z

    grus = [member(f"gru_s{s}", lambda s=s: sequence.train(train, seed=s)) for s in GRU_SEEDS]
    trees = [member(f"trees_s{s}", lambda s=s: boosted.train(train, seed=s)) for s in TREE_SEEDS]
    atts = [member(f"attention_s{s}", lambda s=s: attention.train(train, seed=s)) for s in ATTENTION_SEEDS]
    g, h, att = np.mean(grus, axis=0), np.mean(trees, axis=0), np.mean(atts, axis=0)
    g3, att2, h3 = np.mean(grus[:3], axis=0), np.mean(atts[:2], axis=0), np.mean(trees[:3], axis=0)  # before
    own = {"gru_s0": grus[0], "gru_mean": g, "trees_s0": trees[0], "trees_mean": h}
    own |= {"attention_s0": atts[0], "attention_mean": att}
    blends = {"gru_s0_s1 0.4 + trees_s0 0.6": auc(y, 0.4 * (grus[0] + grus[1]) / 2 + 0.6 * trees[0])}
    blends["gru 0.4 + trees 0.6"] = auc(y, 0.4 * g + 0.6 * h)
    blends["gru (3 seeds) 0.2 + attention (2) 0.2 + trees (3) 0.6"] = auc(y, 0.2 * g3 + 0.2 * att2 + 0.6 * h3)
    for wa, wg in ((0.1, 0.3), (0.15, 0.25), (0.15, 0.3), (0.2, 0.2), (0.1, 0.25), (0.2, 0.25)):
        wt = round(1 - wa - wg, 2)
        blends[f"gru {wg} + attention_s0 {wa} + trees {wt}"] = auc(y, wg * g + wa * atts[0] + wt * h)
    for wa, wg in ((0.15, 0.25), (0.2, 0.2), (0.25, 0.15), (0.2, 0.25)):
        wt = round(1 - wa - wg, 2)
        blends[f"gru {wg} + attention {wa} + trees {wt}"] = auc(y, wg * g + wa * att + wt * h)
    report = {
        "fold": args.fold,
        "predictions": len(y),
        "fit_and_predict_s": fit_s,
        "own": {k: round(auc(y, z), 4) for k, z in own.items()},
        "blends": {k: round(v, 5) for k, v in blends.items()},
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
