"""Embedders behind HTTP APIs: Ollama's native /api/embed (production) and OpenAI (the legacy vectors)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from jindan.embed.base import EmbedderError, EmbedderSwitchedOff, Matrix, ProviderGate, normalized
from jindan.retry import retry_after


class OllamaEmbedder:
    """``POST /api/embed`` on the first Ollama host that answers; all-minilm gives 384-d, bge-m3 1024-d.

    A host that fails (unreachable, an HTTP error, a reply cut short) is passed over for the next one. When
    every host is busy (429 or 503 with ``Retry-After``), the batch waits as long as they asked (at most
    ``max_wait_s``) and is sent again, ``attempts`` rounds in all; otherwise the error names every host's reason.
    """

    def __init__(
        self,
        hosts: list[str],
        model: str = "all-minilm",
        *,
        dim: int = 384,
        batch_size: int = 64,
        timeout_s: float = 60.0,
        max_wait_s: float = 30.0,
        attempts: int = 3,
    ) -> None:
        if not hosts:
            raise EmbedderError("no Ollama host configured: set JINDAN_OLLAMA__HOSTS")
        self.model_id = model
        self.dim = dim
        self.batch_size = batch_size
        self.hosts = [h.rstrip("/") for h in hosts]
        self.http = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)))
        self.max_wait_s, self.attempts = max_wait_s, attempts
        self.sleep = time.sleep

    def _batch(self, batch: list[str]) -> list[Any]:
        for attempt in range(1, self.attempts + 1):
            errors: list[str] = []
            waits: list[float] = []
            for host in self.hosts:
                try:
                    r = self.http.post(f"{host}/api/embed", json={"model": self.model_id, "input": batch})
                except httpx.HTTPError as exc:
                    errors.append(f"{host}: {type(exc).__name__}: {exc}")
                    continue
                if r.status_code != 200:
                    errors.append(f"{host}: HTTP {r.status_code} {_reason(r)}")
                    wait = retry_after(r.status_code, r.headers)
                    if wait is not None:
                        waits.append(wait)
                    continue
                try:
                    rows: list[Any] = r.json()["embeddings"]
                except (ValueError, KeyError, TypeError) as exc:
                    errors.append(f"{host}: unreadable reply ({type(exc).__name__})")
                    continue
                if len(rows) == len(batch):
                    return rows
                errors.append(f"{host}: {len(rows)} vectors for {len(batch)} texts")
            all_busy = len(waits) == len(self.hosts) and min(waits) <= self.max_wait_s
            if not all_busy or attempt == self.attempts:
                break
            self.sleep(min(waits))
        hint = f"; run `ollama pull {self.model_id}` on it" if any(" HTTP 404 " in e for e in errors) else ""
        raise EmbedderError(f"no Ollama host embedded the batch ({'; '.join(errors)}){hint}")

    def _embed(self, texts: list[str]) -> Matrix:
        rows: list[Any] = []
        for i in range(0, len(texts), self.batch_size):
            rows.extend(self._batch(texts[i : i + self.batch_size]))
        return normalized(rows or [[0.0] * self.dim], self.dim, self.model_id)[: len(texts)]

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self._embed(texts)

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self._embed(texts)


def _reason(r: httpx.Response) -> str:
    """Ollama's ``{"error": ...}``, else the start of the body on one line."""
    try:
        return str(r.json()["error"])[:200]
    except (ValueError, KeyError, TypeError):
        return " ".join(r.text.split())[:200]


class OpenAIEmbedder:
    """OpenAI embeddings: needed to query the vectors that already sit in pgvector during the move."""

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        api_key: str | None,
        base_url: str | None = None,
        dim: int = 1536,
        batch_size: int = 256,
        timeout_s: float = 60.0,
    ) -> None:
        try:
            import openai
        except ImportError as exc:
            raise EmbedderError("the openai SDK is not installed: pip install 'jindan[openai]'") from exc
        if not api_key and not base_url:
            raise EmbedderError("OpenAI embeddings need JINDAN_OPENAI__API_KEY")
        self.model_id = model
        self.dim = dim
        self.batch_size = batch_size
        # the SDK retries 429 and 5xx twice, waiting what Retry-After asks (up to a minute)
        self.client = openai.OpenAI(
            api_key=api_key or "not-needed", base_url=base_url, max_retries=2, timeout=timeout_s
        )
        self.where = base_url or "api.openai.com"
        self.gate: ProviderGate | None = None  # the legacy switch (set where the process reads it)

    def _embed(self, texts: list[str]) -> Matrix:
        refused = self.gate.refused("openai") if self.gate is not None else None
        if refused is not None:
            raise EmbedderSwitchedOff(f"OpenAI embeddings ({self.where}) refused: {refused}; or re-index with a "
                                      "local embedder (`jindan index questions --rebuild`)")  # fmt: skip
        rows: list[Any] = []
        for i in range(0, len(texts), self.batch_size):
            batch = texts[i : i + self.batch_size]
            try:
                resp = self.client.embeddings.create(model=self.model_id, input=batch, encoding_format="float")
                got = [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]
            except Exception as exc:  # the SDK's errors, and replies it could not read
                raise EmbedderError(f"OpenAI embeddings at {self.where} failed: {type(exc).__name__}: {exc}") from exc
            if len(got) != len(batch):
                raise EmbedderError(f"OpenAI embeddings at {self.where} returned {len(got)} vectors for {len(batch)}")
            rows.extend(got)
        return normalized(rows or [[0.0] * self.dim], self.dim, self.model_id)[: len(texts)]

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self._embed(texts)

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self._embed(texts)
