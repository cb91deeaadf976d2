"""The internal conversation and tools on the backends' own wires (OpenAI-compatible, Ollama, Gemini).

What each provider sends when a request carries tools, or a history with tool calls and results: the
providers stay thin, and the gateway's tests can assert the exact JSON each backend receives.
"""

from __future__ import annotations

import json
from typing import Any

from jindan.llm.base import ChatMessage, GenOptions, ToolCall
from jindan.llm.tools import spec


def args_object(call: ToolCall) -> dict[str, Any]:
    """A call's arguments as an object (Ollama and Gemini want one; the OpenAI wire a JSON string)."""
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def result_object(message: ChatMessage) -> dict[str, Any]:
    """A tool result as Gemini's ``functionResponse.response`` object (text that is not one goes in ``result``)."""
    try:
        value = json.loads(message.content)
    except ValueError:
        return {"result": message.content}
    return value if isinstance(value, dict) else {"result": value}


# OpenAI-compatible servers (vLLM, llama.cpp server, LiteLLM, OpenAI itself) ---------------------------------
def openai_message(m: ChatMessage) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
    if m.tool_calls:
        calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                 for c in m.tool_calls]  # fmt: skip
        return {"role": "assistant", "content": m.content or None, "tool_calls": calls}
    return {"role": m.role, "content": m.content}


def openai_tools(opts: GenOptions) -> dict[str, Any]:
    """``tools``, ``tool_choice`` and ``parallel_tool_calls`` as the OpenAI wire says them."""
    if not opts.tools:
        return {}
    tools = opts.tools if opts.tool_choice != "required" or len(opts.allowed) == 1 else opts.callable_tools()
    out: dict[str, Any] = {"tools": [spec(t) for t in tools]}
    if opts.tool_choice == "required" and len(opts.allowed) == 1:
        out["tool_choice"] = {"type": "function", "function": {"name": opts.allowed[0]}}
    else:
        out["tool_choice"] = opts.tool_choice
    if not opts.parallel_tool_calls:
        out["parallel_tool_calls"] = False
    return out


# Ollama (/api/chat) ------------------------------------------------------------------------------------------
def ollama_message(m: ChatMessage) -> dict[str, Any]:
    if m.role == "tool":
        out: dict[str, Any] = {"role": "tool", "content": m.content}
        if m.name:
            out["tool_name"] = m.name
        return out
    if m.tool_calls:
        calls = [{"function": {"name": c.name, "arguments": args_object(c)}} for c in m.tool_calls]
        return {"role": "assistant", "content": m.content, "tool_calls": calls}
    return {"role": m.role, "content": m.content}


# Gemini (google-genai) ---------------------------------------------------------------------------------------
def gemini_contents(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The turns after the system instruction: calls as ``function_call`` parts, results as
    ``function_response`` parts (consecutive results in one user turn, as Gemini expects)."""
    contents: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            part = {"function_response": {"name": m.name or "", "response": result_object(m)}}
            if contents and contents[-1].get("results"):
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part], "results": True})
            continue
        parts: list[dict[str, Any]] = [{"text": m.content}] if m.content or not m.tool_calls else []
        parts += [{"function_call": {"name": c.name, "args": args_object(c)}} for c in m.tool_calls]
        contents.append({"role": "model" if m.role == "assistant" else "user", "parts": parts})
    for c in contents:
        c.pop("results", None)
    return contents


GEMINI_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def gemini_tools(opts: GenOptions) -> dict[str, Any]:
    """``tools`` and ``tool_config`` of a ``GenerateContentConfig``; automatic function calling off (jindan
    returns the calls to its caller)."""
    if not opts.tools:
        return {}
    declarations = [{"name": t.name, "description": t.description, "parameters_json_schema": t.parameters}
                    for t in opts.tools]  # fmt: skip
    calling: dict[str, Any] = {"mode": GEMINI_MODES[opts.tool_choice]}
    if opts.tool_choice == "required" and opts.allowed:
        calling["allowed_function_names"] = list(opts.allowed)
    return {
        "tools": [{"function_declarations": declarations}],
        "tool_config": {"function_calling_config": calling},
        "automatic_function_calling": {"disable": True},
    }
