from __future__ import annotations

import pytest
from pydantic import ValidationError

from jindan.cli.config import masked
from jindan.settings import Settings


def test_embedded_is_the_zero_setup_default(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert s.profile == "embedded"
    assert s.uses_embedded_db
    assert (s.llm.provider, s.vectors.store, s.embed.provider) == ("llamacpp", "qdrant-edge", "auto")
    assert s.pgdata == s.home / "pgdata"
    assert s.home.is_absolute()


def test_local_profile_targets_the_plan() -> None:
    s = Settings(profile="local")
    assert s.llm.provider == "ollama" and s.llm.model == "llama3.1:8b"
    assert s.vectors.store == "qdrant" and s.embed.provider == "auto"  # e5 for Korean questions
    assert s.language == "ko" and not s.uses_embedded_db


def test_legacy_profile_keeps_the_old_stack() -> None:
    s = Settings(profile="legacy")
    assert (s.llm.provider, s.llm.fallback, s.vectors.store) == ("openai", ["gemini"], "pgvector")


def test_one_component_overridden_alone_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINDAN_PROFILE", "legacy")
    monkeypatch.setenv("JINDAN_LLM__PROVIDER", "ollama")
    monkeypatch.setenv("JINDAN_LLM__MODEL", "qwen2.5:7b")
    monkeypatch.setenv("JINDAN_OLLAMA__HOSTS", '["http://a:11434", "http://b:11434"]')
    s = Settings()
    assert s.llm.provider == "ollama" and s.llm.model == "qwen2.5:7b"
    assert s.vectors.store == "pgvector"  # legacy vectors kept during the move
    assert s.ollama.hosts == ["http://a:11434", "http://b:11434"]
    assert s.llm.fallback == ["gemini"]  # untouched parts of the profile stay


def test_dotenv_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text("JINDAN_PROFILE=local\nJINDAN_QDRANT__URL=http://q:6333\n")
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.profile == "local" and s.qdrant.url == "http://q:6333"


@pytest.mark.parametrize(
    "kwargs",
    [{"profile": "cloud"}, {"llm": {"provider": "gpt5"}}, {"server": {"port": 0}}, {"unknown": 1}],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**kwargs)  # type: ignore[arg-type]


def test_secrets_are_masked() -> None:
    s = Settings(
        profile="legacy",
        database={"url": "postgresql+psycopg://app:hunter2@db:5432/jindan"},  # type: ignore[arg-type]
        openai={"api_key": "sk-very-secret"},  # type: ignore[arg-type]
        auth={"jwt_secret": "tok-secret-0123456789abcdef0123456789"},  # type: ignore[arg-type]
    )
    text = repr(masked(s)) + repr(s)
    for secret in ("hunter2", "sk-very-secret", "tok-secret"):
        assert secret not in text
    assert masked(s)["database"]["url"] == "postgresql+psycopg://app:***@db:5432/jindan"
    assert masked(s)["openai"]["api_key"] == "***"


@pytest.mark.parametrize("field", ["routes", "shadow"])
def test_a_misspelt_route_is_refused_by_name(field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    value = '{"hints": ["ollama"]}' if field == "routes" else '{"hints": {"provider": "openai", "model": "m"}}'
    monkeypatch.setenv(f"JINDAN_LLM__{field.upper()}", value)
    with pytest.raises(ValidationError, match=r"unknown route\(s\) hints; the routes are explain, hint"):
        Settings()


def test_every_route_may_be_configured() -> None:
    from jindan.domain.routes import ROUTES

    s = Settings(llm={"routes": {route: ["ollama"] for route in ROUTES}})  # type: ignore[arg-type]
    assert set(s.llm.routes) == set(ROUTES) == {"explain", "hint", "diagnosis", "chat"}
