"""Sparse term vectors for hybrid search: hashed counts of Korean morphemes, LaTeX commands, numbers and words;
Qdrant applies the IDF.

No vocabulary to fit or ship (feature hashing). Terms come from :func:`jindan.text.lexical.terms`: kiwipiepy
splits particles and endings from Korean stems (``방정식을`` and ``방정식의`` are one term), so the same encoder
serves Korean and English banks. Qdrant's IDF modifier turns the counts into BM25-like weights at query time.
"""

from __future__ import annotations

import zlib
from collections import Counter

from jindan.text.lexical import terms

SPACE = 1 << 20


class SparseEncoder:
    def __init__(self, space: int = SPACE) -> None:
        self.space = space

    def tokens(self, text: str) -> list[str]:
        return list(terms(text))

    def encode(self, texts: list[str]) -> list[tuple[list[int], list[float]]]:
        out = []
        for text in texts:
            counts = Counter(zlib.crc32(t.encode()) % self.space for t in self.tokens(text))
            indices = sorted(counts)
            out.append((indices, [float(counts[i]) for i in indices]))
        return out
