"""Embedders behind HTTP APIs: Ollama's native /api/embed (production) and OpenAI (the legacy vectors)."""

from __future__ import annotations

from typing import Any

from jindan.embed.base import EmbedderError, Matrix, normalized


class OllamaEmbedder:
    """``/api/embed`` on the first healthy Ollama host; all-minilm gives 384-d, bge-m3 1024-d."""

    def __init__(
        self,
        hosts: list[str],
        model: str = "all-minilm",
        *,
        dim: int = 384,
        batch_size: int = 64,
        timeout_s: float = 60.0,
    ) -> None:
        try:
            import ollama
        except ImportError as exc:
            raise EmbedderError("the ollama client is not installed: pip install 'jindan[ollama]'") from exc
        self.model_id = model
        self.dim = dim
        self.batch_size = batch_size
        self.clients = [ollama.Client(host=h, timeout=timeout_s) for h in hosts]

    def _embed(self, texts: list[str]) -> Matrix:
        rows: list[Any] = []
        for i in range(0, len(texts), self.batch_size):
            batch, errors = texts[i : i + self.batch_size], []
            for client in self.clients:
                try:
                    rows.extend(client.embed(model=self.model_id, input=batch).embeddings)
                    break
                except Exception as exc:  # next host
                    errors.append(f"{type(exc).__name__}: {exc}")
            else:
                raise EmbedderError(
                    f"no Ollama host embedded the batch ({'; '.join(errors)}); is `ollama pull {self.model_id}` done?"
                )
        return normalized(rows or [[0.0] * self.dim], self.dim, self.model_id)[: len(texts)]

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self._embed(texts)

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self._embed(texts)


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
        self.client = openai.OpenAI(api_key=api_key or "not-needed", base_url=base_url, max_retries=2)

    def _embed(self, texts: list[str]) -> Matrix:
        rows: list[Any] = []
        for i in range(0, len(texts), self.batch_size):
            resp = self.client.embeddings.create(model=self.model_id, input=texts[i : i + self.batch_size])
            rows.extend(d.embedding for d in sorted(resp.data, key=lambda d: d.index))
        return normalized(rows or [[0.0] * self.dim], self.dim, self.model_id)[: len(texts)]

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self._embed(texts)

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self._embed(texts)
