"""Offline evaluations that print JSON: retrieval (BEIR layout) and diagnosis (pyKT layout)."""
