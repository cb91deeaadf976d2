"""Benchmarks: commands that print JSON to stdout (tables to stderr), never timed assertions in tests."""
