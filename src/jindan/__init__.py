"""jindan (진단): local-first AI for a Korean learning-diagnosis platform."""

__version__ = "0.1.0"
