"""Compare embedders on the retrieval dev sets through the shipped ranking (`jindan.evaluation.retrieval`).

    python scripts/compare_embedders.py EMBEDDER SET [SETTING=VALUE ...]

EMBEDDER: e5 | minilm | blend (e5 and MiniLM vectors side by side, each scaled by 1/sqrt(2): the cosine is the
mean of the two cosines). SET: ko-oob | ko-find | ko-sim (the Korean dev bank, out of bank / in bank; ko-oob-nolab
and ko-sim-nolab: the same without its units as subjects, relevant = the same unit),
math-oob-N and math-oob-N-nolab (MATH out of bank, N bank questions of the indexed half, 2502 = the whole half,
300 asking), math-inbank-N-nolab (the same bank, 300 of its own questions typed as they are, relevant = the
others of their subject), xling-N (the Korean dev bank's student queries against an N-question MATH bank, relevant = the
MATH subjects of the query's unit where one fits: 확률 -> Counting & Probability, 피타고라스 정리 -> Geometry, ...),
ko-70-SEED (7 units of the Korean dev bank drawn by SEED, 10 questions of each indexed, the student queries of
the others ask: a 70-question bank), math-cv-SEED and math-cv-SEED-nolab (200 MATH problems drawn by SEED ask, the
4,800 others are the bank: the held-out bank's size).
SETTING=VALUE: search settings (e.g. rerank=none). Vectors are kept in --cache (default /tmp/jindan-embed-cache)
by (embedder, sha256 of the text), so a second run embeds nothing; the store is an in-memory Qdrant. The
out-of-bank and in-bank sets give the same numbers as `jindan eval retrieval --bank ...` with that embedder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from jindan.evaluation import banks  # noqa: E402
from jindan.evaluation.retrieval import BeirSet, evaluate  # noqa: E402
from jindan.settings import SearchSettings  # noqa: E402

MATH = REPO.parent / "shared" / "data" / "math" / "problems.jsonl"
KO = REPO / "src" / "jindan" / "data" / "ko"
UNITS = {  # Korean unit -> the MATH subjects its problems belong to (units with no MATH counterpart are left out)
    "확률": ["Counting & Probability"],
    "경우의 수": ["Counting & Probability"],
    "피타고라스 정리": ["Geometry"],
    "이차방정식": ["Algebra", "Intermediate Algebra"],
    "연립방정식": ["Algebra"],
    "일차방정식": ["Algebra", "Prealgebra"],
    "일차함수": ["Algebra"],
    "이차함수": ["Algebra", "Intermediate Algebra"],
    "정수와 유리수": ["Prealgebra", "Number Theory"],
    "삼각비": ["Precalculus", "Geometry"],
}


class Cached:
    """An embedder whose vectors are kept on disk by (kind, sha256 of the text)."""

    def __init__(self, name: str, make: Any, cache: Path) -> None:
        self.name, self.make, self.inner = name, make, None
        self.model_id, self.dim = name, 384
        self.file = cache / f"{name}.npz"
        self.vectors: dict[str, np.ndarray] = dict(np.load(self.file)) if self.file.exists() else {}
        self.new = 0

    def _get(self, texts: list[str], kind: str) -> np.ndarray:
        keys = [kind + hashlib.sha256(t.encode()).hexdigest()[:32] for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.vectors]
        start = time.time()
        for s in range(0, len(todo), 32):
            part = todo[s : s + 32]
            self.inner = self.inner or self.make()
            fn = self.inner.embed_queries if kind == "q" else self.inner.embed_passages
            for i, v in zip(part, fn([texts[i] for i in part]), strict=True):
                self.vectors[keys[i]] = np.asarray(v, np.float32)
            self.new += len(part)
            print(f"[{self.name}] {kind} {s + len(part)}/{len(todo)} {time.time() - start:.0f}s", file=sys.stderr)
            if s % 256 == 0:
                self.save()
        return np.stack([self.vectors[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)

    def save(self) -> None:
        if self.new:
            np.savez(self.file, **self.vectors)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._get(texts, "q")

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._get(texts, "p")


class Blend:
    def __init__(self, a: Cached, b: Cached) -> None:
        self.a, self.b, self.model_id, self.dim = a, b, "blend", a.dim + b.dim

    def embed_queries(self, t: list[str]) -> np.ndarray:
        return np.hstack([self.a.embed_queries(t), self.b.embed_queries(t)]).astype(np.float32) / np.sqrt(2)

    def embed_passages(self, t: list[str]) -> np.ndarray:
        return np.hstack([self.a.embed_passages(t), self.b.embed_passages(t)]).astype(np.float32) / np.sqrt(2)

    def save(self) -> None:
        self.a.save()
        self.b.save()


def embedder(name: str, cache: Path) -> Any:
    def e5() -> Cached:
        from jindan.embed.e5 import E5Embedder

        return Cached("e5", E5Embedder, cache)

    def minilm() -> Cached:
        from jindan.embed.sentence_transformers import SentenceTransformerEmbedder

        return Cached("minilm", SentenceTransformerEmbedder, cache)

    return {"e5": e5, "minilm": minilm}[name]() if name != "blend" else Blend(e5(), minilm())


def dataset(name: str) -> tuple[BeirSet, str]:
    if name in ("ko-oob", "ko-find", "ko-sim", "ko-oob-nolab", "ko-sim-nolab"):
        intent = "find" if name == "ko-find" else "similar"
        oob, labels = name.startswith("ko-oob"), not name.endswith("nolab")
        return banks.bank_set(KO, intent, out_of_bank=oob, subjects=labels), intent  # type: ignore[arg-type]
    parts = name.split("-")
    if name.startswith("ko-70-"):  # 7 units drawn by seed, 10 questions each indexed, the rest ask (typed + pasted)
        full = banks.bank_set(KO, "similar")
        rng = np.random.default_rng(int(parts[2]))
        units = sorted({t for t, _ in full.corpus.values()})
        drawn = set(rng.choice(units, 7, replace=False).tolist())
        by_unit: dict[str, list[str]] = {}
        for d in sorted(full.corpus, key=lambda d: hashlib.sha256(d.encode()).hexdigest()):
            if full.corpus[d][0] in drawn:
                by_unit.setdefault(full.corpus[d][0], []).append(d)
        kept = {d for ds in by_unit.values() for d in ds[:10]}
        own = {q: json.loads(line)["question_id"] for q, line in _query_lines()}
        queries = {
            q: t
            for q, t in full.queries.items()
            if own.get(q) in full.corpus and own[q] not in kept and full.corpus[own[q]][0] in drawn
        }
        truth = {q: full.corpus[own[q]][0] for q in queries}
        qrels = {q: {d: 1 for d in kept if full.corpus[d][0] == truth[q]} for q in queries}
        corpus = {d: full.corpus[d] for d in kept}
        return BeirSet(
            corpus, queries, qrels, query_subjects=truth, searchable={d: full.searchable[d] for d in kept}
        ), "similar"
    if name.startswith("math-inbank-"):  # 300 questions of the bank typed as they are: similar to a bank question
        base, _ = dataset(name.replace("inbank", "oob"))
        subject = {r["id"]: r["subject"] for r in map(json.loads, MATH.open()) if r["id"] in base.corpus}
        asking = sorted(base.corpus)[::8][:300]
        queries = {f"q{i}": base.searchable[i] for i in asking}
        qrels = {f"q{i}": {d: 1 for d, s in subject.items() if s == subject[i] and d != i} for i in asking}
        return BeirSet(base.corpus, queries, qrels, searchable=base.searchable), "similar"
    if name.startswith("math-cv-"):  # 200 problems drawn by seed ask, the 4,800 others are the bank
        full = banks.bank_set(MATH, "similar", subjects=not name.endswith("nolab"))
        subject = {r["id"]: r["subject"] for r in map(json.loads, MATH.open())}
        asking = set(np.random.default_rng(int(parts[2])).choice(sorted(full.corpus), 200, replace=False).tolist())
        corpus = {d: t for d, t in full.corpus.items() if d not in asking}
        queries = {f"q{d}": full.searchable[d] for d in sorted(asking)}
        qrels = {f"q{d}": {c: 1 for c in corpus if subject[c] == subject[d]} for d in sorted(asking)}
        truth = {f"q{d}": subject[d] for d in sorted(asking)} if not name.endswith("nolab") else {}
        searchable = {d: full.searchable[d] for d in corpus}
        return BeirSet(corpus, queries, qrels, query_subjects=truth, searchable=searchable, out_of_bank=True), "similar"
    if parts[0] == "math":
        size = int(parts[2])
        data = banks.bank_set(
            MATH,
            "similar",
            subjects=not name.endswith("nolab"),
            out_of_bank=True,
            bank_size=None if size >= 2502 else size,
            max_queries=300,
        )
        return data, "similar"
    if parts[0] == "xling":
        size = int(parts[1])
        base = banks.bank_set(
            MATH, "similar", out_of_bank=True, bank_size=None if size >= 2502 else size, max_queries=1
        )
        subject = {r["id"]: r["subject"] for r in map(json.loads, MATH.open()) if r["id"] in base.corpus}
        unit = {r["id"]: r["subject"] for r in map(json.loads, (KO / "questions.jsonl").open(encoding="utf-8"))}
        queries, qrels, truth = {}, {}, {}
        for q in map(json.loads, (KO / "queries.jsonl").open(encoding="utf-8")):
            fits = UNITS.get(unit[q["question_id"]])
            if fits:
                queries[q["_id"]], truth[q["_id"]] = q["text"], fits[0]
                qrels[q["_id"]] = {d: 1 for d, s in subject.items() if s in fits}
        return BeirSet(base.corpus, queries, qrels, query_subjects=truth, searchable=base.searchable), "similar"
    raise SystemExit(f"unknown set {name}")


def _query_lines() -> list[tuple[str, str]]:
    lines = (KO / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [(str(json.loads(line)["_id"]), line) for line in lines if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("embedder", choices=["e5", "minilm", "blend"])
    ap.add_argument("set")
    ap.add_argument("settings", nargs="*", help="search settings, e.g. rerank=none expansion_lexical=0")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/jindan-embed-cache"))
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    from qdrant_client import QdrantClient

    from jindan.vectors.qdrant import QdrantStore

    settings = dict(kv.split("=", 1) for kv in args.settings)
    emb = embedder(args.embedder, args.cache)
    data, intent = dataset(args.set)
    try:
        result = evaluate(data, emb, QdrantStore(client=QdrantClient(":memory:")), SearchSettings(**settings), intent)  # type: ignore[arg-type]
    finally:
        emb.save()
    keep = ("p_at_10", "p_at_10_reachable", "recall_at_5", "mrr", "subject_accuracy", "queries", "corpus", "index_s")
    print(
        json.dumps(
            {"set": args.set, "embedder": args.embedder, **settings, **{k: result[k] for k in keep if k in result}}
        )
    )


if __name__ == "__main__":
    main()
