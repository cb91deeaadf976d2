"""What a client reads off an answer stream (hint or explanation): the text finally shown, when it came, what
it cost and what the checks said. The evaluation of answers and the end-to-end benchmark read streams this one way."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from jindan.answers.gate import Answering, Checked
from jindan.llm.base import Delta, Usage
from jindan.llm.router import Started
from jindan.rag.answer import Cited, RagEvent, Sources


@dataclass
class Read:
    """One answer as a client read it off the stream."""

    ttft_ms: float = 0.0  # to the first text the student is shown
    total_ms: float = 0.0
    sources_ms: float = 0.0  # to the sources (0: none came)
    prompt_estimate: int = 0  # the prompt's tokens as counted before it was sent (the sources event)
    text: str = ""  # what the student finally reads (a replaced model answer taken back)
    usage: Usage | None = None
    cited: bool = False
    asked: bool = False  # the model was asked (a Started event came)
    checked: Checked | None = None

    @property
    def prompt_tokens(self) -> int:
        """The provider's count where it gave one, else the estimate."""
        return self.usage.prompt_tokens if self.usage and self.usage.prompt_tokens else self.prompt_estimate


async def read(events: AsyncIterator[RagEvent]) -> Read:
    start = time.perf_counter()
    out = Read()
    first: float | None = None
    async for ev in events:
        now = time.perf_counter()
        if isinstance(ev, Sources):
            out.sources_ms = (now - start) * 1000
            out.prompt_estimate = ev.prompt_tokens
        elif isinstance(ev, Started):
            out.asked = True
        elif isinstance(ev, Answering) and ev.source != "model":
            out.text = ""  # the bank's answer replaces what the model had shown
        elif isinstance(ev, Delta):
            first = first or now
            out.text += ev.text
        elif isinstance(ev, Usage):
            out.usage = ev
        elif isinstance(ev, Checked):
            out.checked = ev
        elif isinstance(ev, Cited):
            out.cited = bool(ev.citations)
    end = time.perf_counter()
    out.ttft_ms = ((first or end) - start) * 1000
    out.total_ms = (end - start) * 1000
    return out
