"""Retrieval-augmented answers: indexing, similar questions, grounded explanations and hints."""
