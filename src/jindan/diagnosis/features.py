"""Features of one response, computed from the same student's earlier responses only.

Each feature is something a teacher can read: how often the student got this concept right and wrong before,
how well they did on it recently (older attempts count less), whether the last try on it was right, and how the
student does overall. One pass over a student's log, O(n), no look-ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

NAMES = (
    "log_successes",  # log(1 + earlier correct answers on this concept)
    "log_failures",  # log(1 + earlier wrong answers on this concept)
    "recent_accuracy",  # recency-weighted accuracy on this concept (prior 0.5, weight 2)
    "last_correct",  # the previous try on this concept was right (0 when there was none)
    "last_wrong",  # the previous try on this concept was wrong
    "first_try",  # no earlier try on this concept
    "student_accuracy",  # smoothed accuracy over every concept so far (ability)
    "recent_overall",  # accuracy over the last 5 answers, any concept
    "log_attempts",  # log(1 + answers so far): experience with the platform
    "streak",  # correct answers in a row on this concept, capped at 5, scaled to 0..1
    "same_as_previous",  # the previous answer was on this concept too (working through one assignment)
    "run_accuracy",  # accuracy within the current run on this concept (prior 0.5)
    "previous_correct",  # the previous answer, on any concept, was right
)
DECAY = 0.7
PRIOR = 2.0


@dataclass
class ConceptState:
    succ: int = 0
    fail: int = 0
    w_correct: float = 0.0
    w_total: float = 0.0
    last: int = -1
    streak: int = 0

    def recent_accuracy(self) -> float:
        return (self.w_correct + 0.5 * PRIOR) / (self.w_total + PRIOR)

    def update(self, correct: int) -> None:
        self.succ += correct
        self.fail += 1 - correct
        self.w_correct = DECAY * self.w_correct + correct
        self.w_total = DECAY * self.w_total + 1.0
        self.last = correct
        self.streak = self.streak + 1 if correct else 0


@dataclass
class StudentState:
    concepts: dict[int, ConceptState]
    correct: int = 0
    total: int = 0
    window: list[int] | None = None
    prev_concept: int = -1
    prev_correct: int = -1
    run_correct: int = 0
    run_total: int = 0

    @classmethod
    def new(cls) -> StudentState:
        return cls({}, 0, 0, [])

    def features(self, concept: int) -> list[float]:
        st = self.concepts.get(concept) or ConceptState()
        window = self.window or []
        return [
            float(np.log1p(st.succ)),
            float(np.log1p(st.fail)),
            st.recent_accuracy(),
            1.0 if st.last == 1 else 0.0,
            1.0 if st.last == 0 else 0.0,
            1.0 if st.last == -1 else 0.0,
            (self.correct + 1.0) / (self.total + 2.0),
            (sum(window) + 0.5) / (len(window) + 1.0),
            float(np.log1p(self.total)),
            min(st.streak, 5) / 5.0,
            1.0 if self.prev_concept == concept else 0.0,
            (self.run_correct + 0.5) / (self.run_total + 1.0) if self.prev_concept == concept else 0.5,
            1.0 if self.prev_correct == 1 else 0.0,
        ]

    def update(self, concept: int, correct: int) -> None:
        if concept != self.prev_concept:
            self.run_correct = self.run_total = 0
        self.run_correct += correct
        self.run_total += 1
        self.prev_concept, self.prev_correct = concept, correct
        self.concepts.setdefault(concept, ConceptState()).update(correct)
        self.correct += correct
        self.total += 1
        window = self.window if self.window is not None else []
        window.append(correct)
        if len(window) > 5:
            window.pop(0)
        self.window = window


def sequence_features(concepts: Sequence[int], correct: Sequence[int]) -> npt.NDArray[np.float32]:
    """Feature rows for every response of one student, each from the earlier responses only."""
    state = StudentState.new()
    rows = np.empty((len(concepts), len(NAMES)), dtype=np.float32)
    for i, (c, y) in enumerate(zip(concepts, correct, strict=True)):
        rows[i] = state.features(c)
        state.update(c, y)
    return rows
