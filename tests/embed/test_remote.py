"""The remote embedders against a local HTTP server: Ollama's /api/embed and OpenAI's /v1/embeddings, with
the exact request JSON asserted and the answers a real server gives replayed: success, 429 with Retry-After,
5xx, and a reply cut short."""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from jindan.embed.base import EmbedderError
from jindan.embed.remote import OllamaEmbedder, OpenAIEmbedder

TEXTS = ["분수의 덧셈", "삼각형의 넓이", "확률"]


def vectors(n: int, dim: int = 4, seed: int = 0) -> list[list[float]]:
    return np.random.default_rng(seed).normal(size=(n, dim)).round(4).tolist()


def unit(rows: list[list[float]]) -> np.ndarray:
    m = np.asarray(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# Ollama ------------------------------------------------------------------------------------------------


def ollama(*hosts: str, **kw: object) -> OllamaEmbedder:
    e = OllamaEmbedder(list(hosts), "bge-m3", dim=4, batch_size=2, timeout_s=5, **kw)  # type: ignore[arg-type]
    e.waited = []  # type: ignore[attr-defined]
    e.sleep = e.waited.append  # type: ignore[attr-defined, method-assign]  # record the waits, do not sleep
    return e


def embed_reply(rows: list[list[float]]) -> dict[str, object]:
    return {"model": "bge-m3", "embeddings": rows, "total_duration": 14_000_000, "prompt_eval_count": 9}


def test_ollama_request_json_batches_and_normalises(httpserver: HTTPServer) -> None:
    rows = vectors(3)
    httpserver.expect_ordered_request(
        "/api/embed", method="POST", json={"model": "bge-m3", "input": TEXTS[:2]}
    ).respond_with_json(embed_reply(rows[:2]))
    httpserver.expect_ordered_request(
        "/api/embed", method="POST", json={"model": "bge-m3", "input": TEXTS[2:]}
    ).respond_with_json(embed_reply(rows[2:]))
    got = ollama(httpserver.url_for("")).embed_passages(TEXTS)
    assert got.dtype == np.float32 and got.shape == (3, 4)
    assert np.allclose(got, unit(rows), atol=1e-6)
    httpserver.check_assertions()
    assert ollama(httpserver.url_for("")).embed_queries([]).shape == (0, 4)  # nothing asked, nothing sent
    assert len(httpserver.log) == 2


def test_ollama_429_with_retry_after_waits_that_long_then_succeeds(httpserver: HTTPServer) -> None:
    busy = {"error": "server busy, please try again. maximum pending requests exceeded"}
    httpserver.expect_ordered_request("/api/embed").respond_with_json(busy, status=429, headers={"Retry-After": "2"})
    httpserver.expect_ordered_request("/api/embed").respond_with_json(embed_reply(vectors(2)))
    e = ollama(httpserver.url_for(""))
    assert e.embed_queries(TEXTS[:2]).shape == (2, 4)
    assert e.waited == [2.0] and len(httpserver.log) == 2  # type: ignore[attr-defined]


def test_ollama_a_wait_longer_than_allowed_is_an_error_at_once(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/embed").respond_with_json(
        {"error": "server busy"}, status=503, headers={"Retry-After": "120"}
    )
    e = ollama(httpserver.url_for(""), max_wait_s=30)
    with pytest.raises(EmbedderError, match=r"HTTP 503 .*server busy"):
        e.embed_queries(["x"])
    assert e.waited == [] and len(httpserver.log) == 1  # type: ignore[attr-defined]


def test_ollama_busy_every_round_gives_up_after_the_attempts(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/embed").respond_with_json(
        {"error": "server busy"}, status=429, headers={"Retry-After": "1"}
    )
    e = ollama(httpserver.url_for(""), attempts=3)
    with pytest.raises(EmbedderError, match="HTTP 429"):
        e.embed_queries(["x"])
    assert e.waited == [1.0, 1.0] and len(httpserver.log) == 3  # type: ignore[attr-defined]


def test_ollama_5xx_and_a_dead_host_pass_to_the_next_host(httpserver: HTTPServer) -> None:
    second = HTTPServer()
    second.start()
    try:
        httpserver.expect_request("/api/embed").respond_with_json({"error": "CUDA out of memory"}, status=500)
        second.expect_request("/api/embed", json={"model": "bge-m3", "input": ["x"]}).respond_with_json(
            embed_reply(vectors(1))
        )
        e = ollama(closed_port(), httpserver.url_for(""), second.url_for(""))
        assert e.embed_queries(["x"]).shape == (1, 4)
        assert len(httpserver.log) == 1 and len(second.log) == 1 and e.waited == []  # type: ignore[attr-defined]
    finally:
        second.clear()
        second.stop()


def test_ollama_a_reply_cut_short_is_an_error_naming_every_host(httpserver: HTTPServer) -> None:
    cut = json.dumps(embed_reply(vectors(2)))[:40]
    httpserver.expect_request("/api/embed").respond_with_data(cut, content_type="application/json")
    dead = closed_port()
    with pytest.raises(EmbedderError) as info:
        ollama(httpserver.url_for(""), dead).embed_queries(TEXTS[:2])
    said = str(info.value)
    assert "unreadable reply" in said and dead in said and "ConnectError" in said


def test_ollama_missing_model_says_to_pull_it(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/embed").respond_with_json({"error": 'model "bge-m3" not found'}, status=404)
    with pytest.raises(EmbedderError, match=r"ollama pull bge-m3"):
        ollama(httpserver.url_for("")).embed_queries(["x"])


def test_ollama_wrong_dimension_and_count_are_errors(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/api/embed").respond_with_json(embed_reply(vectors(1, dim=8)))
    httpserver.expect_ordered_request("/api/embed").respond_with_json(embed_reply(vectors(1)))
    e = ollama(httpserver.url_for(""))
    with pytest.raises(EmbedderError, match="8-d vectors; configured dimension is 4"):
        e.embed_queries(["x"])
    with pytest.raises(EmbedderError, match="1 vectors for 2 texts"):
        e.embed_queries(TEXTS[:2])


# OpenAI ------------------------------------------------------------------------------------------------


def openai_embedder(server: HTTPServer, **kw: object) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        "text-embedding-3-small", api_key="sk-test", base_url=server.url_for("/v1"), dim=4, batch_size=2, **kw
    )  # type: ignore[arg-type]


def openai_reply(rows: list[list[float]], order: list[int] | None = None) -> dict[str, object]:
    idx = order or list(range(len(rows)))
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": rows[i]} for i in idx],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }


def test_openai_request_json_order_and_batches(httpserver: HTTPServer) -> None:
    rows = vectors(3)
    httpserver.expect_ordered_request(
        "/v1/embeddings",
        method="POST",
        json={"model": "text-embedding-3-small", "input": TEXTS[:2], "encoding_format": "float"},
        headers={"Authorization": "Bearer sk-test"},
    ).respond_with_json(openai_reply(rows[:2], order=[1, 0]))  # the API may answer out of order
    httpserver.expect_ordered_request(
        "/v1/embeddings", json={"model": "text-embedding-3-small", "input": TEXTS[2:], "encoding_format": "float"}
    ).respond_with_json(openai_reply(rows[2:]))
    got = openai_embedder(httpserver).embed_passages(TEXTS)
    assert np.allclose(got, unit(rows), atol=1e-6)
    httpserver.check_assertions()


def test_openai_429_with_retry_after_is_waited_out(httpserver: HTTPServer) -> None:
    limited = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    httpserver.expect_ordered_request("/v1/embeddings").respond_with_json(
        limited, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request("/v1/embeddings").respond_with_json(openai_reply(vectors(1)))
    start = time.monotonic()
    assert openai_embedder(httpserver).embed_queries(["x"]).shape == (1, 4)
    assert time.monotonic() - start >= 0.95 and len(httpserver.log) == 2  # waited what the server asked


def test_openai_5xx_is_retried_then_an_error(httpserver: HTTPServer) -> None:
    calls: list[float] = []

    def overloaded(request: Request) -> Response:
        calls.append(time.monotonic())
        return Response(
            json.dumps({"error": {"message": "The server is overloaded"}}),
            status=500,
            headers={"Retry-After": "0.1"},
            content_type="application/json",
        )

    httpserver.expect_request("/v1/embeddings").respond_with_handler(overloaded)
    with pytest.raises(EmbedderError, match=r"failed: InternalServerError: .*overloaded"):
        openai_embedder(httpserver).embed_queries(["x"])
    assert len(calls) == 3  # the first try and the SDK's two retries


def test_openai_a_reply_cut_short_is_an_error(httpserver: HTTPServer) -> None:
    cut = json.dumps(openai_reply(vectors(1)))[:50]
    httpserver.expect_request("/v1/embeddings").respond_with_data(cut, content_type="application/json")
    with pytest.raises(EmbedderError, match=r"OpenAI embeddings at http://\S+/v1 failed"):
        openai_embedder(httpserver).embed_queries(["x"])


def test_openai_missing_key_is_actionable() -> None:
    with pytest.raises(EmbedderError, match="JINDAN_OPENAI__API_KEY"):
        OpenAIEmbedder(api_key=None)


class Switch:
    """The legacy switch as an embedder sees it (``LegacyGate.refused``)."""

    def __init__(self, off: bool) -> None:
        self.off = off

    def refused(self, provider: str) -> str | None:
        return f"legacy providers ({provider}) are switched off; `jindan legacy on` restores them" if self.off else None


def test_openai_refused_while_the_legacy_switch_is_off(httpserver: HTTPServer) -> None:
    from jindan.embed.base import EmbedderSwitchedOff

    e = openai_embedder(httpserver)
    e.gate = Switch(off=True)
    with pytest.raises(EmbedderSwitchedOff, match=r"OpenAI embeddings \(http://\S+/v1\) refused: .*legacy on"):
        e.embed_queries(["x"])
    assert httpserver.log == []  # refused before any request
    httpserver.expect_request("/v1/embeddings").respond_with_json(openai_reply(vectors(1)))
    e.gate = Switch(off=False)  # switched back on: the next call goes out
    assert e.embed_queries(["x"]).shape == (1, 4) and len(httpserver.log) == 1
