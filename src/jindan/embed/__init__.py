"""Embedders behind one interface: sentence-transformers, multilingual e5, Ollama /api/embed, OpenAI."""
