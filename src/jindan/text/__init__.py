"""How a text is read into terms (Korean morphemes, formula terms, character pairs): pure functions with no I/O
beyond the packaged tokenizer, below retrieval (``rag``) and the answer checks (``answers``), which both read it."""
