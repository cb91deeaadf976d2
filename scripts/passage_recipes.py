"""Which passage text serves a typed problem best: out-of-bank same-subject P@10 on the MATH bank, per recipe.

    python scripts/passage_recipes.py BANK_SIZE QUERIES [RECIPE ...]

The bank is split as `jindan eval retrieval --out-of-bank` splits it (a hash of the id); its corpus text is
replaced by each recipe's, embedded with e5 (each text once per run) into a fresh embedded Qdrant, ranked by
the product's similar intent. Prints one JSON line per recipe.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from jindan.embed.e5 import E5Embedder
from jindan.evaluation import banks
from jindan.evaluation.retrieval import _jsonl, evaluate
from jindan.settings import Settings
from jindan.vectors.qdrant_edge import QdrantEdgeStore

BANK = Path(__file__).resolve().parents[2] / "shared" / "data" / "math" / "problems.jsonl"
ASY = re.compile(r"\[asy\].*?\[/asy\]", re.S)
RECIPES = {
    "now": lambda r: (r["problem"], r["solution"][:400]),
    "noasy400": lambda r: (ASY.sub("[figure]", r["problem"]), ASY.sub("", r["solution"])[:400]),
    "noasy200": lambda r: (ASY.sub("[figure]", r["problem"]), ASY.sub("", r["solution"])[:200]),
    "noasy0": lambda r: (ASY.sub("[figure]", r["problem"]), ""),
}


class Memo:
    def __init__(self, inner: Any) -> None:
        self.inner, self.model_id, self.dim, self.memo = inner, inner.model_id, inner.dim, {}

    def embed_queries(self, texts: list[str]) -> Any:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> Any:
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if todo:
            self.memo.update(zip(todo, self.inner.embed_passages(todo), strict=True))
        return np.vstack([self.memo[t] for t in texts])


def main(bank_size: int, queries: int, names: list[str]) -> None:
    rows = {r["id"]: r for r in _jsonl(BANK)}
    embedder, settings = Memo(E5Embedder()), Settings()
    for name in names:
        data = banks.bank_set(BANK, "similar", out_of_bank=True, bank_size=bank_size, max_queries=queries)
        for qid, (subject, _) in list(data.corpus.items()):
            body, solution = RECIPES[name](rows[qid])
            data.corpus[qid] = (subject, f"{body}\n{solution}".strip())
        started = time.time()
        result = evaluate(data, embedder, QdrantEdgeStore(Path(tempfile.mkdtemp())), settings.search, "similar")
        keep = {k: result[k] for k in ("p_at_10", "p_at_10_reachable", "subject_accuracy") if k in result}
        print(json.dumps({"recipe": name, **keep, "seconds": round(time.time() - started)}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:] or list(RECIPES))
