"""The subject of a typed problem that is in no question of the bank: a classifier over the bank's own labels.

A student who types a problem from a workbook asks about a question the bank does not hold, so there is no
question to anchor on and the subject must come from the text. Three kinds of evidence, trained on the bank
when it is indexed and kept beside its collection (``<collection>__topics``, one point per subject):

- the stored question vectors: a softmax regression (L2, scipy's L-BFGS) whose weight vector per subject is
  the point's vector (its norm and bias in the payload), so the subject's logit is ``norm * cos + bias``;
- the questions' words: naive Bayes over Korean morphemes, LaTeX/number terms and character pairs of each
  subject's questions and the start of their solutions (the most frequent terms, counts in the payload), and a
  linear SVM over the same terms (:mod:`jindan.rag.term_weights`, the largest weights in the payload);
- the subject's own name in the text (a workbook problem often names its unit: "이차부등식", "확률").

:func:`infer` adds them (log-probabilities), with the question the text is a near-copy of (the anchor) when
*find* sees one, and says how sure it is: ``confidence`` is the inferred subject's probability, and
``uncertain`` is set below a threshold so that the caller shows the topic and lets the student pick another
instead of mixing topics silently.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from jindan.rag.curriculum import Curriculum
from jindan.rag.latent import LatentTopics
from jindan.rag.term_weights import TermRegression, regression
from jindan.text.lexical import canonical, char_ngrams, has_hangul, terms, token_pairs
from jindan.vectors.base import CollectionSpec, Point, PointId, VectorStore

TOPIC_KIND = "topic"
TOPIC_PREFIX = "topic:"
TOPICS_SUFFIX = "__topics"
MAX_TOPICS = 200  # subjects kept (the largest); a bank with more labels is a bank of concepts, not of units
PER_SUBJECT = 2000  # questions per subject the regression is trained on (a stable sample beyond that)
TERMS_KEPT = 1500  # most frequent terms kept per subject for naive Bayes
L2 = 1e-4
ALPHA = 0.1  # naive Bayes smoothing
LR_TEMPERATURE = 3.0  # the regression is confident on its own training vectors; softened before adding
NB_TEMPERATURE = 10.0  # naive Bayes sums one log-probability per term: scaled to the regression's range
LEX_TEMPERATURE = 2.0  # the term regression, softened likewise (down to 1 as the bank grows: :attr:`trust`)
SOFTEN = 0.7  # the sum of the parts divided by 1 + SOFTEN x trust where the term regression is an SVM (calibration)
SOLUTION_MARK = "\x1e"  # between a question's problem and its solution in the text the topic model reads
NAME_BONUS = 2.0  # log-odds added to a subject whose full name the text contains
ANCHOR_BONUS = 1.0  # log-odds added to the subject of a question that holds part of the text, not all of it
OWN_WORDS = 10  # questions per subject from which the bank's own words start to outweigh the curriculum's
VOTERS, VOTE_T = 10, 0.02  # the neighbours' vote, where no model was trained
Source = Literal["anchor", "inferred", "chosen", "neighbours"]
Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TopicGuess:
    """The subject similar practice is about, and how sure the ranking is of it."""

    subject: str
    confidence: float  # the subject's probability given the text (1.0: the question itself, or chosen)
    source: Source
    uncertain: bool = False
    scores: tuple[tuple[str, float], ...] = ()  # every subject's probability, most likely first
    clues: tuple[str, ...] = ()  # the curriculum's words for the subject found in the text (why it looks so)

    def of(self, subject: str | None) -> float:
        return dict(self.scores).get(subject or "", 0.0)


def features(text: str) -> Counter[str]:
    """Terms naive Bayes reads: Korean content morphemes, LaTeX commands, numbers, words, character pairs."""
    return Counter(terms(text)) + char_ngrams(text)


def lexical_features(text: str) -> Counter[str]:
    """What the term regression reads: naive Bayes's terms and the neighbouring tokens as written."""
    return features(text) + token_pairs(text)


def split_solution(text: str) -> tuple[str, str]:
    """(problem, problem and solution) of a text :func:`jindan.rag.index.topic_text` wrote."""
    problem, _, solution = text.partition(SOLUTION_MARK)
    return problem, f"{problem}\n{solution}" if solution else problem


def _softmax_log(z: Matrix) -> Matrix:
    z = z - z.max(axis=-1, keepdims=True)
    out: Matrix = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return out


@dataclass
class TopicModel:
    subjects: list[str]
    weights: Matrix  # (dim, subjects)
    bias: Matrix  # (subjects,)
    counts: list[dict[str, int]]
    totals: list[int]
    sizes: list[int]
    vocabulary: int
    lexical: TermRegression | None = None
    _names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._names = [canonical(s) for s in self.subjects]

    @cached_property
    def prior_share(self) -> Matrix:
        """How much a subject still needs the curriculum's prior: 1 up to ``OWN_WORDS`` questions of its own,
        then less as the bank's questions teach the model the subject's words themselves."""
        return np.minimum(1.0, OWN_WORDS / np.maximum(np.asarray(self.sizes, np.float64), 1.0))

    @cached_property
    def trust(self) -> float:
        """How far the term regression is trusted over naive Bayes: 0 in a bank of up to ``OWN_WORDS``
        questions per subject (the parts weigh the same), towards 1 as the bank grows (the regression decides)."""
        return float(1 - self.prior_share.mean()) if self.lexical is not None else 0.0

    @cached_property
    def hangul(self) -> bool:
        """The term regression has learnt Korean words (a Korean bank)."""
        return self.lexical is not None and any(map(has_hangul, self.lexical.idf))

    @cached_property
    def curriculum(self) -> Curriculum | None:
        """The curriculum's terms for the subjects named after its units (None: no subject is)."""
        return Curriculum.for_subjects(self.subjects)

    @classmethod
    def fit(
        cls, vectors: Sequence[npt.ArrayLike], subjects: Sequence[str], texts: Sequence[str], *, l2: float = L2
    ) -> TopicModel | None:
        """Trained on the bank's questions (vector, subject, text); None when there are fewer than 2 subjects."""
        sizes = Counter(subjects)
        kept = [s for s, _ in sizes.most_common(MAX_TOPICS)]
        if len(kept) < 2:
            return None
        index = {s: i for i, s in enumerate(kept)}
        seen: Counter[str] = Counter()
        rows = []
        for i, s in enumerate(subjects):
            if s in index and seen[s] < PER_SUBJECT:
                seen[s] += 1
                rows.append(i)
        x = np.vstack([np.asarray(vectors[i], np.float64) for i in rows])
        y = np.array([index[subjects[i]] for i in rows], np.int64)
        weights, bias = regression(x, y, len(kept), l2)
        parts = [split_solution(texts[i]) for i in rows]
        found = [features(whole) for _, whole in parts]  # naive Bayes: the problem and its solution
        counts: list[Counter[str]] = [Counter() for _ in kept]
        for i, f in zip(rows, found, strict=True):
            counts[index[subjects[i]]].update(f)
        top = [dict(c.most_common(TERMS_KEPT)) for c in counts]
        vocabulary = len(set().union(*top))
        lexical = TermRegression.fit([lexical_features(problem) for problem, _ in parts], y, len(kept))
        sizes_kept = [seen[s] for s in kept]
        return cls(kept, weights, bias, top, [sum(c.values()) for c in top], sizes_kept, vocabulary, lexical)

    def log_probs(self, vector: npt.ArrayLike, text: str | None) -> Matrix:
        """log P(subject | text) before the anchor: the vector regression, and with text naive Bayes, the term
        regression and the subject names. The parts weigh 1/3 each in a small bank; as the bank grows
        (:attr:`trust`) the term regression takes naive Bayes's share at a lower temperature: trained on a few
        hundred problems per subject it tells them apart best (English out of bank 0.708 -> 0.762,
        docs/benchmarks.md)."""
        logp = _softmax_log((np.asarray(vector, np.float64) @ self.weights + self.bias) / LR_TEMPERATURE)
        if not text:
            return logp
        found = features(text)
        trust = self.trust if self.hangul or not has_hangul(text) else 0.0  # Korean on an English bank
        out = logp / 3
        if trust < 1:
            out = out + (1 - trust) / 3 * _softmax_log(self._bayes(found) / NB_TEMPERATURE)
        if self.lexical is not None:
            logits = self.lexical.logits(found + token_pairs(text)) / (LEX_TEMPERATURE - trust)
            out = out + (1 + 2 * trust) / 3 * _softmax_log(logits)
        out = out + NAME_BONUS * self.named(text)
        # the SVM's scaled margins are sharper than probabilities: softened as it takes over, the subject's
        # confidence stays calibrated (0.96 said where 0.93 were right, English out of bank, docs/benchmarks.md)
        return out / (1 + SOFTEN * trust) if self.lexical is not None and self.lexical.svm else out

    def _bayes(self, found: Counter[str]) -> Matrix:
        return np.array(
            [
                sum(n * math.log((c.get(t, 0) + ALPHA) / (total + ALPHA * self.vocabulary)) for t, n in found.items())
                for c, total in zip(self.counts, self.totals, strict=True)
            ]
        )

    def named(self, text: str) -> Matrix:
        """1 for each subject whose whole name is in the text (a longer name found beside it wins)."""
        flat = canonical(text)
        hit = {i for i, n in enumerate(self._names) if n and n in flat}
        out = np.zeros(len(self.subjects))
        for i in hit:
            if not any(j != i and self._names[i] in self._names[j] for j in hit):
                out[i] = 1.0
        return out

    def named_words(self, text: str) -> set[str]:
        """The subjects the text names at the start of a word ("확률을", "미분계수"; not "지수부등식", which
        :meth:`named` counts for 부등식): a name the text is written about, not part of another word."""
        return {s for s, pattern in zip(self.subjects, self._word_starts, strict=True) if pattern.search(text)}

    @cached_property
    def _word_starts(self) -> list[re.Pattern[str]]:
        return [re.compile(r"(?<![가-힣])" + r"\s*".join(map(re.escape, s.split()))) for s in self.subjects]

    def points(self) -> list[Point]:
        out = []
        for i, subject in enumerate(self.subjects):
            w = self.weights[:, i]
            norm = float(np.linalg.norm(w))
            payload = {
                "kind": TOPIC_KIND,
                "subject": subject,
                "norm": norm,
                "bias": float(self.bias[i]),
                "terms": self.counts[i],
                "total": self.totals[i],
                "size": self.sizes[i],
                "vocabulary": self.vocabulary,
            }
            if self.lexical is not None:
                lex = self.lexical.weights[i]
                payload["lexical"] = {
                    "weights": lex,
                    "bias": float(self.lexical.bias[i]),
                    "idf": {t: self.lexical.idf[t] for t in lex if t in self.lexical.idf},
                    "svm": self.lexical.svm,
                }
            vec = (w / norm if norm > 0 else w).astype(np.float32)
            out.append(Point(f"{TOPIC_PREFIX}{subject}", vec, payload))
        return out

    @classmethod
    def from_points(cls, points: Iterable[Point]) -> TopicModel | None:
        ps = sorted((p for p in points if p.payload.get("kind") == TOPIC_KIND), key=lambda p: str(p.id))
        if len(ps) < 2:
            return None
        weights = np.column_stack([np.asarray(p.vector, np.float64) * float(p.payload["norm"]) for p in ps])
        return cls(
            [str(p.payload["subject"]) for p in ps],
            weights,
            np.array([float(p.payload["bias"]) for p in ps]),
            [{str(k): int(v) for k, v in dict(p.payload.get("terms") or {}).items()} for p in ps],
            [int(p.payload.get("total", 0)) for p in ps],
            [int(p.payload.get("size", 0)) for p in ps],
            max(int(ps[0].payload.get("vocabulary", 1)), 1),
            _lexical([dict(p.payload.get("lexical") or {}) for p in ps]),
        )


def _lexical(parts: list[dict[str, Any]]) -> TermRegression | None:
    if not all(parts):
        return None
    idf: dict[str, float] = {}
    for part in parts:
        idf.update({str(t): float(v) for t, v in dict(part["idf"]).items()})
    weights = [{str(t): float(v) for t, v in dict(part["weights"]).items()} for part in parts]
    svm = all(bool(part.get("svm")) for part in parts)  # an index written before the SVM: its regression
    return TermRegression(idf, weights, np.array([float(part["bias"]) for part in parts]), svm)


def neighbour_votes(
    subjects: Sequence[str | None],
    scores: Sequence[float],
    *,
    voters: int = VOTERS,
    temperature: float = VOTE_T,
) -> dict[str, float]:
    """The nearest questions' subjects, weighted by softmax(similarity / temperature): a distribution."""
    votes: dict[str, float] = defaultdict(float)
    pairs = [(s, x) for s, x in zip(subjects, scores, strict=True) if s][:voters]
    if not pairs:
        return {}
    best = max(x for _, x in pairs)
    for s, x in pairs:
        votes[str(s)] += math.exp((x - best) / temperature)
    total = sum(votes.values())
    return {s: v / total for s, v in votes.items()}


def infer(
    model: TopicModel | None,
    vector: npt.ArrayLike,
    text: str | None,
    votes: Mapping[str, float],
    *,
    anchor: tuple[str, float] | None = None,
    strong_share: float = 0.6,
    anchor_bonus: float = ANCHOR_BONUS,
    uncertain_below: float = 0.5,
    curriculum: float = 0.0,
) -> TopicGuess | None:
    """The subject of a text. ``anchor``: (subject, share) of the question *find* put first, when it holds at
    least the anchor share of the text; from ``strong_share`` up it is the text's own question and decides,
    below it adds ``anchor_bonus`` to its subject's log-odds. ``curriculum``: log-odds per curriculum term of a
    subject's unit in the text (:mod:`jindan.rag.curriculum`). Without a model (a collection indexed before
    topics were trained) the neighbours' votes stand in for the classifier."""
    if model is not None:
        subjects, logp = list(model.subjects), model.log_probs(vector, text)
        if text and curriculum > 0 and model.curriculum is not None:
            logp = logp + curriculum * model.curriculum.evidence(text) * model.prior_share
    else:
        subjects = sorted(votes)
        if not subjects:
            return None
        logp = np.log(np.array([votes[s] for s in subjects]) + 1e-4)
    source: Source = "inferred" if model is not None else "neighbours"
    if anchor is not None and anchor[0] not in subjects:  # a subject the model has not seen (added since)
        subjects, logp = [*subjects, anchor[0]], np.append(logp, math.log(1e-4))
    if anchor is not None:
        i = subjects.index(anchor[0])
        if anchor[1] >= strong_share:
            logp = np.full(len(subjects), -np.inf)
            logp[i], source = 0.0, "anchor"
        else:
            logp[i] += anchor_bonus
    probs = np.exp(_softmax_log(logp))
    order = np.argsort(-probs, kind="stable")
    best = int(order[0])
    clues = _clues(model, text, subjects[best]) if source == "inferred" and curriculum > 0 else ()
    return TopicGuess(
        subjects[best],
        round(float(probs[best]), 4),
        source,
        source != "anchor" and float(probs[best]) < uncertain_below,
        tuple((subjects[int(i)], round(float(probs[int(i)]), 4)) for i in order if probs[int(i)] > 0),
        clues,
    )


def _clues(model: TopicModel | None, text: str | None, subject: str) -> tuple[str, ...]:
    """The curriculum's words for the subject found in the text (none without a glossary for the bank)."""
    if model is None or model.curriculum is None or not text or subject not in model.subjects:
        return ()
    return model.curriculum.clues(text, model.subjects.index(subject))


def _passage_body(text: str, subject: str | None) -> str:
    head = f"{subject}: " if subject else ""
    return text[len(head) :] if head and text.startswith(head) else text


def topics_collection(collection: str) -> str:
    """Where a collection's topic model lives: a small sibling collection, so the questions' own collection
    holds questions only (counts, id sets and migrations see nothing else)."""
    return f"{collection}{TOPICS_SUFFIX}"


def refresh(store: VectorStore, collection: str, texts: Mapping[PointId, str], field_name: str = "subject") -> int:
    """Train the topic model on the questions stored in ``collection`` (their vectors and subjects; ``texts``
    are what they were embedded from) and replace its topic points; a bank without any subject gets its
    latent topics (:mod:`jindan.rag.latent`) instead. Returns the number of subjects kept (0 for latent topics)."""
    vectors, subjects, bodies, unlabelled = [], [], [], []
    ids = [i for i in store.ids(collection) if i in texts]
    for start in range(0, len(ids), 1000):
        for p in store.retrieve(collection, ids[start : start + 1000], with_vectors=True):
            subject = p.payload.get(field_name)
            if p.payload.get("kind") in ("question", "doc") and p.vector.size:
                unlabelled.append(p.vector)
                if subject:
                    vectors.append(p.vector)
                    subjects.append(str(subject))
                    bodies.append(_passage_body(texts[p.id], str(subject)))
    model = TopicModel.fit(vectors, subjects, bodies)
    points = model.points() if model is not None else []
    if model is None and not subjects:  # a bank without subjects: its latent topics (clusters) instead
        latent = LatentTopics.fit(unlabelled)
        points = latent.points() if latent is not None else []
    name = topics_collection(collection)
    if not store.exists(name):
        if not points:
            return 0
        spec = store.spec(collection)
        store.create(
            CollectionSpec(name=name, dim=spec.dim, model_id=spec.model_id, payload_indexes={"kind": "keyword"})
        )
    stale = set(store.ids(name)) - {p.id for p in points}
    for start in range(0, len(points), 500):
        store.upsert(name, points[start : start + 500])
    if stale:
        store.delete(name, sorted(stale, key=str))
    return len(points) if model is not None else 0


def stored_topics(store: VectorStore, collection: str) -> list[Point]:
    """The collection's topic points, with their vectors ([] when no model was trained for it)."""
    name = topics_collection(collection)
    if not store.exists(name):
        return []
    return store.retrieve(name, list(store.ids(name)), with_vectors=True)


def load(store: VectorStore, collection: str) -> TopicModel | None:
    return TopicModel.from_points(stored_topics(store, collection))


def load_all(store: VectorStore, collection: str) -> tuple[TopicModel | None, LatentTopics | None]:
    """The topic model and the latent topics, read once (at most one of them is stored)."""
    points = stored_topics(store, collection)
    return TopicModel.from_points(points), LatentTopics.from_points(points)


def drop(store: VectorStore, collection: str) -> None:
    if store.exists(name := topics_collection(collection)):
        store.drop(name)


def describe(guess: TopicGuess | None) -> dict[str, Any] | None:
    if guess is None:
        return None
    return {
        "subject": guess.subject,
        "subject_confidence": guess.confidence,
        "uncertain": guess.uncertain,
        "source": guess.source,
        "topics": [{"subject": s, "confidence": p} for s, p in guess.scores],
    }
