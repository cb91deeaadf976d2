"""`jindan eval diagnosis`: fit on a pyKT TRAIN file, predict every TEST response from earlier ones only.

pyKT CSV layout: ``fold, uid, concepts, responses`` (comma lists, time order). Metrics: AUC, accuracy at 0.5,
RMSE, the number of predictions, fit time and prediction time per student, and the AUC of the explainable
logistic model alone (`auc_explainable`).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from jindan.diagnosis.model import auc, fit

Log = tuple[list[int], list[int]]


def read_pykt(path: Path, folds: set[int] | None = None, exclude_folds: set[int] | None = None) -> list[Log]:
    """The students of a pyKT CSV (of ``folds``, without ``exclude_folds``); ValueError naming the file and line
    of anything malformed."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    logs: list[Log] = []
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"concepts", "responses"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path}: not a pyKT CSV (no {', '.join(sorted(missing))} column)")
            for n, row in enumerate(reader, start=2):
                if row.get("concepts") is None or row.get("responses") is None:
                    raise ValueError(f"{path}:{n}: the row has fewer columns than the header")
                try:
                    fold = int(row.get("fold") or 0)
                    cs = [int(x) for x in (row["concepts"] or "").split(",")]
                    ys = [int(x) for x in (row["responses"] or "").split(",")]
                except ValueError as exc:
                    raise ValueError(f"{path}:{n}: {exc}") from exc
                if len(cs) != len(ys):
                    raise ValueError(f"{path}:{n}: {len(cs)} concepts but {len(ys)} responses")
                if (folds is not None and fold not in folds) or (exclude_folds and fold in exclude_folds):
                    continue
                keep = [i for i, c in enumerate(cs) if c >= 0 and ys[i] in (0, 1)]  # drop pyKT padding (-1)
                logs.append(([cs[i] for i in keep], [ys[i] for i in keep]))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return logs


def read_sides(
    train: Path, test: Path, test_fold: int | None = None, drop: set[int] | None = None
) -> tuple[list[Log], list[Log]]:
    """TRAIN and TEST students (``test_fold``: the same file split by fold; ``drop``: folds left out of both);
    ValueError when either side has no answers."""
    drop = drop or set()
    if test_fold is not None:
        tr, te = read_pykt(train, exclude_folds={test_fold} | drop), read_pykt(test, folds={test_fold} - drop)
    else:
        tr, te = read_pykt(train, exclude_folds=drop), read_pykt(test, exclude_folds=drop)
    for side, logs, path in (("TRAIN", tr, train), ("TEST", te, test)):
        if not any(cs for cs, _ in logs):
            fold = f" in fold {test_fold}" if side == "TEST" and test_fold is not None else ""
            raise ValueError(f"no answers to {'fit on' if side == 'TRAIN' else 'predict'}{fold} in {path}")
    return tr, te


def evaluate(train: list[Log], test: list[Log], *, l2: float = 1.0) -> dict[str, Any]:
    start = time.perf_counter()
    model = fit(train, l2=l2)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    preds, labels = [], []
    for cs, ys in test:
        if cs:
            preds.append(model.predict_sequence(cs, ys))
            labels.append(np.asarray(ys, dtype=np.float64))
    predict_s = time.perf_counter() - start
    p, y = np.concatenate(preds), np.concatenate(labels)
    explainable = np.concatenate([model.predict_explainable(cs, ys) for cs, ys in test if cs])
    parts = (("GRU", model.sequence), ("attention", model.attention), ("boosted trees", model.boosted))
    members = [name for name, part in parts if part]
    return {
        "auc": round(auc(y, p), 4),
        "auc_explainable": round(auc(y, explainable), 4),
        "acc": round(float(((p >= 0.5) == (y == 1)).mean()), 4),
        "rmse": round(float(np.sqrt(np.mean((p - y) ** 2))), 4),
        "n_predictions": len(y),
        "train_students": len(train),
        "test_students": len(test),
        "fit_s": round(fit_s, 2),
        "model": " + ".join(["logistic", *members]),
        "predict_ms_per_student": round(1000 * predict_s / max(len(test), 1), 3),
        "model_version": model.version,
        "weights": dict(zip(model.feature_names, [round(w, 3) for w in model.weights], strict=True)),
    }
