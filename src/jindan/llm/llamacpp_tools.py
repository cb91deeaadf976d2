"""How the embedded model answers a request with tools: text, or calls whose arguments always parse.

``tool_choice`` required (or a named / allowed function): the answer is decoded under a grammar of
``<tool_call>`` blocks, one alternative per callable tool, built from their JSON Schemas (``llm.grammar``).
``auto``: the model decides, from the probability it gives the opening of a call at the first position of its
answer: at least ``threshold`` (a setting), the answer is calls; below it, plain text with no grammar. A small
model gives a call's opening some probability where a tool fits and almost none for chit-chat, but seldom
ranks it first, so the decision is a threshold rather than its top choice.

A call that repeats one already made in this answer ends the answer there (small models loop); in ``auto``, a
call identical to one the conversation already answered is not made again either, and when no new call is
left the model answers in text instead. Calls are released whole, when their arguments close, so a dropped
repeat never reaches the client; an answer cut by ``max_tokens`` inside a call releases the calls before it
and says ``length``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from jindan.llm import grammar
from jindan.llm.base import ChatMessage, GenOptions, ToolCallDelta
from jindan.llm.tools import CallParser, ToolCalls

Piece = tuple[str | ToolCallDelta | None, str | None]  # (text, a call piece, or None: a token held back; reason)
Complete = Callable[[str | None], Iterator[tuple[str, str | None]]]  # grammar text -> (text, finish reason)


def key(name: str, arguments: str) -> tuple[str, str]:
    try:
        return name, json.dumps(json.loads(arguments or "{}"), sort_keys=True)
    except ValueError:
        return name, arguments


def answer(
    complete: Complete,
    opening: Callable[[], float] | None,
    opts: GenOptions,
    history: list[ChatMessage],
    threshold: float,
) -> Iterator[Piece]:
    """The pieces of one answer. ``opening`` gives the probability of a call's opening at the answer's first
    position (None: the backend cannot tell; then one grammar offers both text and calls)."""
    tools = opts.callable_tools()
    required = opts.tool_choice == "required"
    if not tools or (not required and opening is not None and opening() < threshold):
        yield from complete(None)
        return
    answered = set() if required else {key(c.name, c.arguments) for m in history for c in m.tool_calls}
    text_allowed = not required and opening is None
    rules = grammar.for_tools(tools, required=not text_allowed, parallel=opts.parallel_tool_calls,
                              budget=opts.max_tokens)  # fmt: skip
    parser, calls, made = CallParser(), ToolCalls(), set[tuple[str, str]]()
    kept = handled = 0
    reason: str | None = None
    stopped = False
    pieces = complete(rules)
    try:
        for text, why in pieces:
            reason = why or reason
            for event in parser.feed(text):
                if isinstance(event, ToolCallDelta):
                    calls.add(event)
                else:
                    yield event.text, None  # plain text (a grammar that also allows text chose it)
            if text and parser.state != "text":
                yield None, None  # a token spent on a call not released yet
            if parser.closed > handled:
                call = calls.calls()[handled]
                handled += 1
                k = key(call.name, call.arguments)
                if k in made or k in answered:
                    stopped = True
                    break
                made.add(k)
                yield ToolCallDelta(kept, call.id, call.name, ""), None
                yield ToolCallDelta(kept, arguments=call.arguments), None
                kept += 1
                if not opts.parallel_tool_calls:
                    stopped = True
                    break
    finally:
        pieces.close()  # type: ignore[attr-defined]
    if parser.state == "text":
        yield "", reason
    elif kept == 0 and not required and reason != "length":
        yield from complete(grammar.TEXT)  # every call was a repeat: the model answers in text (not a call)
    elif reason == "length" and not stopped:
        yield "", "length"
    else:
        yield "", "tool_calls" if kept else reason or "stop"
