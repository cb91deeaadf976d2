"""The one place that decides what a student reads: the model's answer while it passes the checks, else the bank's.

The model's text is checked as it grows (``checks.streaming``: language once a few words are in, scaffolding,
a leaked key or a loop the moment they appear) and judged whole at the end (``checks.judge``: also grounded,
correct, cut mid-sentence). An answer is held until it is judged whole (``hold``: the student never reads text
that fails later); an operator may let explanations stream instead, each sentence released once it passes the
streaming checks, so the first words come early. When the model's answer fails, or no model can answer, the model is
stopped and the bank's answer follows, announced by ``Answering`` whose ``replaces`` says how much text already
shown the client must take back (the console shows the replacement). ``Checked`` ends every answer with the
verdicts of what the student read and of the model's own answer, so the model's pass rate is always known.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from jindan.answers.checks import Case, Verdict, first_failure, judge, streaming
from jindan.answers.ladder import BankAnswer
from jindan.answers.text import sentence_end
from jindan.llm.base import Delta, ProviderError, Usage
from jindan.llm.router import RouterEvent, Started, StreamError

log = logging.getLogger(__name__)
_T = TypeVar("_T")
EXAMPLE_CHARS = 600
HELD_CHECK_CHARS = 64  # a held answer is looked at every this many characters (the whole is judged at the end)


@dataclass(frozen=True)
class Answering:
    """Where the text that follows comes from. ``source``: model | bank | none (nothing passed: a notice);
    ``kind``: model | ladder | solution | concept | nearest | none; ``replaces``: characters already sent that
    the client must discard (0 unless a model answer failed after some of it was shown)."""

    source: str
    kind: str
    reason: str = ""
    replaces: int = 0
    level: int | None = None
    ref: int | str | None = None


@dataclass(frozen=True)
class Checked:
    """The end of an answer: the verdicts of what the student read, and of the model's own answer (``model``:
    ``None`` when the model was not asked, e.g. the route answers from the bank)."""

    source: str
    passed: bool
    checks: tuple[Verdict, ...] = ()
    model_passed: bool | None = None
    model_checks: tuple[Verdict, ...] = ()
    provider: str = ""
    model: str = ""


GateEvent = RouterEvent | Answering | Checked


@dataclass(frozen=True)
class Example:
    """A model answer that failed, for reviewers: the student's own words taken out, no user."""

    question_id: int | None
    check: str
    reason: str
    text: str


class AnswerObserver(Protocol):
    """Told about every judged answer (metrics, daily counts, examples for reviewers); must not raise."""

    def checked(self, route: str, result: Checked, example: Example | None) -> None: ...


@dataclass
class Gate:
    route: str
    case: Case
    fallback: Callable[[], BankAnswer]
    hold: bool = False  # judge the whole answer before any of it is shown
    observer: AnswerObserver | None = None
    labels: tuple[str, str] = ("", "")  # (provider, model) of the model in charge, for an answer it did not start
    question_id: int | None = None

    async def run(
        self, events: AsyncIterator[RouterEvent] | None, not_asked: Verdict | None = None
    ) -> AsyncIterator[GateEvent]:
        """The student's answer. ``events`` is the model's stream, or None when the model is not asked
        (``not_asked`` then says why, counted as the model's failure; None: the route answers from the bank)."""
        if events is None:
            model_checks = (not_asked,) if not_asked else ()
            async for ev in self._bank(not_asked, model_checks, 0, None):
                yield ev
            return
        text, released, usage, started, failure = "", 0, None, None, None
        announced, looked = False, 0
        try:
            async for ev in events:
                if isinstance(ev, Started):
                    started = ev
                    yield ev
                elif isinstance(ev, Delta):
                    text += ev.text
                    if self.hold and looked and len(text) - looked < HELD_CHECK_CHARS:
                        continue  # nothing is shown before the end: after the start, look every few words
                    looked = len(text)
                    failure = _guarded(partial(streaming, self.case, text, self.hold), lambda v: v)
                    if failure is not None:
                        break
                    end = 0 if self.hold else sentence_end(text)
                    if end > released:
                        if not announced:
                            yield Answering("model", "model")
                            announced = True
                        yield Delta(text[released:end])
                        released = end
                elif isinstance(ev, Usage):
                    usage = ev
                elif isinstance(ev, StreamError):
                    failure = Verdict("answered", False, f"the model's answer broke off ({ev.message})")
                    break
        except ProviderError as exc:
            failure = Verdict("answered", False, f"no model answered ({str(exc)[:200]})")
        finally:
            close: Any = getattr(events, "aclose", None)
            if close is not None:
                await close()  # stops the model when its answer was refused part way
        finish = usage.finish_reason if usage else None
        judged = partial(judge, self.case, text, finish)
        verdicts = [failure] if failure is not None else _guarded(judged, lambda v: [v])
        failure = first_failure(verdicts)
        who = (started.provider, started.model) if started else self.labels
        if failure is None:
            if not announced:
                yield Answering("model", "model")
            if text[released:]:
                yield Delta(text[released:])
            if usage is not None:
                yield usage
            result = Checked("model", True, tuple(verdicts), True, tuple(verdicts), *who)
            self._observe(result, None)
            yield result
            return
        async for ev in self._bank(failure, tuple(verdicts), released, started, usage, example=text):
            yield ev

    async def _bank(
        self,
        why: Verdict | None,
        model_checks: tuple[Verdict, ...],
        replaces: int,
        started: Started | None,
        usage: Usage | None = None,
        example: str | None = None,
    ) -> AsyncIterator[GateEvent]:
        bank = self.fallback()
        source = "none" if bank.kind == "none" else "bank"
        reason = f"{why.check}: {why.reason}" if why else "this route answers from the bank"
        yield Answering(source, bank.kind, reason, replaces, bank.level, bank.ref)
        yield Delta(bank.text)
        if usage is not None:
            yield usage  # what the model's attempt cost
        model_passed = False if model_checks else None
        who = (started.provider, started.model) if started else self.labels
        result = Checked(source, bank.passed, bank.verdicts, model_passed, model_checks, *who)
        shown = None
        if why is not None and example is not None:
            shown = Example(self.question_id, why.check, why.reason, self._redacted(example))
        self._observe(result, shown)
        yield result

    def _redacted(self, text: str) -> str:
        """The model's text for a reviewer: without the student's own words, at most ``EXAMPLE_CHARS``."""
        student = (self.case.student or "").strip()
        if student:
            text = text.replace(student, "[…]")
            for piece in (p for p in student.split() if len(p) >= 4):
                text = text.replace(piece, "[…]")
        return text[:EXAMPLE_CHARS]

    def _observe(self, result: Checked, example: Example | None) -> None:
        if self.observer is None:
            return
        try:
            self.observer.checked(self.route, result, example)
        except Exception:  # counting must never break an answer
            log.exception("answer observer failed")


def _guarded(run: Callable[[], _T], failed: Callable[[Verdict], _T]) -> _T:
    """A check that raises fails the answer (the bank answers), never the request: text already released
    would otherwise stay on screen, unjudged and uncounted."""
    try:
        return run()
    except Exception as exc:
        log.error("an answer check raised %s", type(exc).__name__)  # its message may quote the text
        return failed(Verdict("checked", False, f"a check could not judge this answer ({type(exc).__name__})"))
