"""A diagnostic session's estimates and final diagnosis, in the shape of :class:`DiagnosisResult` (so the
narrative and the console read it like any diagnosis) plus each concept's 90% interval."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jindan.db.models import Concept, DiagnosticSession, Question
from jindan.diagnosis import adaptive
from jindan.diagnosis.bank import Bank
from jindan.diagnosis.engine import ConceptMastery, DiagnosisResult
from jindan.diagnosis.recommend import TARGET

TOP = 3
NEXT = 5


def _rows(
    belief: adaptive.Belief,
    concepts: list[int],
    names: dict[int, str],
    asked: list[dict[str, Any]],
    by_question: dict[int, tuple[int, ...]],
) -> list[dict[str, Any]]:
    evidence: dict[int, list[bool]] = {}
    for a in asked:
        for c in by_question.get(a["question_id"], ()):
            evidence.setdefault(c, []).append(bool(a["correct"]))
    out = []
    for k, c in enumerate(concepts):
        e = belief.estimate(k)
        ys = evidence.get(c, [])
        out.append(
            {
                "concept_id": c,
                "name": names.get(c, f"concept {c}"),
                "mastery": round(e.mastery, 3),
                "low": round(e.low, 3),
                "high": round(e.high, 3),
                "confidence": round(e.confidence, 3),
                "evidence": len(ys),
                "accuracy": round(sum(ys) / len(ys), 3) if ys else None,
            }
        )
    return out


def estimates(s: Session, row: DiagnosticSession) -> list[dict[str, Any]]:
    targets: list[int] = row.state["targets"]
    names = dict(s.execute(select(Concept.id, Concept.name).where(Concept.id.in_(targets))).tuples().all())
    qids = [a["question_id"] for a in row.state["asked"]]
    links: dict[int, tuple[int, ...]] = {}
    for q in s.scalars(select(Question).where(Question.id.in_(qids))) if qids else []:
        links[q.id] = tuple(c.id for c in q.concepts if c.id in set(targets))
    belief = adaptive.Belief.from_dict(row.state["belief"])
    return _rows(belief, targets, names, row.state["asked"], links)


def diagnosis_of(s: Session, row: DiagnosticSession, bank: Bank, belief: adaptive.Belief) -> dict[str, Any]:
    """Mastery +- interval per concept, weakest and strongest, next questions (unasked, predicted success in
    the practice band), as a dict stored with the session."""
    links = {q.id: q.concepts for q in bank.questions.values()}
    rows = _rows(belief, bank.concepts, bank.names, row.state["asked"], links)
    ranked = sorted(rows, key=lambda r: (r["mastery"], -r["evidence"]))
    weakest = [r["concept_id"] for r in ranked[:TOP] if r["mastery"] < 0.7]
    strengths = [r["concept_id"] for r in reversed(ranked[-TOP:]) if r["mastery"] >= 0.8 and r["confidence"] >= 0.3]
    asked = {a["question_id"] for a in row.state["asked"]}
    mid = sum(TARGET) / 2
    picks: list[dict[str, Any]] = []
    for cid in weakest:
        options = [
            (abs(belief.predict(bank.item(q.id)) - mid), q.id)
            for q in bank.questions.values()
            if cid in q.concepts and q.id not in asked
        ]
        for _, qid in sorted(options)[:2]:
            p = belief.predict(bank.item(qid))
            picks.append(
                {
                    "question_id": qid,
                    "concept_id": cid,
                    "concept": bank.names.get(cid, str(cid)),
                    "level": bank.questions[qid].level,
                    "predicted_success": round(p, 3),
                    "body": "",
                }
            )
    picks = _interleave(picks)[:NEXT]
    bodies = dict(
        s.execute(select(Question.id, Question.body).where(Question.id.in_([p["question_id"] for p in picks])))
        .tuples()
        .all()
    )
    for pick in picks:
        pick["body"] = bodies.get(pick["question_id"], "")[:300]
    seen = [r for r in rows if r["evidence"]]
    return {
        "user_id": row.user_id,
        "model_version": f"adaptive/{bank.calibration or 'prior'}",
        "responses": len(row.state["asked"]),
        "ability": round(sum(r["mastery"] for r in rows) / len(rows), 3) if rows else 0.5,
        "concepts": rows,
        "weakest": weakest,
        "strengths": strengths,
        "recommendations": picks,
        "notes": [] if seen else ["no answers: mastery shows the prior"],
        "narrative": None,
    }


def _interleave(picks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Round-robin over concepts: the first few next questions are not all on one concept."""
    rank: dict[int, int] = {}
    keyed: list[tuple[int, int, dict[str, Any]]] = []
    for p in picks:
        n = rank.get(p["concept_id"], 0)
        rank[p["concept_id"]] = n + 1
        keyed.append((n, len(keyed), p))
    return [p for _, _, p in sorted(keyed, key=lambda x: (x[0], x[1]))]


def result_of(data: dict[str, Any]) -> DiagnosisResult:
    """The stored diagnosis as a :class:`DiagnosisResult` (for the narrative)."""
    concepts = [
        ConceptMastery(c["concept_id"], c["name"], c["mastery"], c["confidence"], c["evidence"], c["accuracy"])
        for c in data["concepts"]
    ]
    return DiagnosisResult(
        data["user_id"],
        data["model_version"],
        data["responses"],
        data["ability"],
        concepts,
        list(data["weakest"]),
        list(data["strengths"]),
        list(data["recommendations"]),
        list(data["notes"]),
    )
