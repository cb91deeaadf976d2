"""Tool calls for backends that only read and write text (the embedded llama.cpp model).

The conversation is written in the Hermes / Qwen 2.5 convention that instruction-tuned models learn: the tools
as JSON in the system prompt, each call as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, each
result as ``<tool_response>...</tool_response>`` in a user turn. ``CallParser`` turns the model's text back into
``Delta`` and ``ToolCallDelta`` events while it streams; the text it reads is grammar-constrained
(``llm.grammar``), so a call always has exactly the layout ``CALL_HEAD`` describes. ``ToolCalls`` assembles
streamed pieces into whole calls, for every consumer of a stream.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field

from jindan.llm.base import ChatMessage, Delta, GenOptions, Tool, ToolCall, ToolCallDelta

OPEN, CLOSE = "<tool_call>\n", "\n</tool_call>"
CALL_HEAD = re.compile(r'\n?<tool_call>\n\{"name": "([A-Za-z0-9_.\-]{1,64})", "arguments": ')


def new_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def spec(tool: Tool) -> dict[str, object]:
    return {"type": "function", "function": {"name": tool.name, "description": tool.description,
                                             "parameters": tool.parameters}}  # fmt: skip


def call_text(call: ToolCall) -> str:
    try:
        arguments = json.dumps(json.loads(call.arguments or "{}"), ensure_ascii=False)
    except ValueError:
        arguments = call.arguments
    return f'{OPEN}{{"name": "{call.name}", "arguments": {arguments}}}{CLOSE}'


def instructions(opts: GenOptions) -> str:
    tools = opts.callable_tools()
    listed = "\n".join(json.dumps(spec(t), ensure_ascii=False) for t in tools)
    must = (
        "You must call one of these functions now."
        if opts.tool_choice == "required"
        else "Call a function when it is needed to answer; otherwise answer the user directly."
    )
    return (
        f"You can call functions. They are described, as JSON Schemas, inside <tools></tools>:\n<tools>\n{listed}\n"
        "</tools>\nTo call a function, answer with a JSON object holding its name and arguments inside "
        f'<tool_call></tool_call> tags:\n<tool_call>\n{{"name": "<function name>", "arguments": {{...}}}}\n'
        f"</tool_call>\nA function's result comes back inside <tool_response></tool_response> tags. {must}"
    )


def as_text_chat(messages: list[ChatMessage], opts: GenOptions) -> list[ChatMessage]:
    """``messages`` with tool calls, tool results and the tools themselves written as plain chat turns."""
    if not opts.callable_tools() and not any(m.tool_calls or m.role == "tool" for m in messages):
        return messages
    out: list[ChatMessage] = []
    if opts.callable_tools():
        note = instructions(opts)
        if messages and messages[0].role == "system":
            first = messages[0]
            out.append(ChatMessage("system", f"{first.content}\n\n{note}" if first.content else note))
            messages = messages[1:]
        else:
            out.append(ChatMessage("system", note))
    for m in messages:
        if m.role == "tool":
            turn = f"<tool_response>\n{m.content}\n</tool_response>"
            if out and out[-1].role == "user" and out[-1].content.endswith("</tool_response>"):
                out[-1] = ChatMessage("user", f"{out[-1].content}\n{turn}")
            else:
                out.append(ChatMessage("user", turn))
        elif m.tool_calls:
            calls = "\n".join(call_text(c) for c in m.tool_calls)
            out.append(ChatMessage("assistant", f"{m.content}\n{calls}" if m.content else calls))
        else:
            out.append(m)
    return out


@dataclass
class CallParser:
    """Reads a constrained answer (plain text, or ``<tool_call>`` blocks) piece by piece into events.

    States: ``start`` (the first character decides), ``text``, ``head`` (before a call's arguments), ``args``
    (streamed as they come), ``tail`` (the call's closing ``}`` and tag)."""

    state: str = "start"
    buffer: str = ""
    calls: int = 0  # calls begun
    closed: int = 0  # calls whose arguments are complete
    depth: int = 0
    in_string: bool = False
    escaped: bool = False

    def feed(self, piece: str) -> list[Delta | ToolCallDelta]:
        self.buffer += piece
        out: list[Delta | ToolCallDelta] = []
        while self.buffer:
            if self.state == "start":
                self.state = "head" if self.buffer.startswith("<") else "text"
            elif self.state == "text":
                out.append(Delta(self.buffer))
                self.buffer = ""
            elif self.state == "head":
                found = CALL_HEAD.match(self.buffer)
                if found is None:
                    if not _could_start(self.buffer):  # not a call after all (only without a grammar)
                        self.state = "text"
                        continue
                    break
                out.append(ToolCallDelta(self.calls, new_id(), found.group(1), ""))
                self.calls += 1
                self.buffer = self.buffer[found.end() :]
                self.state, self.depth, self.in_string, self.escaped = "args", 0, False, False
            elif self.state == "args":
                out.extend(self._args())
            else:  # tail (the converter may leave one space after the arguments)
                self.buffer = self.buffer.lstrip(" ")
                if not self.buffer:
                    break
                if len(self.buffer) < len(TAIL):
                    if not TAIL.startswith(self.buffer):
                        self.state = "text"
                        continue
                    break
                if not self.buffer.startswith(TAIL):
                    self.state = "text"
                    continue
                self.buffer = self.buffer[len(TAIL) :]
                self.state = "head"
        return out

    def _args(self) -> list[Delta | ToolCallDelta]:
        for i, ch in enumerate(self.buffer):
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif ch == "\\":
                    self.escaped = True
                elif ch == '"':
                    self.in_string = False
            elif ch == '"':
                self.in_string = True
            elif ch in "{[":
                self.depth += 1
            elif ch in "}]":
                self.depth -= 1
                if self.depth <= 0:
                    done, self.buffer = self.buffer[: i + 1], self.buffer[i + 1 :]
                    self.state, self.closed = "tail", self.closed + 1
                    return [ToolCallDelta(self.calls - 1, arguments=done)]
        done, self.buffer = self.buffer, ""
        return [ToolCallDelta(self.calls - 1, arguments=done)] if done else []

    def finish(self) -> list[Delta]:
        """At the end of the answer: text held back because it looked like the start of a call, when no call
        came of it."""
        if self.calls or self.state != "head" or not self.buffer:
            return []
        text, self.buffer = self.buffer, ""
        return [Delta(text)]


TAIL = "}" + CLOSE


def _could_start(text: str) -> bool:
    """``text`` could still become a call's opening (``<tool_call>\\n{"name": "...``)."""
    for opening in (OPEN + '{"name": "', "\n" + OPEN + '{"name": "'):
        if opening.startswith(text[: len(opening)]) and (len(text) <= len(opening) or text.startswith(opening)):
            return True
    return False


@dataclass
class ToolCalls:
    """Streamed ``ToolCallDelta`` pieces assembled into whole calls, by index."""

    parts: dict[int, list[str]] = field(default_factory=dict)  # index -> [id, name, arguments]

    def add(self, d: ToolCallDelta) -> None:
        entry = self.parts.setdefault(d.index, ["", "", ""])
        entry[0] = d.id or entry[0]
        entry[1] = d.name or entry[1]
        entry[2] += d.arguments

    def __bool__(self) -> bool:
        return bool(self.parts)

    def calls(self) -> list[ToolCall]:
        return [ToolCall(i or new_id(), n, a) for _, (i, n, a) in sorted(self.parts.items())]


def call_schema(tools: tuple[Tool, ...]) -> dict[str, object]:
    """A JSON Schema every call of one of ``tools`` matches: ``{"name": ..., "arguments": {...}}``."""
    options = [
        {
            "type": "object",
            "properties": {"name": {"const": t.name}, "arguments": t.parameters},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}
