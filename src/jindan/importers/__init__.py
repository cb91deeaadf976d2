"""File importers: questions (JSONL / CSV) and response logs (pyKT CSV)."""
