"""Cache-aware host choice: a question's prompts go to one healthy host (rendezvous hashing on the stable
prefix), a stable second choice when it is down, the least busy host when it is overloaded."""

from __future__ import annotations

from collections import Counter

from jindan.llm.base import ChatMessage
from jindan.llm.hosts import HostPool, routing_key

URLS = ["http://a", "http://b", "http://c"]


def prompt(question: str, student: str) -> list[ChatMessage]:
    system = ChatMessage("system", "You give hints.", stable_chars=len("You give hints."))
    stable = f"<target>{question}</target>\n"
    return [system, ChatMessage("user", stable + f"<student>{student}</student>", stable_chars=len(stable))]


def first(pool: HostPool, key: str) -> str:
    return pool.order(key)[0].url


def test_the_stable_prefix_is_the_key() -> None:
    assert routing_key(prompt("x + 1 = 2", "I think 3")) == routing_key(prompt("x + 1 = 2", "no idea"))
    assert routing_key(prompt("x + 1 = 2", "a")) != routing_key(prompt("x + 2 = 5", "a"))
    chat = [ChatMessage("user", "hi"), ChatMessage("assistant", "hello"), ChatMessage("user", "what is 2+2?")]
    assert routing_key(chat) == routing_key([*chat[:2], ChatMessage("user", "something else")])


def test_a_question_sticks_to_one_host_and_questions_spread() -> None:
    pool = HostPool(URLS)
    keys = [routing_key(prompt(f"question {i}", "s")) for i in range(300)]
    chosen = {k: first(pool, k) for k in keys}
    assert all(first(pool, k) == chosen[k] for k in keys)  # again and again the same host
    assert all(HostPool(URLS[::-1]).order(k)[0].url == chosen[k] for k in keys)  # on every replica, any order
    spread = Counter(chosen.values())
    assert set(spread) == set(URLS) and min(spread.values()) > 60


def test_a_host_down_moves_only_its_questions_to_a_stable_second_choice() -> None:
    pool = HostPool(URLS, cooldown_s=60)
    keys = [routing_key(prompt(f"question {i}", "s")) for i in range(100)]
    before = {k: [h.url for h in pool.order(k)] for k in keys}
    down = pool.hosts[1]
    pool.failed(down)
    for k in keys:
        order = [h.url for h in pool.order(k)]
        assert order[-1] == down.url  # cooling down: tried last
        if before[k][0] != down.url:
            assert order[0] == before[k][0]  # other questions stay where their cache is
        else:
            assert order[0] == before[k][1]  # its questions go to their second choice, the same each time
    pool.succeeded(down)
    assert all(first(pool, k) == before[k][0] for k in keys)


def test_a_busy_host_spills_by_load_and_the_load_policy_ignores_the_key() -> None:
    pool = HostPool(URLS, spill_inflight=2)
    key = routing_key(prompt("question 7", "s"))
    home = pool.order(key)[0]
    with pool.lease(home):
        assert pool.order(key)[0] is home  # one more in flight than the others: still home
        with pool.lease(home):
            assert pool.order(key)[0] is not home and pool.order(key)[-1] is home  # two more: by load
    by_load = HostPool(URLS, policy="load")
    with by_load.lease(by_load.hosts[0]), by_load.lease(by_load.hosts[1]):
        assert first(by_load, key) == "http://c"
