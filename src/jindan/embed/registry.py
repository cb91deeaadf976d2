"""Embedder registry: one line per implementation, SDKs imported only when chosen.

Each provider knows its own model: an empty ``embed.model`` means that model, so the id recorded on a
collection is always the model that embedded it (never another provider's default).
"""

from __future__ import annotations

from collections.abc import Callable

from jindan.embed.base import Embedder, EmbedderError, ProviderGate
from jindan.settings import Settings

E5_MODEL = "multilingual-e5-small"
MINILM_MODEL = "all-MiniLM-L6-v2"


def _st(s: Settings, model: str) -> Embedder:
    from jindan.embed.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(model, dim=s.embed.dim or 384, batch_size=s.embed.batch_size)


def _e5(s: Settings, model: str) -> Embedder:
    from jindan.embed.e5 import E5Embedder

    return E5Embedder(model, dim=s.embed.dim or 384, batch_size=s.embed.batch_size)


def _ollama(s: Settings, model: str) -> Embedder:
    from jindan.embed.remote import OllamaEmbedder

    return OllamaEmbedder(s.ollama.hosts, model, dim=s.embed.dim or 384, batch_size=s.embed.batch_size)


def _openai(s: Settings, model: str) -> Embedder:
    from jindan.embed.remote import OpenAIEmbedder

    key = s.openai.api_key.get_secret_value() if s.openai.api_key else None
    return OpenAIEmbedder(model, api_key=key, base_url=s.openai.base_url, dim=s.embed.dim or 1536)


def _auto(s: Settings, model: str) -> Embedder:
    from jindan.embed.auto import AutoEmbedder

    if s.embed.model:
        raise EmbedderError("JINDAN_EMBED__PROVIDER=auto picks its model per bank: leave JINDAN_EMBED__MODEL empty")

    def build(provider: str) -> Embedder:
        return EMBEDDERS[provider](s, default_model(s, provider))

    return AutoEmbedder(build, english_model=default_model(s, "sentence-transformers"))


EMBEDDERS: dict[str, Callable[[Settings, str], Embedder]] = {
    "sentence-transformers": _st,
    "e5": _e5,
    "ollama": _ollama,
    "openai": _openai,
    "auto": _auto,  # e5 for Korean and mixed banks, MiniLM for English ones (chosen when a bank is indexed)
}


def default_model(settings: Settings, provider: str) -> str:
    """The model a provider embeds with when ``embed.model`` is empty."""
    return {
        "sentence-transformers": MINILM_MODEL,
        "e5": E5_MODEL,
        "ollama": settings.ollama.embed_model,
        "openai": settings.openai.embed_model,
        "auto": E5_MODEL,  # until a bank is indexed; a collection records the model its bank got
    }.get(provider, "")


def gated(embedder: Embedder, gate: ProviderGate | None) -> Embedder:
    """``embedder``, asking ``gate`` (the legacy switch) before each call when it is a legacy API."""
    from jindan.embed.remote import OpenAIEmbedder

    if gate is not None and isinstance(embedder, OpenAIEmbedder):
        embedder.gate = gate
    return embedder


def build_embedder(settings: Settings, gate: ProviderGate | None = None) -> Embedder:
    provider = settings.embed.provider
    if provider not in EMBEDDERS:
        raise EmbedderError(f"unknown embedder {provider!r}; known: {', '.join(EMBEDDERS)}")
    return gated(EMBEDDERS[provider](settings, settings.embed.model or default_model(settings, provider)), gate)


def embedder_for(settings: Settings, model_id: str, gate: ProviderGate | None = None) -> Embedder | None:
    """An embedder for a collection built with ``model_id`` by any provider this process can run, if any.

    While a re-index to a new model runs, the alias still points at the old collection: queries keep being
    embedded by its model until the alias switches, so search never stops and never mixes two models."""
    for provider, build in EMBEDDERS.items():
        if provider != "auto" and default_model(settings, provider) == model_id:
            try:
                return gated(build(settings, model_id), gate)
            except EmbedderError:
                return None
    return None
