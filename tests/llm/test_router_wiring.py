"""How the app's router is put together: shadow runs recorded in the database only when configured and a
database is given; the prompt budget counted with the primary provider's own tokenizer when it has one."""

from __future__ import annotations

from typing import Any

from jindan.db.engine import Database
from jindan.llm.base import ProviderUnavailable
from jindan.llm.router import Router, build_router
from jindan.llm.shadow import DbComparisonSink, ShadowRunner
from jindan.settings import Settings
from tests.llm.fakes import Scripted

SHADOW = {"explain": {"provider": "openai", "model": "gpt-4o-mini", "sample": 0.5}}


def test_shadow_runs_are_recorded_in_the_database_when_configured(db: Database) -> None:
    settings = Settings(
        llm={"shadow": SHADOW, "prices": {"gpt-4o-mini": (0.2, 0.7)}},  # type: ignore[arg-type]
        privacy={"allow": ["openai"]},  # type: ignore[arg-type]
    )
    router = build_router(settings, db)
    assert isinstance(router.shadow, ShadowRunner) and router.shadow.settings is settings
    sink = router.shadow.sink
    assert isinstance(sink, DbComparisonSink) and sink.db is db
    assert sink.prices == {"gpt-4o-mini": (0.2, 0.7)}  # costs priced as configured
    assert build_router(settings).shadow is None  # no database: nothing to record into
    assert build_router(Settings(), db).shadow is None  # no shadow configured


class Counting(Scripted):
    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_the_prompt_is_counted_with_the_primary_provider_s_tokenizer() -> None:
    settings = Settings(llm={"routes": {"hint": ["llamacpp", "ollama"], "explain": ["ollama"]}})  # type: ignore[arg-type]
    exact = Counting("llamacpp")
    router = Router(settings, {"llamacpp": exact, "ollama": Scripted("ollama")})  # type: ignore[dict-item]
    counter = router.token_counter("hint")
    assert counter is not None and counter("three short words") == 3
    assert router.token_counter("explain") is None  # a provider without a tokenizer: the estimate is used


def test_a_primary_that_cannot_be_built_gives_no_tokenizer() -> None:
    class Broken(dict[str, Any]):
        def __missing__(self, key: str) -> Any:
            raise ProviderUnavailable("no key")

    settings = Settings(llm={"routes": {"hint": ["openai"]}})  # type: ignore[arg-type]
    router = Router(settings, {})
    router._providers = Broken()  # building "openai" fails as it does without an API key
    assert router.token_counter("hint") is None
