"""Weights the embedded model reads its prompts fastest with: a small quantized GGUF turned into f16 once.

On a CPU, llama.cpp reads a prompt (prefill, a matrix product per layer) much faster from f16 weights than from
4-bit blocks, and for a small model writing tokens is bound by compute, not by memory, so f16 costs nothing
there. Measured here (2 cores, SmolLM2-135M, 364-token prompt): Q4_1 1,111 ms, f16 690 ms; writing 81 vs 84
tokens/s. The conversion is llama.cpp's own (``llama_model_quantize``: every 4-bit block is expanded, nothing is
re-rounded beyond f16), takes about a second and is kept on disk, named after the source file, so it runs once
per model file. Large models keep their quantized file: in f16 they would need several times the memory and
write tokens slower (memory bound).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
from pathlib import Path
from typing import Literal

from jindan.llm.base import require

Weights = Literal["auto", "f16", "as-is"]
AUTO_MAX_BYTES = 512 * 1024 * 1024  # "auto" converts GGUF files up to this size (models of a few hundred M params)
log = logging.getLogger(__name__)


def chosen(source: Path, weights: Weights) -> Literal["f16", "as-is"]:
    """What ``weights`` means for this file: ``auto`` is f16 for small files, the file as it is otherwise."""
    if weights == "auto":
        return "f16" if source.stat().st_size <= AUTO_MAX_BYTES else "as-is"
    return weights


def target(source: Path, folder: Path) -> Path:
    """Where the f16 copy of ``source`` lives: named after the file's path, size and time, so a changed or another
    file never reuses an old copy."""
    st = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return folder / f"{source.stem}.{key}.f16.gguf"


def prepare(source: Path, weights: Weights, folder: Path | None) -> Path:
    """The file to load: ``source`` itself, or its f16 copy under ``folder`` (made now when missing).

    A conversion that fails leaves no file behind and falls back to ``source`` with a warning: the model still
    loads, only slower."""
    if folder is None or chosen(source, weights) == "as-is":
        return source
    out = target(source, folder)
    if out.exists():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")  # two processes may convert at once
    log.info("converting %s to f16 once (faster prompt reading on a CPU): %s", source.name, out)
    try:
        convert(source, partial)
        os.replace(partial, out)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        log.warning("could not convert %s to f16 (%s); loading it as it is", source.name, exc)
        return source
    return out


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
    if rc != 0 or not out.exists():
        raise RuntimeError(f"llama_model_quantize returned {rc}")
