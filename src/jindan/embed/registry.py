"""Embedder registry: one line per implementation, SDKs imported only when chosen."""

from __future__ import annotations

from collections.abc import Callable

from jindan.embed.base import Embedder, EmbedderError
from jindan.settings import Settings


def _st(s: Settings) -> Embedder:
    from jindan.embed.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(s.embed.model, dim=s.embed.dim, batch_size=s.embed.batch_size)


def _e5(s: Settings) -> Embedder:
    from jindan.embed.e5 import E5Embedder

    return E5Embedder(s.embed.model, dim=s.embed.dim, batch_size=s.embed.batch_size)


def _ollama(s: Settings) -> Embedder:
    from jindan.embed.remote import OllamaEmbedder

    return OllamaEmbedder(s.ollama.hosts, s.embed.model, dim=s.embed.dim, batch_size=s.embed.batch_size)


def _openai(s: Settings) -> Embedder:
    from jindan.embed.remote import OpenAIEmbedder

    key = s.openai.api_key.get_secret_value() if s.openai.api_key else None
    return OpenAIEmbedder(s.embed.model, api_key=key, base_url=s.openai.base_url, dim=s.embed.dim)


EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    "sentence-transformers": _st,
    "e5": _e5,
    "ollama": _ollama,
    "openai": _openai,
}


def build_embedder(settings: Settings) -> Embedder:
    if settings.embed.provider not in EMBEDDERS:
        raise EmbedderError(f"unknown embedder {settings.embed.provider!r}; known: {', '.join(EMBEDDERS)}")
    return EMBEDDERS[settings.embed.provider](settings)
