"""One line describing the machine and its load, printed above every benchmark table (standard library)."""

from __future__ import annotations

import os
import platform
import subprocess


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def busy_processes() -> list[str]:
    """Other training/evaluation/test processes running now (they compete for the cores)."""
    try:
        out = subprocess.run(["pgrep", "-af", "training.train|training.generaliz|pytest"], capture_output=True,
                             text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    me = str(os.getpid())
    return [ln.split(None, 2)[-1][:80] for ln in out.splitlines() if ln and ln.split()[0] != me]


def describe() -> str:
    """``CPU model, N CPUs (affinity M), load average a/b/c, competing: ...``."""
    try:
        aff = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        aff = os.cpu_count() or 1
    la = os.getloadavg()
    busy = busy_processes()
    return (f"{cpu_model()}, {os.cpu_count()} CPUs (affinity {aff}), load average {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f}, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
            f"competing processes: {len(busy)}" + (f" ({'; '.join(busy)})" if busy else ""))
