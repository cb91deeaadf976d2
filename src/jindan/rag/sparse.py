"""Sparse term vectors for hybrid search: hashed word and LaTeX-command counts; Qdrant applies the IDF.

No vocabulary to fit or ship (feature hashing), language-agnostic tokens (Hangul, Latin, digits, ``\\frac``),
so the same encoder serves Korean and English banks. Qdrant's IDF modifier turns the counts into BM25-like
weights at query time.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

TOKEN = re.compile(r"\\[A-Za-z]+|[A-Za-z]+|[0-9]+|[\uac00-\ud7a3]+")
SPACE = 1 << 20


class SparseEncoder:
    def __init__(self, space: int = SPACE) -> None:
        self.space = space

    def tokens(self, text: str) -> list[str]:
        return [t.lower() for t in TOKEN.findall(text)]

    def encode(self, texts: list[str]) -> list[tuple[list[int], list[float]]]:
        out = []
        for text in texts:
            counts = Counter(zlib.crc32(t.encode()) % self.space for t in self.tokens(text))
            indices = sorted(counts)
            out.append((indices, [float(counts[i]) for i in indices]))
        return out
