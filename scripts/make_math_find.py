"""Build a dev *find* set from the MATH bank (English): each query is a problem as a student might retype it
(LaTeX written the keyboard way, some words dropped, cut after 25 words); relevant = that problem. A dev
proxy only: there is no English question -> passage set in this repository.

    python scripts/make_math_find.py ../shared/data/math/problems.jsonl /tmp/math-find [--corpus 600 --queries 300]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

FRAC = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")


def retype(problem: str, rng: random.Random) -> str:
    t = FRAC.sub(r"\1/\2", problem)
    t = re.sub(r"\\(cdot|times)", "*", t)
    t = re.sub(r"\\[A-Za-z]+|[${}]", " ", t)
    words = [w for w in t.split() if rng.random() > 0.2]  # a student leaves words out
    return " ".join(words[:25]).lower()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("problems", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--corpus", type=int, default=0, help="sample this many problems as the corpus (0: all)")
    ap.add_argument("--queries", type=int, default=500, help="queries drawn from the corpus")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.problems.open(encoding="utf-8") if line.strip()]
    rng = random.Random(args.seed)
    if args.corpus:
        rng.shuffle(rows)
        rows = rows[: args.corpus]
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for r in rows:
            text = f"{r['problem']}\n{r['solution'][:400]}"
            fh.write(json.dumps({"_id": r["id"], "title": r["subject"], "text": text}, ensure_ascii=False) + "\n")
    picked = random.Random(args.seed + 1).sample(rows, min(args.queries, len(rows)))
    with (args.out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for r in picked:
            fh.write(json.dumps({"_id": f"q-{r['id']}", "text": retype(r["problem"], rng)}) + "\n")
    with (args.out / "qrels.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"q-{r['id']}\t{r['id']}\t1\n" for r in picked)
    print(f"{len(rows)} documents, {len(picked)} queries -> {args.out}")


if __name__ == "__main__":
    main()
