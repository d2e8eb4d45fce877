"""Opening cases in the main window: file and folder dialogs, the worklist's folder, the demo, recent files.

Loading runs in a worker thread (:func:`llm_viewer.gui.loader.open_case`); a load that finishes after a newer
one was asked for is dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from ..core.history import stale_approval
from .loader import LoadedCase, open_case
from .state import value_range
from .worker import Worker
from .worklist import is_queue_file, scan_folder

if TYPE_CHECKING:
    from .mainwindow import MainWindow

MAX_RECENT = 10


def _prepare_demo(work_dir: Path, *, progress=None, cancel=None) -> Path:
    """Worker body: the demo's working copy (see :func:`llm_viewer.gui.demo.prepare_demo`)."""
    from .demo import prepare_demo

    if progress is not None:
        progress(0.1, "preparing the demo")
    return prepare_demo(work_dir)


class CaseOpener:
    """Opens images, case files, folders and the demo in ``win`` (``MainWindow.open_path`` and friends).

    Parameters
    ----------
    win : MainWindow
        The window the case is shown in.
    pending_startup : list of str
        First-start warnings; shown again when the first case has been opened, then forgotten.
    """

    def __init__(self, win: MainWindow, pending_startup: list[str]) -> None:
        self.win = win
        self.pending_startup = list(pending_startup)
        self.load_token = 0
        self.loading = False

    # ================================================================== dialogs
    def ask_open(self) -> None:
        win = self.win
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            win, "Open a radiograph or case", str(win.settings.value("dialog/dir", "")),
            "Radiographs, cases and relabel queues (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff *.case.json "
            "*.json);;All files (*)")
        if path:
            win.settings.setValue("dialog/dir", str(Path(path).parent))
            win.open_path(path)

    def ask_open_folder(self) -> None:
        win = self.win
        path = QtWidgets.QFileDialog.getExistingDirectory(win, "Open a folder of cases",
                                                          str(win.settings.value("dialog/dir", "")))
        if path:
            win.open_folder(path)

    # ================================================================== opening
    def open_folder(self, folder: str | Path) -> None:
        """Show the folder's cases in the worklist and open the first one not yet approved."""
        win = self.win
        try:
            entries = scan_folder(folder, win.app_data_dir)
        except (OSError, ValueError) as exc:
            win.show_message("error", str(exc))
            return
        win.worklist.set_entries(entries, Path(folder))
        win.worklist_dock.show()
        self.add_recent(str(folder))
        todo = [e for e in entries if e.status != "approved"] or entries
        if todo:
            win.open_path(todo[0].path)
        else:
            win.show_message("info", f"{folder}: no radiographs or case files found")

    def open_demo(self) -> Worker:
        """Copy (or make) the bundled demo in a worker, then open it and run the model (Try the demo)."""
        win = self.win
        worker = Worker(_prepare_demo, win.app_data_dir)
        worker.signals.result.connect(lambda p: win.open_path(p, analyze=True, accept_model=True))
        worker.signals.error.connect(lambda msg: win.show_message("error", f"The demo cannot be opened: {msg}"))
        worker.signals.progress.connect(win._progress)
        win.status_label.setText("preparing the demo…")
        return win.pool.start(worker)

    def open_path(self, path: str | Path, *, analyze: bool | None = None, accept_model: bool = False) -> Worker | None:
        """Open an image, a case file or a folder; loading runs in a worker thread (see ``MainWindow.open_path``)."""
        win = self.win
        p = Path(path)
        if p.is_dir() or is_queue_file(p):  # a folder, a store or an active-learning relabel queue
            win.open_folder(p)
            return None
        self.load_token += 1
        token = self.load_token
        self.loading = True
        win.undo_stack.clear()
        win.refresh_manifest()  # the case being left: its store's manifest now, not later
        worker = Worker(open_case, p, win.app_data_dir, image_loader=win.image_loader)
        worker.signals.progress.connect(win._progress)
        worker.signals.result.connect(lambda lc: self._on_loaded(lc, analyze, token, accept_model))
        worker.signals.error.connect(lambda msg: self._on_load_error(msg, p, token))
        win._busy(True, cancellable=False)
        win.status_label.setText(f"opening {p.name}…")
        return win.pool.start(worker)

    def _on_load_error(self, message: str, path: Path, token: int) -> None:
        if token != self.load_token:
            return
        win = self.win
        self.loading = False
        win._busy(False)
        win.show_message("error", f"Could not open {path.name}: {message}")
        win.loadFailed.emit(message)

    def _on_loaded(self, lc: LoadedCase, analyze: bool | None, token: int, accept_model: bool = False) -> None:
        if token != self.load_token:
            return
        win = self.win
        self.loading = False
        win._busy(False)
        win.banner.hide()
        if self.pending_startup:  # first-start warnings outlive the first case being opened
            win.show_message("warning", " ".join(self.pending_startup))
            self.pending_startup = []
        win.selected = None
        win.stack.setCurrentWidget(win.canvas)
        win.doc.set_case(lc.image, lc.case, lc.location.path, image_path=lc.image_path,
                         fallback=lc.location.fallback, presets=lc.presets)
        win.canvas.show_image(lc.image.pixels, lc.case.pixel_spacing_mm, lc.image.window.center,
                              lc.image.window.width, value_range=value_range(lc.presets))
        win.canvas.set_inverted(win.act_invert.isChecked())
        win.display.set_presets(lc.presets)
        win.display.show_window(lc.image.window.center, lc.image.window.width)
        stale = stale_approval(lc.case)
        if stale:
            lc.warnings.append(f"{stale}: approve again before exporting a report")
        if lc.warnings:
            win.show_message("warning", "; ".join(lc.warnings))
        self.add_recent(str(lc.image_path))
        win.settings.setValue("session/last_path", str(lc.location.path))
        win.worklist.mark_current(lc.image_path, lc.location.path)
        win._update_title()
        win.status_label.setText(f"{lc.image_path.name}: {lc.image.width_px}×{lc.image.height_px} px, "
                                 f"case {lc.location.path.name}")
        has_points = any(lc.case.landmarks(s) for s in lc.case.sides)
        if analyze or (analyze is None and not has_points):
            win.start_analysis(accept_model=accept_model)
        else:
            win.ready.emit()

    # ================================================================== recent files
    def add_recent(self, path: str) -> None:
        settings = self.win.settings
        recent = [p for p in (settings.value("recent", []) or []) if p != path]
        settings.setValue("recent", [path, *recent][:MAX_RECENT])
        self.refresh_recent()

    def refresh_recent(self) -> None:
        """File > Recent and the start page's list, from the settings."""
        win = self.win
        win.recent_menu.clear()
        recent = win.settings.value("recent", []) or []
        if isinstance(recent, str):
            recent = [recent]
        for p in recent:
            win.recent_menu.addAction(p, lambda p=p: win.open_path(p))
        win.recent_menu.setEnabled(bool(recent))
        win.start_page.set_recent([str(p) for p in recent])
