"""What a measurement ran on: CPU model, cores, GPU name, library versions (for results and benchmarks)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import av
import numpy as np
import torch

from ..version import __version__


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def describe(device: str = "cpu") -> dict[str, str | int]:
    """Machine and device, e.g. {'cpu': 'AMD EPYC ...', 'cores': 2, 'device': 'cpu'}."""
    out: dict[str, str | int] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def versions() -> dict[str, str]:
    """Versions of nrff and the libraries every sweep point depends on."""
    return {
        "nrff": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pyav": av.__version__,
        "ffmpeg": str(av.ffmpeg_version_info),
        "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
    }
