"""What `jindan doctor` detects (RAM, CPU, NVIDIA GPU, disk) and which of the plan's models fit.

Detection reads /proc and nvidia-smi (when present) through small parsers, so tests feed them real-format text.
The tiers are the plan's: minimum 16 GB RAM + RTX 3060, recommended 32 GB + RTX 4070, optimal 64 GB + RTX 4090.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from jindan.llm.catalog import CATALOG, ModelInfo, known, korean_models

GB = 1024**3


@dataclass(frozen=True)
class Gpu:
    name: str
    vram_gb: float


@dataclass
class Hardware:
    ram_gb: float
    ram_available_gb: float
    cores_logical: int
    cores_physical: int
    cpu_model: str
    avx2: bool
    avx512: bool
    gpus: list[Gpu] = field(default_factory=list)
    disk_free_gb: float = 0.0

    @property
    def vram_gb(self) -> float:
        return max((g.vram_gb for g in self.gpus), default=0.0)


@dataclass(frozen=True)
class Tier:
    name: str
    ram_gb: float
    vram_gb: float
    example: str


TIERS = [
    Tier("optimal", 64, 24, "64 GB RAM + RTX 4090 (24 GB)"),
    Tier("recommended", 32, 12, "32 GB RAM + RTX 4070 (12 GB)"),
    Tier("minimum", 16, 8, "16 GB RAM + RTX 3060 (8-12 GB)"),
]


def parse_meminfo(text: str) -> tuple[float, float]:
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[key.strip()] = int(parts[0]) * 1024
    return values.get("MemTotal", 0) / GB, values.get("MemAvailable", values.get("MemFree", 0)) / GB


def parse_cpuinfo(text: str) -> tuple[str, int, set[str]]:
    """(model name, physical cores, flags) from /proc/cpuinfo."""
    model = ""
    flags: set[str] = set()
    cores: set[tuple[str, str]] = set()
    physical = core = ""
    for line in text.splitlines():
        key, _, value = (s.strip() for s in line.partition(":"))
        if key == "model name" and not model:
            model = value
        elif key == "flags" and not flags:
            flags = set(value.split())
        elif key == "physical id":
            physical = value
        elif key == "core id":
            core = value
            cores.add((physical, core))
    return model, len(cores), flags


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """Output of ``nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits``."""
    gpus = []
    for line in text.strip().splitlines():
        name, _, mib = line.rpartition(",")
        if name and mib.strip().isdigit():
            gpus.append(Gpu(name.strip(), int(mib.strip()) / 1024))
    return gpus


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _nvidia() -> list[Gpu]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return parse_nvidia_smi(out)


def detect(disk_path: Path | None = None) -> Hardware:
    ram, available = parse_meminfo(_read("/proc/meminfo"))
    model, physical, flags = parse_cpuinfo(_read("/proc/cpuinfo"))
    logical = os.cpu_count() or 1
    path = disk_path if disk_path and disk_path.exists() else Path.cwd()
    return Hardware(
        ram_gb=ram,
        ram_available_gb=available,
        cores_logical=logical,
        cores_physical=physical or logical,
        cpu_model=model or "unknown",
        avx2="avx2" in flags,
        avx512="avx512f" in flags,
        gpus=_nvidia(),
        disk_free_gb=shutil.disk_usage(path).free / GB,
    )


def tier(hw: Hardware) -> Tier | None:
    """The best plan tier this machine meets, or None (below minimum: CPU-only, small models)."""
    return next((t for t in TIERS if hw.ram_gb >= t.ram_gb * 0.95 and hw.vram_gb >= t.vram_gb * 0.95), None)


@dataclass(frozen=True)
class Fit:
    model: ModelInfo
    need_gb: float
    where: str  # "gpu" | "cpu" | "no"
    note: str


def recommend(hw: Hardware, n_ctx: int = 8192) -> list[Fit]:
    """Each local model of the plan: memory for weights + KV cache at ``n_ctx`` + runtime overhead."""
    fits = []
    for m in CATALOG.values():
        if m.provider != "ollama":
            continue
        need = m.size_gb + m.kv_cache_gb(n_ctx) + 0.5
        if hw.vram_gb >= need:
            where, note = "gpu", f"fits in {hw.vram_gb:.0f} GB VRAM; expect well under 1 s per short answer"
        elif hw.ram_available_gb >= need + 2 and hw.avx2:
            where, note = "cpu", "runs on CPU (AVX2); expect several seconds per answer"
        elif hw.ram_gb >= need + 2:
            where, note = "cpu", "fits in RAM but slow without a GPU"
        else:
            where, note = (
                "no",
                f"needs {need:.1f} GB; this machine has {hw.ram_gb:.0f} GB RAM, {hw.vram_gb:.0f} GB VRAM",
            )
        fits.append(Fit(m, need, where, note))
    return sorted(fits, key=lambda f: ({"gpu": 0, "cpu": 1, "no": 2}[f.where], not f.model.default))


def korean_advice(model: str, fits: list[Fit]) -> str:
    """How well ``model`` writes Korean, and the best Korean model that runs on this machine (doctor, console)."""

    info = known(model)
    level = info.korean if info else "unknown"
    runs = {f.model.name for f in fits if f.where != "no"}
    best = next((m for m in korean_models() if m.name in runs), None)
    now = f"{model} writes Korean: {level}"
    if level == "none":
        now += " (Korean hints and explanations come from the bank's own solutions; the checks keep its answers out)"
    if best is None:
        return f"{now}. No local Korean-capable model fits this machine; use a model host with a GPU."
    if best.name == model:
        return f"{now}."
    return f"{now}. Best Korean model that fits here: {best.name} (Korean: {best.korean}; {best.pull})."
