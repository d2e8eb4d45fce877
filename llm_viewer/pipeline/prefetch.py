"""Read the next image while the models work on this one: an ordered, one-ahead prefetching iterator.

Decoding a DICOM (pixel data, JPEG 2000, the modality LUT) takes 0.05–1 s a file; in a batch it overlaps
the analysis of the previous image on a background thread. Standard library only.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Prefetched:
    """One item of :func:`prefetch_images`.

    Attributes
    ----------
    path : Path
        The file, in the order given.
    image : object or None
        What the loader returned; ``None`` when it failed.
    error : str or None
        ``"<ExceptionType>: message"`` of a failure of one of the expected error types, else ``None``.
    load_s : float
        Seconds the loader took (on the background thread).
    """

    path: Path
    image: Any
    error: str | None
    load_s: float

    @property
    def ok(self) -> bool:
        return self.error is None


def _timed(loader: Callable[[Path], Any], path: Path, expected: tuple[type[BaseException], ...]) -> Prefetched:
    t0 = time.perf_counter()
    try:
        image = loader(path)
    except expected as exc:
        return Prefetched(path, None, str(exc) or type(exc).__name__, time.perf_counter() - t0)
    return Prefetched(path, image, None, time.perf_counter() - t0)


def prefetch_images(paths: Iterable[str | Path], loader: Callable[[Path], Any], *, ahead: int = 1,
                    expected_errors: tuple[type[BaseException], ...] = (OSError, ValueError)
                    ) -> Iterator[Prefetched]:
    """Yield every path's loaded image in order, loading up to ``ahead`` files ahead on a background thread.

    Parameters
    ----------
    paths : iterable of path-like
    loader : callable
        ``loader(path) -> image`` (e.g. :func:`llm_viewer.core.imageio.load_image`).
    ahead : int
        Files loaded in advance (>= 0; 0 loads each file when it is asked for, on the caller's thread).
    expected_errors : tuple of exception types
        A loader failure of these types becomes an item with ``error`` set (the batch goes on); any other
        exception is raised to the caller when its item is reached, with its file named in the note.

    Raises
    ------
    ValueError
        ``ahead`` is negative.
    """
    if ahead < 0:
        raise ValueError(f"ahead must be >= 0, got {ahead}")
    items = [Path(p) for p in paths]
    if ahead == 0:
        for p in items:
            yield _reraise_named(lambda p=p: _timed(loader, p, expected_errors), p)
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-viewer-prefetch")
    pending: deque[tuple[Path, Future]] = deque()
    try:
        it = iter(items)
        while True:
            # the item asked for now and ``ahead`` after it are submitted; while the caller works on the
            # item yielded, the next ``ahead`` load
            while len(pending) < ahead + 1 and (nxt := next(it, None)) is not None:
                pending.append((nxt, pool.submit(_timed, loader, nxt, expected_errors)))
            if not pending:
                break
            p, fut = pending.popleft()
            yield _reraise_named(fut.result, p)
    finally:
        for _p, fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _reraise_named(fn: Callable[[], Prefetched], path: Path) -> Prefetched:
    try:
        return fn()
    except Exception as exc:
        exc.add_note(f"while reading {path}")
        raise
