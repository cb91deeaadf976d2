"""Which model embeds, and which id a collection records: always the provider's own model."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from jindan.embed.base import EmbedderError
from jindan.embed.registry import build_embedder, embedder_for
from jindan.settings import Settings


def test_the_default_embedder_is_multilingual_e5_in_embedded_and_local() -> None:
    for profile in ("embedded", "local"):
        e = build_embedder(Settings(profile=profile))  # type: ignore[arg-type]
        assert (e.model_id, e.dim) == ("multilingual-e5-small", 384)


def test_the_recorded_model_is_the_one_that_embeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINDAN_EMBED__PROVIDER", "e5")
    assert build_embedder(Settings()).model_id == "multilingual-e5-small"
    monkeypatch.setenv("JINDAN_EMBED__PROVIDER", "sentence-transformers")
    assert build_embedder(Settings()).model_id == "all-MiniLM-L6-v2"
    monkeypatch.setenv("JINDAN_PROFILE", "legacy")
    monkeypatch.setenv("JINDAN_EMBED__PROVIDER", "e5")  # legacy's OpenAI size must not stick to e5
    assert (build_embedder(Settings()).dim, Settings().embed.dim) == (384, None)


def test_e5_refuses_a_model_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINDAN_EMBED__PROVIDER", "e5")
    monkeypatch.setenv("JINDAN_EMBED__MODEL", "all-MiniLM-L6-v2")
    with pytest.raises(EmbedderError, match="multilingual-e5-small only"):
        build_embedder(Settings())


def test_an_embedder_for_an_existing_collection_s_model() -> None:
    s = Settings()
    old = embedder_for(s, "all-MiniLM-L6-v2")
    assert old is not None and old.model_id == "all-MiniLM-L6-v2"
    assert embedder_for(s, "some-model-nobody-runs") is None


def test_openai_embedders_ask_the_legacy_switch() -> None:
    from jindan.embed.remote import OpenAIEmbedder
    from tests.embed.test_remote import Switch

    s = Settings()
    s.embed.provider, s.openai.api_key = "openai", SecretStr("sk-test")
    switch = Switch(off=True)
    built = build_embedder(s, switch)
    during_move = embedder_for(s, "text-embedding-3-small", switch)  # a collection the API's model built
    assert isinstance(built, OpenAIEmbedder) and built.gate is switch
    assert isinstance(during_move, OpenAIEmbedder) and during_move.gate is switch
    assert not hasattr(embedder_for(s, "all-MiniLM-L6-v2", switch), "gate")  # a local model: nothing to ask
