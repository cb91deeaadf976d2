"""Prompt tokens with their reusable prefixes, and KV-only sequence states, for the embedded llama.cpp model.

``render`` applies the GGUF's chat template and tokenizes piece by piece: the template's own text with special
tokens, each message's content *without* them (a ``<|im_end|>`` written by a student or found in a retrieved
item stays plain text), and it records where each message's stable part ends (``ChatMessage.stable_chars``),
so the tokens of a prefix never depend on what follows it.

``save``/``restore`` copy the KV cache of sequence 0 (``llama_state_seq_get_data``/``set_data``): ~23 KB per
token for SmolLM2-135M, without the logits (llama-cpp-python's ``LlamaRAMCache`` also saves n_tokens x n_vocab
floats, which is what makes it slow). After a restore the next evaluated token recomputes the logits, so a
prefix is only ever restored below a longer prompt.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jindan.llm.base import ChatMessage

OPEN, CLOSE, CUT = "\ue000", "\ue001", "\ue002"  # private-use characters: markers that never reach the model
_SPLIT = re.compile(f"([{OPEN}{CLOSE}{CUT}])")


@dataclass(frozen=True)
class Rendered:
    tokens: list[int]
    cuts: list[int]  # token counts at which a reusable prefix ends, ascending, each < len(tokens)
    stop: list[str]


def chat_formatter(llm: Any) -> Any | None:
    """The GGUF's own chat template (what ``create_chat_completion`` uses), or None when it has none."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text(token: int) -> str:
        return str(llm._model.token_get_text(token)) if token != -1 else ""

    return Jinja2ChatFormatter(
        template=template, eos_token=text(llm.token_eos()), bos_token=text(llm.token_bos()), add_generation_prompt=True
    )


def render(llm: Any, formatter: Any, messages: Sequence[ChatMessage]) -> Rendered:
    marked = []
    clean = not any(ch in m.content for m in messages for ch in (OPEN, CLOSE, CUT))
    for m in messages:
        content = m.content.translate({ord(OPEN): None, ord(CLOSE): None, ord(CUT): None})
        if clean and m.stable_chars is not None:
            k = min(max(m.stable_chars, 0), len(content))
            content = content[:k] + CUT + content[k:]
        marked.append({"role": m.role, "content": OPEN + content + CLOSE})
    result = formatter(messages=marked)
    tokens: list[int] = []
    cuts: list[int] = []
    in_content = False
    for piece in _SPLIT.split(result.prompt):
        if piece == OPEN:
            in_content = True
        elif piece == CLOSE:
            in_content = False
        elif piece == CUT:
            cuts.append(len(tokens))
        elif piece:
            tokens += llm.tokenize(piece.encode(), add_bos=False, special=not in_content)
    cuts = sorted({c for c in cuts if 0 < c < len(tokens)})
    return Rendered(tokens, cuts, list(result.stop or []))


def live_prefix(llm: Any, tokens: Sequence[int]) -> bool:
    """The model's KV cache already holds exactly these tokens at its start."""
    n = len(tokens)
    return bool(llm.n_tokens >= n and list(llm.input_ids[:n]) == list(tokens))


def save(llm: Any) -> Any:
    """The KV cache of sequence 0 as a buffer (the tokens it holds are ``llm.input_ids[:llm.n_tokens]``)."""
    import llama_cpp

    ctx = llm._ctx.ctx
    size = llama_cpp.llama_state_seq_get_size(ctx, 0)
    buf = (ctypes.c_uint8 * size)()
    if llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0) != size:
        raise RuntimeError("llama_state_seq_get_data copied less than its size")
    return buf


def restore(llm: Any, tokens: Sequence[int], data: Any) -> bool:
    """Load a state saved after evaluating ``tokens``; False (and an empty cache) if llama.cpp refuses it."""
    import llama_cpp

    ctx = llm._ctx.ctx
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    llm.reset()
    view = memoryview(data)
    buf = (ctypes.c_uint8 * view.nbytes).from_buffer(data) if not view.readonly else None
    if buf is None:
        buf = (ctypes.c_uint8 * view.nbytes).from_buffer_copy(view)
    if llama_cpp.llama_state_seq_set_data(ctx, buf, view.nbytes, 0) != view.nbytes:
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        return False
    n = len(tokens)
    llm.input_ids[:n] = tokens
    llm.n_tokens = n
    llm._requires_eval = True  # the logits are not restored: the next token must be evaluated
    return True
