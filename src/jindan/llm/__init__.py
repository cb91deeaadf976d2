"""LLM providers behind one interface."""
