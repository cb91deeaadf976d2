"""A student's diagnosis from their responses: mastery per concept with confidence, weakest and strongest.

Mastery of a concept is the model's probability that the student answers the *next* question on it correctly,
given everything they answered so far. Confidence grows with evidence (attempts on that concept): it is one
minus the width of a 90% Beta interval on their recency-weighted accuracy there, so one lucky answer is
"low confidence" and twenty consistent ones are "high".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import beta as beta_dist

from jindan.diagnosis.features import StudentState
from jindan.diagnosis.model import MasteryModel


@dataclass(frozen=True)
class ConceptMastery:
    concept_id: int
    name: str
    mastery: float  # P(correct on the next question of this concept)
    confidence: float  # 0..1
    evidence: int  # answers on this concept
    accuracy: float | None  # plain share of correct answers (None without evidence)


@dataclass
class DiagnosisResult:
    user_id: int
    model_version: str
    responses: int
    ability: float  # mean predicted success over the concepts with evidence (0.5 without any)
    concepts: list[ConceptMastery]
    weakest: list[int] = field(default_factory=list)
    strengths: list[int] = field(default_factory=list)
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def confidence(successes: float, total: float) -> float:
    if total <= 0:
        return 0.0
    lo, hi = beta_dist.ppf([0.05, 0.95], successes + 1, total - successes + 1)
    return float(round(1 - (hi - lo), 3))


def diagnose(
    model: MasteryModel,
    user_id: int,
    concepts: Sequence[int],
    correct: Sequence[int],
    names: dict[int, str],
    *,
    universe: Sequence[int] | None = None,
    top: int = 3,
) -> DiagnosisResult:
    """``concepts``/``correct``: the student's responses in time order; ``universe``: concepts to report on."""
    state = StudentState.new()
    for c, y in zip(concepts, correct, strict=True):
        state.update(c, y)
    wanted = sorted(set(universe or []) | set(concepts))
    if not wanted:
        return DiagnosisResult(user_id, model.version, 0, 0.5, [], notes=["no responses and no concepts to report"])
    feats = np.asarray([state.features(c) for c in wanted], dtype=np.float32)
    # mastery is the explainable logistic part; the GRU and the trees serve next-response prediction (eval, AUC)
    p = model.predict(feats, np.asarray(wanted, dtype=np.int64))
    rows = []
    for c, pc in zip(wanted, p, strict=True):
        st = state.concepts.get(c)
        n = (st.succ + st.fail) if st else 0
        rows.append(
            ConceptMastery(
                concept_id=c,
                name=names.get(c, f"concept {c}"),
                mastery=round(float(pc), 3),
                confidence=confidence(st.w_correct, st.w_total) if st else 0.0,
                evidence=n,
                accuracy=round(st.succ / n, 3) if st and n else None,
            )
        )
    seen = [r for r in rows if r.evidence > 0]
    result = DiagnosisResult(
        user_id,
        model.version,
        len(correct),
        round(float(np.mean([r.mastery for r in seen])), 3) if seen else 0.5,
        rows,
    )
    if not seen:
        result.notes.append("no responses yet: mastery shows the model's prior for each concept (confidence 0)")
        return result
    ranked = sorted(seen, key=lambda r: (r.mastery, -r.evidence))
    result.weakest = [r.concept_id for r in ranked[:top] if r.mastery < 0.7]
    result.strengths = [r.concept_id for r in reversed(ranked[-top:]) if r.mastery >= 0.8 and r.confidence >= 0.3]
    return result
