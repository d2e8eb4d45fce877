"""Crash-safe file writes: write a temporary file beside the target, fsync it, rename it over the target.

A reader (or the next start of the app after a crash) sees either the complete old file or the complete
new one, never a mixture: ``os.replace`` is atomic on POSIX and on Windows within one volume.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

TEMP_PREFIX = ".tmp-"
"""Temporary files start with this; they are ignored when listing cases and swept by :func:`sweep_temp`."""


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably.

    Parameters
    ----------
    path : path-like
        Target file; its folder must exist.
    data : bytes
        The complete new content.

    Raises
    ------
    OSError
        When the folder is not writable or the disk is full; the old file is then untouched.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX + target.name + ".", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():
            try:
                os.chmod(tmp, target.stat().st_mode & 0o777)
            except OSError:
                pass
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """UTF-8 text variant of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON atomically (NaN and infinity are refused)."""
    text = json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write_text(path, text)


def sweep_temp(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files left by an interrupted write in ``directory``; return what was removed."""
    removed = []
    for p in Path(directory).glob(TEMP_PREFIX + "*"):
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed
