"""A question bank as a BEIR set, per intent: `jindan eval retrieval --bank DIR --intent find|similar`.

``DIR/questions.jsonl`` is the importer's format (``id, body, subject, choices, explanation``; the MATH names
``problem``/``solution`` work too) and ``DIR/queries.jsonl`` holds ``{_id, text, question_id}`` rows: what
students typed or pasted for a question. A questions file alone (no queries) makes every question its own
query, as the MATH same-subject set does.

- find: relevant = the question the query was written for.
- similar: relevant = every other question of its subject (the question itself is not relevant).

The corpus text is what the product embeds for a question (text, choices, the start of the solution); the
title is the subject, left empty with ``subjects=False`` to measure a bank without subject labels.

``out_of_bank=True`` (intent similar): the problems students ask about are in no question of the bank. The
questions are split in two by a hash of their id: one half is the bank (at most ``bank_size`` of it, in hash
order), the other half asks: its students' queries when there is a queries file, else each question's own text
(at most ``max_queries``). Relevant = every bank question of the asking question's subject (known from the file
even when the bank is measured without labels).
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from jindan.evaluation.retrieval import BeirSet, _jsonl
from jindan.rag.index import searchable_text
from jindan.rag.intents import Intent


def _field(row: dict[str, Any], *names: str) -> Any:
    return next((row[n] for n in names if row.get(n) not in (None, "")), None)


def held_back(question_id: str) -> bool:
    """The half of a bank that asks in the out-of-bank sets: a stable hash of the id, not its position."""
    return zlib.crc32(question_id.encode()) % 2 == 1


def _hash_order(ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda i: (zlib.crc32(f"order:{i}".encode()), i))


def bank_set(
    path: Path,
    intent: Intent,
    *,
    subjects: bool = True,
    out_of_bank: bool = False,
    bank_size: int | None = None,
    max_queries: int | None = None,
) -> BeirSet:
    questions = path / "questions.jsonl" if path.is_dir() else path
    if not questions.exists():
        raise ValueError(f"{path}: no questions.jsonl")
    corpus: dict[str, tuple[str, str]] = {}
    subject_of: dict[str, str] = {}
    own: dict[str, str] = {}  # each question's text and choices: its query when there is no queries file
    style: dict[str, str] = {}
    for r in _jsonl(questions):
        qid = str(_field(r, "id", "_id", "question_id"))
        body = str(_field(r, "body", "problem", "question", "text") or "")
        expl = str(_field(r, "explanation", "solution") or "")[:400]
        subject_of[qid] = str(_field(r, "subject", "topic") or "")
        own[qid] = searchable_text(body, r.get("choices"))
        corpus[qid] = (subject_of[qid] if subjects else "", f"{own[qid]}\n{expl}".strip())
    query_file = path / "queries.jsonl" if path.is_dir() else None
    if query_file is not None and query_file.exists():
        raw = _jsonl(query_file)
        rows = [(str(q["_id"]), str(q["text"]), str(q["question_id"])) for q in raw]
        rows = [r for r in rows if r[2] in corpus]
        style.update({str(q["_id"]): str(q.get("style") or "typed") for q in raw})
    else:
        rows = [(qid, text, qid) for qid, text in own.items()]
    if out_of_bank:
        kept = _hash_order([q for q in corpus if not held_back(q)])[:bank_size]
        corpus = {q: corpus[q] for q in kept}
        asking = set(_hash_order([q for q in own if held_back(q)])[:max_queries]) if max_queries else None
        rows = [r for r in rows if held_back(r[2]) and (asking is None or r[2] in asking)]
    by_subject: dict[str, list[str]] = defaultdict(list)
    for qid in corpus:
        by_subject[subject_of[qid]].append(qid)
    qrels: dict[str, dict[str, int]] = {}
    for query_id, _, target in rows:
        if intent == "find":
            qrels[query_id] = {target: 1}
        else:
            qrels[query_id] = {d: 1 for d in by_subject[subject_of[target]] if d != target}
    asked = {q: t for q, t, _ in rows if qrels.get(q)}
    return BeirSet(
        corpus,
        asked,
        {q: r for q, r in qrels.items() if r},
        query_subjects={q: subject_of[target] for q, _, target in rows if q in asked and subject_of[target]},
        query_styles={q: style.get(q, "own") for q in asked},
        out_of_bank=out_of_bank,
        searchable={q: own[q] for q in corpus},
    )


def export(data: BeirSet, out: Path) -> None:
    """Write the set in BEIR's layout (corpus.jsonl, queries.jsonl, qrels.tsv) for other tools."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for d, (title, text) in data.corpus.items():
            fh.write(json.dumps({"_id": d, "title": title, "text": text}, ensure_ascii=False) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q, text in data.queries.items():
            fh.write(json.dumps({"_id": q, "text": text}, ensure_ascii=False) + "\n")
    with (out / "qrels.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q, rel in data.qrels.items():
            fh.writelines(f"{q}\t{d}\t{s}\n" for d, s in rel.items())
