from __future__ import annotations

from jindan import hardware
from jindan.hardware import Gpu, Hardware

CPUINFO = """processor	: 0
model name	: AMD Ryzen 9 7950X 16-Core Processor
physical id	: 0
core id		: 0
flags		: fpu sse2 avx avx2 fma avx512f
processor	: 1
model name	: AMD Ryzen 9 7950X 16-Core Processor
physical id	: 0
core id		: 0
processor	: 2
physical id	: 0
core id		: 1
"""
MEMINFO = "MemTotal:       65843212 kB\nMemFree:         1000000 kB\nMemAvailable:   60000000 kB\n"
NVSMI = "NVIDIA GeForce RTX 4090, 24564\nNVIDIA GeForce RTX 3060, 12288\n"


def machine(ram: float, vram: float, avx2: bool = True) -> Hardware:
    gpus = [Gpu("gpu", vram)] if vram else []
    return Hardware(ram, ram * 0.9, 16, 8, "cpu", avx2, False, gpus, 500)


def test_parsers_read_real_formats() -> None:
    model, physical, flags = hardware.parse_cpuinfo(CPUINFO)
    assert model.startswith("AMD Ryzen 9") and physical == 2 and {"avx2", "avx512f"} <= flags
    total, available = hardware.parse_meminfo(MEMINFO)
    assert round(total) == 63 and round(available) == 57
    gpus = hardware.parse_nvidia_smi(NVSMI)
    assert gpus == [Gpu("NVIDIA GeForce RTX 4090", 24564 / 1024), Gpu("NVIDIA GeForce RTX 3060", 12.0)]


def test_tiers_follow_the_plan() -> None:
    assert hardware.tier(machine(64, 24)).name == "optimal"  # type: ignore[union-attr]
    assert hardware.tier(machine(32, 12)).name == "recommended"  # type: ignore[union-attr]
    assert hardware.tier(machine(16, 12)).name == "minimum"  # type: ignore[union-attr]
    assert hardware.tier(machine(64, 0)) is None  # no GPU: below the plan's minimum


def test_model_fit_counts_weights_and_kv_cache() -> None:
    fits = {f.model.name: f for f in hardware.recommend(machine(16, 6), n_ctx=8192)}
    assert fits["llama3.2:3b"].where == "gpu"  # 2.0 GB + 0.9 GB KV + 0.5 GB
    assert fits["llama3.1:8b"].where == "cpu"  # 4.7 GB + 1.0 GB KV + 0.5 GB = 6.2 GB > 6 GB VRAM
    assert round(fits["llama3.1:8b"].need_gb, 1) == 6.2
    small = {f.model.name: f for f in hardware.recommend(machine(4, 0, avx2=False))}
    assert all(f.where == "no" for f in small.values())
    assert hardware.recommend(machine(64, 24))[0].model.default  # the default model first when it fits


def test_detect_on_this_machine() -> None:
    hw = hardware.detect()
    assert hw.ram_gb > 0 and hw.cores_logical >= 1 and hw.disk_free_gb > 0


def test_korean_advice_names_the_best_korean_model_that_fits() -> None:
    from jindan.cli.doctor import korean_advice
    from jindan.llm.catalog import cannot_write, known, korean_models
    from jindan.settings import Settings

    assert [m.name for m in korean_models()][:1] == ["qwen2.5:7b"]
    assert known("SmolLM2-135M-Instruct.Q4_1") is known("smollm2-135m") is not None  # a GGUF file's stem
    assert cannot_write("SmolLM2-135M-Instruct.Q4_1", "ko") and not cannot_write("qwen2.5:7b", "ko")
    assert known("my-own-model") is None and not cannot_write("my-own-model", "ko")  # unknown: asked, then checked
    embedded = Settings()
    gpu = korean_advice(embedded, hardware.recommend(machine(16, 12)))
    assert "writes Korean: none" in gpu and "bank" in gpu and "qwen2.5:7b" in gpu
    assert "No local Korean-capable model fits" in korean_advice(embedded, hardware.recommend(machine(4, 0, False)))
    qwen = Settings(profile="local", llm={"provider": "ollama", "model": "qwen2.5:7b"})  # type: ignore[arg-type]
    assert korean_advice(qwen, hardware.recommend(machine(16, 12))) == "qwen2.5:7b writes Korean: good."
