"""Answers a student can trust: checks, the bank's own hint ladder, and the gate between them.

- ``checks``: pure functions, each returning a ``Verdict`` (check, passed, reason) for one answer;
- ``ladder``: hints and explanations built from a question's own official solution (never the final answer);
- ``gate``: the one place that decides what a student reads: the model's answer while it passes the checks,
  else the bank's, with every verdict reported;
- ``grading``: the answer-key arithmetic both use (final answer, normalised forms, values).
"""
