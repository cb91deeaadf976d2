"""pgvector -> Qdrant migration: plan, run, verify, cutover / rollback, sync. Library first, CLI second."""
