"""Linear models for the topic model: a softmax regression over dense vectors, and a linear SVM over a bank's
terms (TF-IDF).

The term regression reads the same terms as naive Bayes (Korean morphemes, formula terms, character pairs) but
learns which of them tell subjects apart; it keeps the ``KEPT`` largest weights per subject (and those terms'
inverse document frequencies), which is what the topic points store. It is a one-vs-rest linear SVM (squared
hinge, as liblinear's default) whose margins, scaled by ``MARGIN_SCALE``, are the subjects' logits: on a typed
MATH problem it tells the subjects apart better than the softmax regression it replaced (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
Scored = Callable[[Matrix], tuple[float, Matrix]]  # scores -> (loss, its gradient at the scores)
MIN_DF = 2  # a term in one question only says nothing about a subject
MAX_VOCABULARY = 20_000
KEPT = 2000  # weights kept per subject
L2 = 1e-4
C = 0.5  # the SVM's cost of a margin violation (liblinear's C)
MARGIN_SCALE = 4.0  # a margin of 1 read as a logit of 4: the SVM's weight beside the topic model's other parts


def _log_softmax(z: Matrix) -> Matrix:
    z = z - z.max(axis=-1, keepdims=True)
    out: Matrix = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return out


def _linear(x: Any, classes: int, scored: Scored, l2: float, maxiter: int) -> tuple[Matrix, Matrix]:
    """Weights and biases of a linear model on a dense or scipy-sparse matrix (scipy's L-BFGS): ``scored`` gives
    the data's loss and its gradient at the scores ``x @ w + b``; ``l2 / 2 |w|^2`` is added (the bias is free)."""
    from scipy.optimize import minimize

    dim = x.shape[1]

    def loss(theta: Matrix) -> tuple[float, Matrix]:
        w, b = theta[: dim * classes].reshape(dim, classes), theta[dim * classes :]
        value, grad = scored(np.asarray(x @ w) + b)
        value += l2 / 2 * float((w * w).sum())
        return value, np.concatenate([(np.asarray(x.T @ grad) + l2 * w).ravel(), grad.sum(0)])

    start = np.zeros(dim * classes + classes)
    theta = np.asarray(minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": maxiter}).x)
    return theta[: dim * classes].reshape(dim, classes), theta[dim * classes :]


def _targets(y: npt.NDArray[np.int64], classes: int, other: float) -> Matrix:
    out = np.full((len(y), classes), other)
    out[np.arange(len(y)), y] = 1.0
    return out


def regression(x: Any, y: npt.NDArray[np.int64], classes: int, l2: float = L2) -> tuple[Matrix, Matrix]:
    """Multinomial logistic regression, L2 (mean log-loss + l2 / 2 |w|^2): weights, biases."""
    onehot, n = _targets(y, classes, 0.0), len(y)

    def scored(z: Matrix) -> tuple[float, Matrix]:
        logp = _log_softmax(z)
        return -float((onehot * logp).sum()) / n, (np.exp(logp) - onehot) / n

    return _linear(x, classes, scored, l2, 300)


def margins(x: Any, y: npt.NDArray[np.int64], classes: int, c: float = C) -> tuple[Matrix, Matrix]:
    """One-vs-rest linear SVM, L2-regularised squared hinge (liblinear's primal form: |w|^2 / 2 + c x the
    squared violations): weights, biases."""
    sign = _targets(y, classes, -1.0)

    def scored(z: Matrix) -> tuple[float, Matrix]:
        slack = np.maximum(0.0, 1 - sign * z)
        return c * float((slack * slack).sum()), -2 * c * sign * slack

    return _linear(x, classes, scored, 1.0, 1000)


@dataclass
class TermRegression:
    idf: dict[str, float]
    weights: list[dict[str, float]]  # per subject: term -> weight (the largest KEPT)
    bias: Matrix
    svm: bool = False  # the weights are an SVM's (sharper than the softmax regression's of older indexes)

    @classmethod
    def fit(cls, found: Sequence[Counter[str]], y: npt.NDArray[np.int64], classes: int) -> TermRegression | None:
        import scipy.sparse as sp

        df = Counter(t for f in found for t in f)
        terms = [t for t, c in df.most_common(MAX_VOCABULARY) if c >= MIN_DF]
        if not terms:
            return None
        n = len(found)
        idf = {t: math.log(n / (1 + df[t])) + 1 for t in terms}
        index = {t: i for i, t in enumerate(terms)}
        rows, cols, vals = [], [], []
        for r, f in enumerate(found):
            vec = _tfidf(f, idf)
            for t, v in vec.items():
                rows.append(r)
                cols.append(index[t])
                vals.append(v)
        x = sp.csr_matrix((vals, (rows, cols)), shape=(n, len(terms)))
        w, b = margins(x, y, classes)
        w, b = w * MARGIN_SCALE, b * MARGIN_SCALE
        weights = []
        for c in range(classes):
            top = np.argsort(-np.abs(w[:, c]), kind="stable")[:KEPT]
            weights.append({terms[i]: round(float(w[i, c]), 5) for i in top if w[i, c] != 0})
        kept = set().union(*weights)
        return cls({t: round(v, 5) for t, v in idf.items() if t in kept}, weights, b, svm=True)

    def logits(self, found: Counter[str]) -> Matrix:
        vec = _tfidf(found, self.idf)
        return np.array([sum(w.get(t, 0.0) * v for t, v in vec.items()) for w in self.weights]) + self.bias


def _tfidf(found: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    """(1 + log tf) x idf over the known terms, L2-normalised."""
    vec = {t: (1 + math.log(n)) * idf[t] for t, n in found.items() if t in idf and n > 0}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {t: v / norm for t, v in vec.items()}


class TermPool:
    """A text's terms against a pool of candidates' terms, TF-IDF weighted by the pool's own document
    frequencies (no statistics of the whole bank needed): :meth:`scores` is each candidate's cosine to the text,
    :meth:`expanded` its cosine to the text moved towards some of the candidates (weighted like the probe)."""

    def __init__(self, text: Counter[str], pool: Mapping[Hashable, Counter[str]]) -> None:
        df: Counter[str] = Counter()
        for found in pool.values():
            df.update(found.keys())
        n = len(pool)
        self.idf = {t: math.log((n + 1) / (c + 1)) + 1 for t, c in df.items()}
        unseen = math.log(n + 1) + 1  # a term of the text no candidate has: rarest there is
        self.text = _tfidf(text, {**{t: unseen for t in text}, **self.idf})
        self.docs = {i: _tfidf(found, self.idf) for i, found in pool.items()}

    def scores(self, ids: Sequence[Hashable]) -> Matrix:
        return np.array([_dot(self.text, self.docs.get(i, {})) for i in ids])

    def expanded(self, near: Sequence[Hashable], weights: npt.ArrayLike, ids: Sequence[Hashable]) -> Matrix:
        w = np.asarray(weights, np.float64)
        moved: dict[str, float] = dict(self.text)
        for i, x in zip(near, w / w.sum(), strict=True):
            for t, v in self.docs.get(i, {}).items():
                moved[t] = moved.get(t, 0.0) + float(x) * v
        norm = math.sqrt(sum(v * v for v in moved.values())) or 1.0
        return np.array([_dot(moved, self.docs.get(i, {})) / norm for i in ids])


def _dot(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(b) < len(a):
        a, b = b, a
    return sum(v * b.get(t, 0.0) for t, v in a.items())
