"""The routing bench against two fake OpenAI-compatible model servers (local HTTP servers answering as a
llama.cpp server streams): prefix routing keeps every question on one host, so every repeated prefix finds
its cache; least-busy routing spreads a question over both hosts and misses; the exact requests sent."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from jindan.bench import routing
from jindan.llm.base import ChatMessage
from jindan.llm.hosts import HostPool, routing_key

QUESTIONS, STUDENTS = 6, 4


def prompt(question: int, student: int) -> list[ChatMessage]:
    system = ChatMessage("system", "You give hints.", stable_chars=len("You give hints."))
    stable = f"<target>question {question}: solve x + {question} = 10</target>\n"
    user = ChatMessage("user", stable + f"<student>my answer is {student}</student>", stable_chars=len(stable))
    return [system, user]


def prompts(offset: int) -> dict[int, list[list[ChatMessage]]]:
    return {q: [prompt(q, s) for s in range(STUDENTS)] for q in range(offset, offset + QUESTIONS)}


def sse(request: Request) -> Response:
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Try"}}]}, {"choices": []}]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return Response(body, content_type="text/event-stream")


@pytest.fixture()
def second() -> Iterator[HTTPServer]:
    server = HTTPServer()
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def hosts(*servers: HTTPServer) -> list[str]:
    for s in servers:
        s.expect_request("/v1/chat/completions", method="POST").respond_with_handler(sse)
    return [s.url_for("").rstrip("/") for s in servers]


def test_prefix_routing_finds_every_repeated_prefix_and_load_routing_misses(
    httpserver: HTTPServer, second: HTTPServer
) -> None:
    urls = hosts(httpserver, second)
    result = routing.compare({"prefix": prompts(0), "load": prompts(100)}, urls, model="smollm2", seed=3)
    prefix, load = result["policies"]["prefix"], result["policies"]["load"]
    repeats = QUESTIONS * (STUDENTS - 1)
    assert prefix["requests"] == load["requests"] == QUESTIONS * STUDENTS
    assert (prefix["repeats"], prefix["prefix_hits"], prefix["hit_rate"]) == (repeats, repeats, 1.0)
    assert prefix["questions_on_one_host"] == f"{QUESTIONS}/{QUESTIONS}" and prefix["ttft_ms_p50_miss"] is None
    assert load["repeats"] == repeats and load["prefix_hits"] < repeats and load["hit_rate"] < 1.0
    assert sorted(load["per_host"].values()) == [12, 12]  # least busy, ties to the longest unused: alternating
    homes = {q: HostPool(urls).order(routing_key(prompt(q, 0)))[0].url for q in range(QUESTIONS)}
    assert prefix["per_host"] == {u: STUDENTS * list(homes.values()).count(u) for u in urls if u in homes.values()}

    first = json.loads(httpserver.log[0][0].get_data())
    assert set(first) == {"model", "messages", "max_tokens", "temperature", "stream"}
    assert (first["model"], first["max_tokens"], first["temperature"], first["stream"]) == ("smollm2", 1, 0, True)
    assert first["messages"][0] == {"role": "system", "content": "You give hints."}
    assert first["messages"][1]["role"] == "user" and "<student>my answer is" in first["messages"][1]["content"]


def test_a_host_down_is_counted_and_its_questions_move(httpserver: HTTPServer, second: HTTPServer) -> None:
    urls = hosts(httpserver)
    second.expect_request("/v1/chat/completions", method="POST").respond_with_data("loading model", status=503)
    urls.append(second.url_for("").rstrip("/"))
    requests = routing.traffic(prompts(0), seed=1)
    run = routing.route(requests, urls, "prefix", model="smollm2")
    assert run.failed == 1  # the first request sent there; then the host cools down and everything goes to the other
    assert dict(run.hosts) == {urls[0]: QUESTIONS * STUDENTS - 1}
