"""Jobs that run once across replicas (index, re-index, migration runs), with progress every replica reads."""
