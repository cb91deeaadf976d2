"""Provider registry: one line per provider. Modules (and their SDKs) are imported only when used."""

from __future__ import annotations

import importlib

from jindan.llm.base import LLMProvider, ProviderUnavailable
from jindan.settings import Settings

PROVIDERS: dict[str, str] = {
    "llamacpp": "jindan.llm.llamacpp:LlamaCppProvider",
    "ollama": "jindan.llm.ollama:OllamaProvider",
    "openai": "jindan.llm.openai:OpenAIProvider",
    "gemini": "jindan.llm.gemini:GeminiProvider",
}


def build_provider(name: str, settings: Settings, model: str | None = None) -> LLMProvider:
    """Construct provider ``name`` from the settings (optionally with another model, e.g. for a shadow)."""
    if name not in PROVIDERS:
        raise ProviderUnavailable(f"unknown LLM provider {name!r}; known: {', '.join(PROVIDERS)}")
    module, cls_name = PROVIDERS[name].split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    if model:
        settings = settings.model_copy(deep=True)
        settings.llm.provider = name  # type: ignore[assignment]
        settings.llm.model = model
    provider: LLMProvider = cls.from_settings(settings)
    return provider
