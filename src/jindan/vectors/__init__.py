"""Vector stores behind one interface: Qdrant server, embedded Qdrant (qdrant-edge), pgvector."""
