"""The machine a benchmark ran on, as the README names it: cores, CPU model, bf16 / AMX support."""
from __future__ import annotations

import os
from pathlib import Path


def describe_cpu() -> str:
    """E.g. "2-core AMD EPYC (AVX-512 BF16, no AMX)", from /proc/cpuinfo (Linux)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    bf16 = "AVX-512 BF16" if "avx512_bf16" in flags else "no AVX-512 BF16"
    amx = "AMX" if "amx_tile" in flags else "no AMX"
    return f"{os.cpu_count()}-core {model} ({bf16}, {amx})"
