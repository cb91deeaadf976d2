"""The models the plan names, with what an operator needs to choose: size, RAM, context, strengths, price.

Local sizes are the Ollama Q4_K_M downloads. API prices are USD per 1M tokens (input, output) as published
by the vendors; override them with ``JINDAN_LLM__PRICES='{"gpt-4o": [2.5, 10]}'`` for cost reports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    name: str
    provider: str
    size_gb: float  # weights on disk / in memory (0 for API models)
    ram_gb: float  # RAM (or VRAM) the plan asks for
    context: int  # native context length in tokens
    strengths: str
    params_b: float = 0.0
    layers: int = 0  # for KV-cache sizing
    kv_heads: int = 0
    head_dim: int = 0
    price_in: float = 0.0  # USD per 1M input tokens
    price_out: float = 0.0
    default: bool = False
    pull: str = ""
    korean: str = "good"  # how well it writes Korean: good | fair | weak | none
    cannot_write: tuple[str, ...] = ()  # languages it cannot write at all: answers in them come from the bank

    @property
    def local(self) -> bool:
        return self.provider in ("ollama", "llamacpp")

    def kv_cache_gb(self, n_ctx: int, bytes_per_value: int = 2) -> float:
        """K and V for every layer at fp16: 2 * layers * kv_heads * head_dim * n_ctx * bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * n_ctx * bytes_per_value / 1024**3


CATALOG: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo(
            "llama3.1:8b",
            "ollama",
            4.7,
            8,
            131072,
            "default; GPT-3.5 level, general reasoning",
            8.0,
            32,
            8,
            128,
            default=True,
            pull="ollama pull llama3.1:8b",
            korean="fair",
        ),
        ModelInfo(
            "llama3.2:3b",
            "ollama",
            2.0,
            4,
            131072,
            "light; fast hints on small machines",
            3.2,
            28,
            8,
            128,
            pull="ollama pull llama3.2:3b",
            korean="weak",
        ),
        ModelInfo(
            "qwen2.5:7b",
            "ollama",
            4.7,
            8,
            32768,
            "best Korean of the three",
            7.6,
            28,
            4,
            128,
            pull="ollama pull qwen2.5:7b",
        ),
        ModelInfo(
            "smollm2-135m",
            "llamacpp",
            0.1,
            0.5,
            8192,
            "embedded stand-in: a small English model, no Korean",
            0.135,
            30,
            3,
            64,
            korean="none",
            cannot_write=("ko",),
        ),
        ModelInfo("gpt-3.5-turbo", "openai", 0, 0, 16385, "legacy API", price_in=0.5, price_out=1.5),
        ModelInfo("gpt-4o-mini", "openai", 0, 0, 128000, "cheap API", price_in=0.15, price_out=0.6),
        ModelInfo("gpt-4o", "openai", 0, 0, 128000, "strong API", price_in=2.5, price_out=10.0),
        ModelInfo("gpt-4", "openai", 0, 0, 8192, "legacy API (expensive)", price_in=30.0, price_out=60.0),
        ModelInfo("gemini-1.5-flash", "gemini", 0, 0, 1048576, "legacy API", price_in=0.075, price_out=0.3),
        ModelInfo("gemini-2.0-flash", "gemini", 0, 0, 1048576, "API", price_in=0.1, price_out=0.4),
    ]
}

DEFAULT_CONTEXT = 8192


def known(model: str) -> ModelInfo | None:
    """The catalog's entry for a model name as a provider reports it (``smollm2-135m``, or a GGUF file's stem
    such as ``SmolLM2-135M-Instruct.Q4_1``)."""
    low = model.lower()
    return CATALOG.get(model) or next((m for name, m in CATALOG.items() if name in low), None)


def cannot_write(model: str, language: str) -> bool:
    """Does the catalog know this model cannot write ``language`` at all (checked, not guessed)?"""
    info = known(model)
    return info is not None and language in info.cannot_write


def korean_models() -> list[ModelInfo]:
    """Local models that answer Korean, best first (what the README, doctor and console recommend)."""
    rank = {"good": 0, "fair": 1, "weak": 2}
    return sorted((m for m in CATALOG.values() if m.local and m.korean in rank), key=lambda m: rank[m.korean])


def context_length(model: str, cap: int = DEFAULT_CONTEXT) -> int:
    """Context to request: the model's own, capped (a 128k KV cache would not fit the plan's GPUs)."""
    info = CATALOG.get(model)
    return min(info.context, cap) if info else cap


def cost_usd(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    prices: dict[str, tuple[float, float]] | None = None,
) -> float:
    """API cost of one call; 0 for local models (their cost is hardware and power, see the cost report)."""
    price = (prices or {}).get(model)
    if price is None:
        info = CATALOG.get(model)
        price = (info.price_in, info.price_out) if info else (0.0, 0.0)
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
