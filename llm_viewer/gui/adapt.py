"""Tools > Adapt the model to these cases…: fine-tune the model in use on the corrected cases of a store.

The cases are the training-set store the viewer exports corrected cases into (File > Export to training
set, remembered as ``store/path``). :func:`training.adapt.run_adapt` runs in a worker thread with progress
(and its time estimate) in the window's progress bar and the window's Cancel button; a cancelled run keeps
its finished epochs, and starting the action again with the same store resumes it. When it finishes, the
viewer shows the new model id and its held-out numbers next to the parent's and asks whether to use it;
Tools > Switch back to the previous model returns to the model used before. The model in use is
remembered in the settings (``model/path``) and used again at the next start when it still loads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from .analysis import EngineProvider
from .worker import Worker

MODEL_PATH_KEY = "model/path"


def bundle_engine_factory(path: str | Path):
    """An engine factory for the bundle at ``path`` (torch and the pipeline import lazily, in the worker)."""

    def make() -> Any:
        from ..pipeline.engine import InferenceEngine

        return InferenceEngine.from_bundle(path, device="auto")

    return make


def adapt_job(opts: Any, *, progress, cancel) -> Any:
    """Worker function: :func:`training.adapt.run_adapt` with the worker's progress and cancel flag."""
    try:
        from training.adapt import run_adapt
    except ImportError as exc:  # an installation without the training package
        raise ValueError(f"adapting needs the training package of llm-viewer ({exc})") from None

    progress(0.0, "preparing the training data")
    return run_adapt(opts, log=lambda m: None, progress=lambda p: progress(p.fraction, p.line()),
                     should_stop=cancel)


def _fmt(v: Any, unit: str, nd: int = 2) -> str:
    return "–" if v is None else f"{v:.{nd}f}{unit}"


def summary_text(res: Any) -> str:
    """What the question after an adaptation says: the new id, its parent and the held-out numbers."""
    lines = [f"New model: {res.model_id}", f"adapted from {res.parent_model_id} on {res.record.get('n_cases')} "
             f"cases (store fingerprint {res.store_fingerprint[:12]})."]
    if res.held_out:
        lines.append(f"On the {res.held_out['parent']['n_images']} held-out cases of the store:")
        for key, label in (("parent", "current model"), ("adapted", "new model")):
            h = res.held_out[key]
            lines.append(f"  {label}: mean error {_fmt(h['mean_error_mm_8_landmarks'], ' mm')}, HKA MAE "
                         f"{_fmt(h['hka_mae_deg'], '°')}, HKA measured on {_fmt(h['legs_with_hka_pct'], ' %', 0)} "
                         "of legs")
    else:
        lines.append("The store has no held-out (val) case, so the new model was not measured.")
    lines.append("")
    lines.append("Use the new model now? (Tools > Switch back to the previous model returns to the current one.)")
    return "\n".join(lines)


class ModelAdapter(QtCore.QObject):
    """The adapt action of a :class:`~.mainwindow.MainWindow` and the model switch that follows it."""

    adapted = QtCore.Signal(object)  # training.adapt.AdaptResult
    switched = QtCore.Signal(str)  # model id (or path) now in use
    failed = QtCore.Signal(str)

    def __init__(self, window: Any, *, restore: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.worker: Worker | None = None
        self.current_path: Path | None = None
        self.previous: list[tuple[Path | None, EngineProvider]] = []
        self.confirm = self._ask
        self.options: dict[str, Any] = {}
        """Extra :class:`training.adapt.AdaptOptions` fields (tests: ``max_steps``, ``epochs``...)."""
        saved = window.settings.value(MODEL_PATH_KEY, None)
        if restore and saved and (Path(str(saved)) / "bundle.json").is_file():
            self.current_path = Path(str(saved))
            window.engines = EngineProvider(bundle_engine_factory(self.current_path))

    # ------------------------------------------------------------------ helpers
    def parent_bundle(self) -> Path:
        """The bundle in use (the one an adaptation starts from)."""
        if self.current_path is not None:
            return self.current_path
        from ..pipeline.bundle import default_bundle_path

        return Path(default_bundle_path())

    def _ask(self, text: str) -> bool:
        box = QtWidgets.QMessageBox.question(self.window, "Use the adapted model?", text)
        return box == QtWidgets.QMessageBox.StandardButton.Yes

    @property
    def busy(self) -> bool:
        return self.worker is not None

    # ------------------------------------------------------------------ actions
    def start(self, store: str | Path | None = None, out: str | Path | None = None) -> Worker | None:
        """Adapt the model in use to the store's cases in a worker; ``None`` when nothing was started."""
        win = self.window
        try:
            from training.adapt import AdaptOptions
        except ImportError as exc:
            win.show_message("error", f"Adapting needs the training package of llm-viewer ({exc}).")
            return None
        if self.worker is not None or win.analysis_worker is not None:
            win.show_message("warning", "Wait for the running job to finish (or cancel it) first.")
            return None
        if store is None:
            store = QtWidgets.QFileDialog.getExistingDirectory(
                win, "Store of corrected cases (File > Export to training set)",
                str(win.settings.value("store/path", "")))
            if not store:
                return None
        store = Path(store)
        if out is None:
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            out = Path(win.app_data_dir) / "models" / f"adapted-{store.name}-{stamp}"
        try:
            parent = self.parent_bundle()
        except Exception as exc:  # noqa: BLE001 - no bundle at all: a message
            win.show_message("error", f"No model to adapt: {exc}")
            return None
        opts = AdaptOptions(bundle=str(parent), store=str(store), out=str(out), **self.options)
        worker = Worker(adapt_job, opts)
        self.worker = worker
        worker.signals.progress.connect(win._progress)
        worker.signals.result.connect(self._on_done)
        worker.signals.error.connect(self._on_error)
        worker.signals.cancelled.connect(
            lambda: win.show_message("info", "Adaptation cancelled; the finished epochs are kept in "
                                             f"{out}: start it again with the same store to resume."))
        worker.signals.finished.connect(self._on_finished)
        win.cancel_button.clicked.connect(worker.cancel)
        win._busy(True)
        win.show_message("info", f"Adapting {parent.name} to the cases in {store}; the viewer stays usable.")
        return win.pool.start(worker)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def _on_error(self, msg: str) -> None:
        self.window.show_message("error", f"Adaptation failed: {msg}")
        self.failed.emit(msg)

    def _on_finished(self) -> None:
        if self.worker is not None:
            try:
                self.window.cancel_button.clicked.disconnect(self.worker.cancel)
            except (RuntimeError, TypeError):
                pass
        self.worker = None
        self.window._busy(False)

    def _on_done(self, res: Any) -> None:
        self.window.show_message("info", f"Adapted model {res.model_id} written to {res.out}.")
        self.adapted.emit(res)
        if self.confirm(summary_text(res)):
            self.use(res.out)

    def use(self, path: str | Path) -> None:
        """Analyse with the bundle at ``path`` from now on (the current model can be switched back to)."""
        self.previous.append((self.current_path, self.window.engines))
        self.current_path = Path(path)
        self.window.engines = EngineProvider(bundle_engine_factory(self.current_path))
        self.window.settings.setValue(MODEL_PATH_KEY, str(self.current_path))
        self._refresh()
        self.window.show_message("info", f"Using the model in {self.current_path} for new analyses (Ctrl+R).")
        self.switched.emit(str(self.current_path))

    def switch_back(self) -> bool:
        """Return to the model used before the last :meth:`use`; ``False`` when there is none."""
        if not self.previous:
            return False
        self.current_path, self.window.engines = self.previous.pop()
        if self.current_path is None:
            self.window.settings.remove(MODEL_PATH_KEY)
        else:
            self.window.settings.setValue(MODEL_PATH_KEY, str(self.current_path))
        self._refresh()
        self.window.show_message("info", "Back to the previous model for new analyses.")
        self.switched.emit(str(self.current_path or ""))
        return True

    def _refresh(self) -> None:
        act = getattr(self.window, "act_switch_back", None)
        if act is not None:
            act.setEnabled(bool(self.previous))
