"""Run slow work (image loading, inference, export) off the GUI thread, with progress and cancel.

``Worker(fn, *args, **kwargs)`` calls ``fn(*args, progress=..., cancel=..., **kwargs)`` in the global thread
pool. ``progress(fraction, message)`` and ``cancel() -> bool`` are thread-safe; the result or the error comes
back as a queued Qt signal on the GUI thread. The window never blocks and an exception never escapes.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore


class WorkerSignals(QtCore.QObject):
    """Signals of one :class:`Worker` (a QRunnable cannot carry signals itself)."""

    progress = QtCore.Signal(float, str)
    result = QtCore.Signal(object)
    error = QtCore.Signal(str)
    cancelled = QtCore.Signal()
    finished = QtCore.Signal()


class Cancelled(Exception):
    """Raised by a worker function when it notices the cancel flag."""


def _is_cancellation(exc: BaseException) -> bool:
    return isinstance(exc, Cancelled) or type(exc).__name__ in ("AnalysisCancelled", "Cancelled")


def is_ordinary_error(exc: BaseException) -> bool:
    """True for errors bad input causes (unreadable file, malformed case, no memory): shown, never traced."""
    return isinstance(exc, (ValueError, OSError, MemoryError, UnicodeError))


def user_message(exc: BaseException) -> str:
    """One readable line for an exception: the message of user-facing errors, the type for the others."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, (ValueError, OSError, FileNotFoundError)) or type(exc).__name__.endswith("Error"):
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
            text = f"{exc.filename}: {exc.strerror or text}"
        return text
    return f"{type(exc).__name__}: {text}"


class Worker(QtCore.QRunnable):
    """A cancellable background job.

    Parameters
    ----------
    fn : callable
        Called as ``fn(*args, progress=callback, cancel=is_cancelled, **kwargs)``.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.signals = WorkerSignals()
        self._cancel = threading.Event()
        self.done = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, fraction: float, message: str = "") -> None:
        try:
            self.signals.progress.emit(float(fraction), str(message))
        except RuntimeError:  # signals object deleted at shutdown
            pass

    def run(self) -> None:  # noqa: D401 - Qt entry point
        try:
            out = self.fn(*self.args, progress=self._progress, cancel=self.is_cancelled, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            if _is_cancellation(exc) or self.is_cancelled():
                self.signals.cancelled.emit()
            else:
                if not is_ordinary_error(exc):  # a bug, not bad input: one line, the traceback only on request
                    print(f"llm-viewer: internal error in a background job: {type(exc).__name__}: {exc}",
                          file=sys.stderr)
                    if os.environ.get("LLM_VIEWER_DEBUG"):
                        traceback.print_exc()
                self.signals.error.emit(user_message(exc))
        else:
            if self.is_cancelled():
                self.signals.cancelled.emit()
            else:
                self.signals.result.emit(out)
        finally:
            self.done.set()
            self.signals.finished.emit()


class WorkerPool(QtCore.QObject):
    """Keeps running workers alive until they finish and starts them on the global thread pool."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._running: set[Worker] = set()

    def start(self, worker: Worker) -> Worker:
        self._running.add(worker)
        worker.signals.finished.connect(lambda w=worker: self._running.discard(w))
        QtCore.QThreadPool.globalInstance().start(worker)
        return worker

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def cancel_all(self) -> None:
        for w in list(self._running):
            w.cancel()

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Block until every job has finished (used at shutdown and in tests)."""
        self.cancel_all()
        return QtCore.QThreadPool.globalInstance().waitForDone(timeout_ms)
