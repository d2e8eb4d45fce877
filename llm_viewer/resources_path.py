"""Where the bundled resources (demo model, demo case, icons, examples) are, however the app was installed.

Three layouts are supported, tried in this order:

1. ``$LLM_VIEWER_RESOURCES`` when set (an administrator's shared model folder, tests);
2. ``llm_viewer/resources`` next to this module: an installed wheel (``pip``/``pipx install .``, the
   top-level ``resources/`` is copied into the package at build time) and the PyInstaller application
   (the spec puts the resources at the same place inside the bundle);
3. ``<sys._MEIPASS>/resources`` of a frozen application built with another layout;
4. ``resources/`` at the top of the source tree (development checkout, editable install).

Only the standard library is imported: this module is used by the command line before anything heavy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "LLM_VIEWER_RESOURCES"
"""Environment variable naming a resources folder that replaces the bundled one."""

_PACKAGE_DIR = Path(__file__).resolve().parent


def is_frozen() -> bool:
    """True inside a PyInstaller (or similar) application bundle."""
    return bool(getattr(sys, "frozen", False))


def resource_candidates() -> list[Path]:
    """Every folder that may hold the resources, most specific first (see the module docstring)."""
    candidates: list[Path] = []
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        candidates.append(Path(override).expanduser())
    candidates.append(_PACKAGE_DIR / "resources")
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        candidates.append(Path(meipass) / "resources")
    candidates.append(_PACKAGE_DIR.parent / "resources")
    return candidates


def resources_root() -> Path:
    """The resources folder in use.

    Returns
    -------
    Path
        The first existing folder of :func:`resource_candidates`; when none exists, the package-data
        location (``llm_viewer/resources``) for an installed or frozen app, else the source tree's
        ``resources/`` — so that a "not found" message names where the files were expected.
    """
    candidates = resource_candidates()
    for folder in candidates:
        if folder.is_dir():
            return folder
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    if is_frozen() or not (_PACKAGE_DIR.parent / "pyproject.toml").exists():
        return _PACKAGE_DIR / "resources"
    return _PACKAGE_DIR.parent / "resources"


def resource_path(*parts: str) -> Path:
    """A path inside the resources folder, e.g. ``resource_path("models", "demo")``.

    The path may not exist (e.g. no model bundle installed); callers check and report.
    """
    return resources_root().joinpath(*parts)
