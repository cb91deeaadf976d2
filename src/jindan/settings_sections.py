"""Sections of the settings tree for the service's front door (auth, limits, privacy), the gateway and cost.

Part of the one typed tree in :mod:`jindan.settings` (which re-exports them); kept apart only for size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

MIN_SECRET = 32


def _strong(value: SecretStr | None, name: str) -> SecretStr | None:
    """No empty or short secret anywhere: a secret is either absent or at least MIN_SECRET characters."""
    if value is not None and len(value.get_secret_value()) < MIN_SECRET:
        raise ValueError(f"{name} must be at least {MIN_SECRET} characters (try: openssl rand -hex 32)")
    return value


class AuthSettings(BaseModel):
    """Who may call the service: platform JWTs for users, service keys for the backend and operators."""

    open: bool = Field(
        True,
        description="Embedded profile only: serve without credentials while bound to loopback (127.0.0.1, ::1). "
        "Ignored elsewhere; refused on any other bind address.",
    )
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = Field("HS256", description="Algorithm of platform JWTs.")
    jwt_secret: SecretStr | None = Field(
        None, description="HS256 shared secret (>= 32 characters). Embedded profile: generated under JINDAN_HOME."
    )
    jwt_public_key: Path | None = Field(None, description="RS256/ES256: PEM file with the platform's public key.")
    jwks_file: Path | None = Field(None, description="RS256/ES256: JWKS file (keys picked by the token's kid).")
    issuer: str = Field("platform", min_length=1, description="Required `iss` claim of platform JWTs.")
    audience: str = Field("jindan", min_length=1, description="Required `aud` claim of platform JWTs.")
    leeway_s: int = Field(30, ge=0, le=300, description="Clock skew tolerated on exp/nbf/iat.")
    key_pepper: SecretStr | None = Field(
        None,
        description="Secret mixed into service-key hashes (>= 32 characters). Embedded profile: generated under "
        "JINDAN_HOME.",
    )
    session_ttl_s: int = Field(8 * 3600, ge=60, description="Lifetime of a console sign-in.")
    key_cache_s: float = Field(
        10.0,
        ge=0,
        le=300,
        description="How long a replica trusts a service key it checked in PostgreSQL: a revoked key (and a "
        "console sign-in made with it) is refused by every replica within this many seconds.",
    )

    @field_validator("jwt_secret", "key_pepper")
    @classmethod
    def _no_short(cls, v: SecretStr | None, info: Any) -> SecretStr | None:
        return _strong(v, f"auth.{info.field_name}")


class LimitSettings(BaseModel):
    """Request limits of the service."""

    body_bytes: int = Field(1 << 20, ge=1024, description="Largest request body accepted (413 beyond).")
    ai_per_minute: dict[str, int] = Field(
        default_factory=lambda: {"student": 20, "teacher": 60, "admin": 600, "service": 6000},
        description="AI requests (hint, explain, ask, chat, embeddings) per principal per minute, by role.",
    )
    ai_burst: int = Field(10, ge=1, description="AI requests a principal may make at once before the rate applies.")
    store: Literal["postgres", "memory"] = Field(
        "postgres",
        description="Where the AI limits are counted. postgres: in the database, so a limit holds across every "
        "replica of the service (one statement per AI request); memory: in each process (N replicas admit N "
        "times the limit).",
    )


class JobSettings(BaseModel):
    """Jobs that run once across replicas (index, re-index, migration runs): leases in PostgreSQL."""

    lease_s: float = Field(
        30.0,
        ge=1,
        description="A job's holder renews its lease this often (a third of it) and with every progress "
        "report; a holder that stops renewing for this long (killed, hung) has its job taken over.",
    )
    poll_s: float = Field(2.0, gt=0, description="How often a replica waiting for another's job looks again.")


class PrivacySettings(BaseModel):
    """Where data may go. The embedded and local profiles keep everything on the machine or the private network."""

    allow: list[str] = Field(
        default_factory=list,
        description="External destinations an operator allows in the embedded/local profiles: provider names "
        "(openai, gemini) or host names (api.openai.com).",
    )
    shadow_student_text: bool = Field(
        False, description="Let shadow runs to an allowed external provider carry text a student wrote."
    )


GatewayTarget = Literal["explain", "hint", "diagnosis", "chat", "embed"]


def _gateway_models() -> dict[str, GatewayTarget]:
    return {
        "gpt-3.5-turbo": "chat",
        "gpt-4": "explain",
        "gpt-4o-mini": "chat",
        "gpt-4o": "explain",
        "gemini-1.5-flash": "chat",
        "gemini-2.0-flash": "chat",
        "text-embedding-3-small": "embed",
        "text-embedding-ada-002": "embed",
        "text-embedding-004": "embed",
    }


class GatewaySettings(BaseModel):
    """OpenAI- and Gemini-compatible endpoints, so legacy call sites move by changing only base_url and key."""

    models: dict[str, GatewayTarget] = Field(
        default_factory=_gateway_models,
        description="Model names the legacy code sends -> the jindan route that answers them (explain, hint, "
        "diagnosis, chat) or `embed` (the configured embedder). Route names are accepted as model names too. "
        "This map is all GET /v1/models lists.",
    )


class HardwareCost(BaseModel):
    """One machine the local path can run on (estimates for a complete desktop; set your own)."""

    hardware_krw: float = Field(ge=0, description="Purchase price in KRW (0: a machine you already run).")
    load_watts: float = Field(gt=0, description="Whole-system draw while generating (GPU + CPU + the rest).")
    idle_watts: float = Field(ge=0, description="Whole-system draw while on and idle with the model loaded.")
    description: str = Field("", description="What the machine is.")


def _tiers() -> dict[str, HardwareCost]:
    return {  # the plan's tiers (hardware.TIERS) plus a CPU-only machine that is already paid for
        "cpu": HardwareCost(hardware_krw=0, load_watts=120, idle_watts=45, description="CPU only, already owned"),
        "minimum": HardwareCost(
            hardware_krw=1_500_000, load_watts=300, idle_watts=60, description="16 GB RAM + RTX 3060 12 GB"
        ),
        "recommended": HardwareCost(
            hardware_krw=2_500_000, load_watts=400, idle_watts=70, description="32 GB RAM + RTX 4070 12 GB"
        ),
        "optimal": HardwareCost(
            hardware_krw=4_500_000, load_watts=650, idle_watts=90, description="64 GB RAM + RTX 4090 24 GB"
        ),
    }


class CostSettings(BaseModel):
    """Money for `jindan cost`, `jindan compare` and the report, in KRW. Defaults are estimates: set yours."""

    usd_krw: float = Field(1400.0, gt=0, description="KRW per USD, for API prices (published in USD).")
    krw_per_kwh: float = Field(
        200.0, gt=0, description="Electricity price in KRW per kWh, taxes and levies included (your tariff)."
    )
    amortise_months: int = Field(36, ge=1, description="Months over which a machine's purchase price is spread.")
    hours_per_day: float = Field(24.0, gt=0, le=24, description="Hours a day the local machine is switched on.")
    tier: str = Field("recommended", description="Machine (a key of `tiers`) used for local cost per request.")
    tiers: dict[str, HardwareCost] = Field(
        default_factory=_tiers,
        description="Machines the local path can run on: price, load and idle watts. Keys minimum / "
        "recommended / optimal are the plan's hardware tiers.",
    )


class AnswerSettings(BaseModel):
    """What a student reads: every hint, explanation and answer passes the answer checks first (``answers``)."""

    source: dict[Literal["hint", "explain", "ask"], Literal["auto", "bank"]] = Field(
        default_factory=lambda: {"hint": "auto", "explain": "auto", "ask": "auto"},  # type: ignore[arg-type]
        description="Per task: `auto` asks the model and shows its answer if it passes the checks, else the bank's; "
        "`bank` answers from the bank's own solutions without asking the model.",
    )
    skip_unfit_model: bool = Field(
        True,
        description="Do not ask a model the catalog says cannot write the question's language at all (the "
        "embedded SmolLM2 and Korean): the bank answers at once and the model's check counts as failed.",
    )
    hold_hints: bool = Field(
        True, description="Judge a model's hint whole before any of it is shown (a hint is short)."
    )
    hold_explanations: bool = Field(
        True,
        description="Judge a model's explanation or `ask` answer whole before any of it is shown: its final "
        "answer can be checked against the key only at the end. Off: each sentence is shown once it passes the "
        "checks a partial answer allows (first words sooner), and a final answer that fails later is replaced "
        "visibly after the student may have read it.",
    )
    hint_max_tokens: int = Field(160, ge=16, le=2048, description="Upper bound on a model hint's tokens.")
