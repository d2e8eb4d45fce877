"""Process-wide settings of the inference runtime: intra-op threads, device options, lean imports.

* :func:`choose_threads` / :func:`configure_threads`: how many intra-op threads torch uses. The count is
  ``$LLM_VIEWER_THREADS`` when set, else torch's own choice when ``$OMP_NUM_THREADS`` is set, else torch's
  default (physical cores) capped at the CPUs this process may run on (``os.sched_getaffinity``: a container
  or ``taskset`` limit). Waiting threads sleep (``OMP_WAIT_POLICY=PASSIVE``, set in ``llm_viewer/__init__``
  before torch loads) so that a competing process slows the analysis in proportion, not tenfold.
* :func:`import_detection`: torchvision's detection models without importing ``torch._dynamo`` (1.7 s of a
  2-core machine's start-up; torchvision imports it for one helper that inference on CPU never calls).

Only the standard library is imported at module level.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass

THREADS_ENV = "LLM_VIEWER_THREADS"
"""Environment variable that fixes the number of intra-op threads (a positive integer)."""


@dataclass(frozen=True)
class ThreadChoice:
    """How many intra-op threads to use and why.

    Attributes
    ----------
    n_threads : int
        The count (>= 1).
    source : str
        ``"LLM_VIEWER_THREADS"``, ``"OMP_NUM_THREADS"`` or ``"cpus"`` (automatic).
    """

    n_threads: int
    source: str


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_threads(torch_default: int, env: Mapping[str, str] | None = None) -> ThreadChoice:
    """The number of intra-op threads for this process.

    Parameters
    ----------
    torch_default : int
        ``torch.get_num_threads()`` before any change (torch's default: physical cores, or ``OMP_NUM_THREADS``).
    env : mapping, optional
        Environment (default ``os.environ``).

    Raises
    ------
    ValueError
        ``$LLM_VIEWER_THREADS`` is set but not a positive integer (the message names it).
    """
    env = os.environ if env is None else env
    raw = env.get(THREADS_ENV, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"{THREADS_ENV}={raw!r} is not a positive integer number of threads")
        return ThreadChoice(n, THREADS_ENV)
    if env.get("OMP_NUM_THREADS", "").strip():
        return ThreadChoice(max(1, int(torch_default)), "OMP_NUM_THREADS")
    return ThreadChoice(max(1, min(int(torch_default), usable_cpus())), "cpus")


_configured: ThreadChoice | None = None


def configure_threads(env: Mapping[str, str] | None = None) -> ThreadChoice:
    """Set torch's intra-op thread count from :func:`choose_threads` (once per process; later calls return
    the first choice unless ``$LLM_VIEWER_THREADS`` changed)."""
    global _configured
    import torch

    if _configured is not None and (env or os.environ).get(THREADS_ENV, "").strip() in ("", str(_configured.n_threads)):
        return _configured
    choice = choose_threads(torch.get_num_threads() if _configured is None else _configured.n_threads, env)
    if torch.get_num_threads() != choice.n_threads:
        torch.set_num_threads(choice.n_threads)
    _configured = choice
    return choice


class _DynamoShim(types.ModuleType):
    """Stands in for ``torch._dynamo(.utils)`` while torchvision imports; forwards to the real module on use."""


def _lazy_is_compile_supported(device_type):  # pragma: no cover - only reached without torchvision's C++ ops
    from torch._dynamo.utils import is_compile_supported

    return is_compile_supported(device_type)


def import_detection():
    """``torchvision.models.detection``, imported without ``torch._dynamo`` when nothing has imported it yet.

    torchvision's ``ops.roi_align`` does ``from torch._dynamo.utils import is_compile_supported`` at import
    time but calls it only when its compiled ops are missing; while torchvision loads, a stand-in module
    provides a function that imports the real one on first call, and the stand-in is removed afterwards,
    so a later ``import torch._dynamo`` (``torch.compile``) gets the real module. Falls back to the plain
    import if torchvision needs anything else from ``torch._dynamo``.
    """
    if "torchvision.models.detection" in sys.modules or "torch._dynamo" in sys.modules:
        import torchvision.models.detection as detection

        return detection
    import torch

    pkg = _DynamoShim("torch._dynamo")
    pkg.__path__ = []  # a package, so that the submodule import resolves
    utils = _DynamoShim("torch._dynamo.utils")
    utils.is_compile_supported = _lazy_is_compile_supported
    pkg.utils = utils
    sys.modules["torch._dynamo"] = pkg
    sys.modules["torch._dynamo.utils"] = utils
    try:
        import torchvision.models.detection as detection
    except (ImportError, AttributeError):
        _remove_shim(pkg, utils, torch)
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        import torchvision.models.detection as detection

        return detection
    _remove_shim(pkg, utils, torch)
    return detection


def _remove_shim(pkg, utils, torch) -> None:
    for name, mod in (("torch._dynamo.utils", utils), ("torch._dynamo", pkg)):
        if sys.modules.get(name) is mod:
            del sys.modules[name]
    if torch.__dict__.get("_dynamo") is pkg:
        delattr(torch, "_dynamo")
