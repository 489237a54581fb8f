"""What the numbers were measured on: machine, CPU, GPU, library versions and the git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

import gscodec


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _gpus() -> list[str]:
    try:
        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except RuntimeError:
        pass
    return []


def _git(args: list[str]) -> str | None:
    """Run a read-only git command in the source tree; None when git or the repository is absent."""
    root = Path(gscodec.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "--no-optional-locks", *args], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str | None:
    """HEAD commit of the source tree, with ``-dirty`` when tracked files have changes."""
    commit = _git(["rev-parse", "HEAD"])
    if commit is None:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"])
    return commit + ("-dirty" if status else "")


def machine_info() -> dict[str, Any]:
    """A JSON-ready description of this machine and software, recorded beside every run."""
    return {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpus": _gpus(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg_libs": {name: ".".join(map(str, v)) for name, v in sorted(av.library_versions.items())},
        "gscodec": gscodec.__version__,
        "git_commit": git_commit(),
    }


def machine_fingerprint(info: dict[str, Any]) -> dict[str, Any]:
    """The part of :func:`machine_info` that changes timings, for cache keys."""
    return {k: info.get(k) for k in ("cpu", "cpu_count", "gpus")}
