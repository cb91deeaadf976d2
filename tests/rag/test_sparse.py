"""The sparse vectors count the terms :mod:`jindan.text.lexical` reads: Korean morphemes, not surface words."""

from __future__ import annotations

from jindan.rag.sparse import SparseEncoder


def test_sparse_vectors_count_morphemes() -> None:
    (idx_a, val_a), (idx_b, _) = SparseEncoder().encode(["방정식을 풀어라 방정식", "방정식의 해"])
    assert max(val_a) == 2.0  # 방정식 twice, whatever particle follows
    assert set(idx_a) & set(idx_b)
