"""Model access for the viewer: the engine is created once per session, lazily, inside a worker thread.

torch and the pipeline are imported only when the first analysis runs, so the window opens fast and a
missing model bundle is a message, not a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

EngineFactory = Callable[[], Any]
"""Returns an object with ``analyze(image, *, progress, cancel)``, ``model_id`` and ``device``."""


def default_engine_factory() -> Any:
    """The bundled model (``InferenceEngine.from_bundle(None)``); imported here so torch loads lazily."""
    from ..pipeline.engine import InferenceEngine
    from ..pipeline.runtime import configure_threads

    configure_threads()
    return InferenceEngine.from_bundle(None, device="auto")


@dataclass(frozen=True)
class AnalysisOutcome:
    """Either a pipeline result or the reason there is no model (the stored landmarks are shown instead)."""

    result: Any | None
    no_model: str | None = None


class EngineProvider:
    """Creates the engine on first use and keeps it for the session (thread-safe)."""

    def __init__(self, factory: EngineFactory | None = None) -> None:
        self._factory = factory or default_engine_factory
        self._engine: Any = None
        self._failure: str | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def get(self) -> Any:
        """The engine; raises :class:`NoModelError` when the bundle cannot be loaded (remembered)."""
        with self._lock:
            if self._engine is not None:
                return self._engine
            if self._failure is not None:
                raise NoModelError(self._failure)
            try:
                self._engine = self._factory()
            except (ImportError, FileNotFoundError, OSError) as exc:
                self._failure = _no_model_message(exc)
            except Exception as exc:  # noqa: BLE001 - BundleError and friends live in the lazy pipeline
                if type(exc).__name__ in ("BundleError", "BundleNotFound", "ModelBundleError"):
                    self._failure = _no_model_message(exc)
                else:
                    raise
            if self._failure is not None:
                raise NoModelError(self._failure)
            return self._engine


def _no_model_message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if text.startswith("no model bundle") else f"no model bundle ({text})"


class NoModelError(RuntimeError):
    """No model bundle is available; the message says why."""


def run_analysis(provider: EngineProvider, pixels: np.ndarray, *,
                 progress: Callable[[float, str], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> AnalysisOutcome:
    """Run the pipeline on ``pixels`` (a worker function: call it through :class:`~.worker.Worker`).

    Returns
    -------
    AnalysisOutcome
        ``no_model`` is set instead of raising when no model bundle can be loaded.
    """
    progress = progress or (lambda f, m: None)
    progress(0.0, "loading the model" if not provider.loaded else "analysing")
    try:
        engine = provider.get()
    except NoModelError as exc:
        return AnalysisOutcome(None, str(exc))
    result = engine.analyze(pixels, progress=progress, cancel=cancel)
    return AnalysisOutcome(result, None)
