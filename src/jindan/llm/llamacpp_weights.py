"""Weights the embedded model reads its prompts fastest with: a small quantized GGUF expanded to f16 once.

On a CPU, llama.cpp reads a prompt (prefill, a matrix product per layer) much faster from f16 weights than from
Q4_1 blocks, which have no fast batched kernel on x86. Measured here (2 cores, SmolLM2-135M, 364-token prompt):
Q4_1 1,111 ms, f16 690 ms; writing tokens is about a fifth slower from f16 (100-108 vs 80-82 tokens/s), which a
hint of 10-30 tokens hardly notices. The conversion is llama.cpp's own (``llama_model_quantize``: every 4-bit
block is expanded and rounded only to f16, far below the 4-bit error), takes about a second and is kept on disk,
named after the source's content, so it runs once per model file (a reinstalled package or another checkout with
the same file reuses it). Larger models keep their quantized file: in f16 they would need several times the
memory and write tokens much slower (memory bound).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Literal

from jindan.llm.base import require

Weights = Literal["auto", "f16", "as-is"]
AUTO_MAX_BYTES = 200 * 1024 * 1024  # "auto" converts GGUF files up to this size (4-bit models up to ~300M params)
STALE_PARTIAL_S = 3600  # a partial file this old was left by a conversion that died
log = logging.getLogger(__name__)


def chosen(source: Path, weights: Weights) -> Literal["f16", "as-is"]:
    """What ``weights`` means for this file: ``auto`` is f16 for small files, the file as it is otherwise."""
    if weights == "auto":
        return "f16" if source.stat().st_size <= AUTO_MAX_BYTES else "as-is"
    return weights


def target(source: Path, folder: Path) -> Path:
    """Where the f16 copy of ``source`` lives: named after the file's content (sha256, ~0.1 s for 100 MB), so a
    changed or another file never reuses an old copy and the same file anywhere shares one."""
    with source.open("rb") as f:
        key = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    return folder / f"{source.stem}.{key}.f16.gguf"


def prepare(source: Path, weights: Weights, folder: Path | None) -> Path:
    """The file to load: ``source`` itself, or its f16 copy under ``folder`` (made now when missing).

    A conversion that fails (an unwritable folder, a full disk, a file llama.cpp cannot read) leaves no file
    behind and falls back to ``source`` with a warning: the model still loads, only slower."""
    if folder is None or chosen(source, weights) == "as-is":
        return source
    try:
        out = target(source, folder)
        if out.exists():
            return out
        folder.mkdir(parents=True, exist_ok=True)
        _forget_dead_partials(folder)
        fd, name = tempfile.mkstemp(dir=folder, prefix=f"{out.name}.", suffix=".partial")
        os.close(fd)
        partial = Path(name)  # one per conversion: two processes or providers may convert at once
        log.info("converting %s to f16 once (faster prompt reading on a CPU): %s", source.name, out)
        try:
            convert(source, partial)
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    except Exception as exc:
        log.warning("could not convert %s to f16 (%s); loading it as it is", source.name, exc)
        return source
    return out


def _forget_dead_partials(folder: Path) -> None:
    now = time.time()
    for old in folder.glob("*.partial"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > STALE_PARTIAL_S:
                old.unlink()


def convert(source: Path, out: Path) -> None:
    llama_cpp = require("llama_cpp", "embedded")
    quiet = logging.getLogger("llama-cpp-python")  # llama.cpp's log callback prints below this logger's level
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.ERROR)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_F16
    params.allow_requantize = True  # the source is already quantized: expand its blocks
    params.nthread = os.cpu_count() or 1
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), ctypes.byref(params))
    if rc != 0 or not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"llama_model_quantize returned {rc}")
