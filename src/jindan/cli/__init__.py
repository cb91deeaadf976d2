"""The `jindan` command line (Typer + Rich)."""
