"""Build a BEIR-layout retrieval set from the MATH bank: query = a problem, relevant = other problems of the
same subject. The corpus title carries the subject (the bank's metadata, as jindan indexes questions).

    python scripts/make_math_beir.py ../shared/data/math/problems.jsonl /tmp/math-beir [--queries 1000]
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("problems", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--queries", type=int, default=0, help="sample this many queries (0: every problem)")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.problems.open(encoding="utf-8") if line.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    by_subject: dict[str, list[str]] = defaultdict(list)
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for r in rows:
            by_subject[r["subject"]].append(r["id"])
            fh.write(
                json.dumps(
                    {"_id": r["id"], "title": r["subject"], "text": f"{r['problem']}\n{r['solution']}"},
                    ensure_ascii=False,
                )
                + "\n"
            )
    queries = rows if not args.queries else random.Random(args.seed).sample(rows, args.queries)
    with (args.out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for r in queries:
            fh.write(json.dumps({"_id": r["id"], "text": r["problem"]}, ensure_ascii=False) + "\n")
    with (args.out / "qrels.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for r in queries:
            for other in by_subject[r["subject"]]:
                if other != r["id"]:
                    fh.write(f"{r['id']}\t{other}\t1\n")
    print(f"{len(rows)} documents, {len(queries)} queries -> {args.out}")


if __name__ == "__main__":
    main()
