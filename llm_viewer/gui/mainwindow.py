"""The review window: canvas, measurements, landmarks, worklist; analysis, correction, approval, export.

The window builds the widgets and wires them; the work is done by helpers it delegates to:
:mod:`~llm_viewer.gui.menus` (menu bar and toolbar), :mod:`~llm_viewer.gui.opening` (files, folders, demo,
recent files), :mod:`~llm_viewer.gui.landmark_edit` (selection and point edits),
:mod:`~llm_viewer.gui.canvas_keys` (arrows and Tab anywhere in the window), :mod:`~llm_viewer.gui.analysis_run`
(running the model) and :class:`~llm_viewer.gui.review.ReviewMixin` (display, calibration, approval, export).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from .about import AboutDialog, detect_accelerator, startup_environment
from .analysis import EngineFactory, EngineProvider
from .analysis_run import AnalysisRunner
from .calibration import CalibrationTool
from .canvas import Canvas
from .canvas_keys import CANVAS_KEYS, CanvasKeyFilter, is_text_entry
from .document import Document
from .landmark_edit import LANDMARK_ORDER, LandmarkEditor
from .measure_tools import MeasureTools
from .menus import add_action, build_menus, show_about, show_shortcuts
from .opening import MAX_RECENT, CaseOpener
from .panel import MeasurementsPanel
from .placement import PlacementTools
from .review import ReviewMixin
from .startpage import StartPage
from .state import is_store_case, refresh_store_manifest
from .widgets import DisplayControls, LandmarkList, MessageBar, OverlayToggles
from .worker import Worker, WorkerPool
from .worklist import WorklistWidget

__all__ = ["CANVAS_KEYS", "LANDMARK_ORDER", "MANIFEST_DELAY_MS", "MAX_RECENT", "MainWindow", "default_app_data_dir",
           "is_text_entry"]

MANIFEST_DELAY_MS = 1500
"""A store's manifest is brought up to date this long after the last autosave of one of its cases."""


def default_app_data_dir() -> Path:
    loc = QtCore.QStandardPaths.writableLocation(QtCore.QStandardPaths.StandardLocation.AppDataLocation)
    return Path(loc or Path.home() / ".llm-viewer")


class MainWindow(ReviewMixin, QtWidgets.QMainWindow):
    """The application window.

    Parameters
    ----------
    engine_factory : callable, optional
        Creates the inference engine (default: the bundled model, imported lazily).
    settings : QSettings, optional
        Where preferences and recent files persist (tests pass an INI file).
    app_data_dir : path, optional
        Fallback folder for case files of read-only images, and the demo's working copy.
    image_loader : callable, optional
        Replaces ``llm_viewer.core.imageio.load_image``.

    Signals
    -------
    ready()
        A case is shown and no analysis is pending (after loading or after the analysis ended).
    loadFailed(str)
        Opening a file failed; the message is also shown in the banner.
    """

    ready = QtCore.Signal()
    loadFailed = QtCore.Signal(str)
    exported = QtCore.Signal(object)
    reportWritten = QtCore.Signal(str)
    manifestUpdated = QtCore.Signal(str)

    def __init__(self, *, engine_factory: EngineFactory | None = None, settings: QtCore.QSettings | None = None,
                 app_data_dir: str | Path | None = None, image_loader: Callable[[Path], Any] | None = None) -> None:
        super().__init__()
        # First start: unwritable settings / app-data folders fall back to session-only ones; no model: a banner.
        env = startup_environment(settings, app_data_dir, default_app_data_dir, check_bundle=engine_factory is None)
        self.settings, self.app_data_dir, self.startup_warnings = env.settings, env.app_data_dir, env.warnings
        self.opener = CaseOpener(self, env.warnings)  # File > Open…, folders, the demo, recent files
        self.editor = LandmarkEditor(self)  # selection and point edits
        self.analysis_run = AnalysisRunner(self)  # Analysis > Run model
        self.image_loader = image_loader
        self.engines = EngineProvider(engine_factory)
        from .adapt import ModelAdapter

        self.adapter = ModelAdapter(self, restore=engine_factory is None)  # Tools > Adapt the model…
        self.pool = WorkerPool(self)
        self.doc = Document(self)
        self.doc.reviewer = self.settings.value("reviewer", None) or None
        self.undo_stack = QtGui.QUndoStack(self)
        self.selected: tuple[str, str] | None = None
        self.analysis_worker: Worker | None = None
        self.last_error: str | None = None
        self._calibration: CalibrationTool | None = None
        self._manifest_timer = QtCore.QTimer(self)
        self._manifest_timer.setSingleShot(True)
        self._manifest_timer.setInterval(MANIFEST_DELAY_MS)
        self._manifest_timer.timeout.connect(self.refresh_manifest)
        self._manifest_pending: Path | None = None
        self.setWindowTitle("llm-viewer")
        self._build_ui()
        self.placement = PlacementTools(self)
        self.measures.start_tool = self.placement.start_tool
        self.canvas.placing = self.editor.placing
        build_menus(self)
        self._connect()
        geom = self.settings.value("window/geometry")
        if geom is not None:
            self.restoreGeometry(geom)
        else:
            self.resize(1500, 950)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        if str(self.settings.value("display/invert", "false")).lower() == "true":
            self.set_inverted(True)
        if self.startup_warnings:
            self.show_message("warning", " ".join(self.startup_warnings))
        # Canvas keys (arrows nudge, Tab cycles) wherever the focus is in this window, except in a text field.
        self.canvas_keys = CanvasKeyFilter(self)
        QtWidgets.QApplication.instance().installEventFilter(self.canvas_keys)

    # ================================================================== construction
    def _build_ui(self) -> None:
        self.banner = MessageBar()
        self.canvas = Canvas(self.doc)
        central = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.banner)
        self.start_page = StartPage()
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.canvas)
        lay.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.panel = MeasurementsPanel(self.doc)
        self.landmark_list = LandmarkList(self.doc)
        self.toggles = OverlayToggles()
        self.display = DisplayControls()
        tabs = QtWidgets.QTabWidget()
        tabs.addTab(self.landmark_list, "Landmarks")
        tabs.addTab(self.toggles, "Overlays")
        tabs.addTab(self.display, "Display")
        self.measures = MeasureTools(self.doc, self.canvas, self.undo_stack, self)  # free ruler and angles
        tabs.addTab(self.measures.panel, "Ruler / angles")
        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        right.addWidget(self.panel)
        right.addWidget(tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        self.side_dock = QtWidgets.QDockWidget("Measurements", self)
        self.side_dock.setObjectName("measurements")
        self.side_dock.setWidget(right)
        self.side_dock.setMinimumWidth(430)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.side_dock)
        self.worklist = WorklistWidget()
        self.worklist_dock = QtWidgets.QDockWidget("Worklist", self)
        self.worklist_dock.setObjectName("worklist")
        self.worklist_dock.setWidget(self.worklist)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.worklist_dock)
        self.worklist_dock.hide()
        sb = self.statusBar()
        self.status_label = QtWidgets.QLabel()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.hide()
        self.save_label = QtWidgets.QLabel()
        accelerator = detect_accelerator()  # "CPU" when there is no GPU: the model then runs on the CPU
        self.device_label = QtWidgets.QLabel(accelerator.kind)
        self.device_label.setToolTip(accelerator.detail)
        sb.addWidget(self.status_label, 1)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.save_label)
        sb.addPermanentWidget(self.device_label)

    def _action(self, menu: QtWidgets.QMenu, text: str, slot: Callable, shortcut: Any = None,
                checkable: bool = False) -> QtGui.QAction:
        """A menu entry that is also a window action (see :func:`llm_viewer.gui.menus.add_action`)."""
        return add_action(self, menu, text, slot, shortcut, checkable)


    def _connect(self) -> None:
        for ov in self.canvas.overlays.values():
            ov.sigSelected.connect(self.select_landmark)
            ov.sigMoveFinished.connect(self.commit_move)
        self.start_page.openRequested.connect(self.opener.ask_open)
        self.start_page.openFolderRequested.connect(self.opener.ask_open_folder)
        self.start_page.demoRequested.connect(lambda: self.open_demo())
        self.start_page.recentChosen.connect(lambda p: self.open_path(p))
        self.canvas.sigNudge.connect(self.nudge_selected)
        self.canvas.sigCycle.connect(self.cycle_landmark)
        self.canvas.vb.sigImageClicked.connect(self._on_image_clicked)
        self.canvas.sigWindowChanged.connect(self.display.show_window)
        self.landmark_list.landmarkSelected.connect(lambda s, lm: self.select_landmark(s, lm, reveal=True))
        self.toggles.toggled.connect(lambda s, k, on: self.canvas.overlays[s].set_visible(k, on))
        self.display.presetChosen.connect(self._apply_preset)
        self.display.windowEdited.connect(self.canvas.set_window)
        self.display.invertToggled.connect(self.set_inverted)
        self.display.resetRequested.connect(self.canvas.reset_window)
        self.worklist.openRequested.connect(lambda p: self.open_path(p))
        self.cancel_button.clicked.connect(self.cancel_running)
        self.doc.saved.connect(lambda p: self.save_label.setText(f"saved ✓ {Path(p).name}"))
        self.doc.saveFailed.connect(lambda msg: self.show_message("error", msg))
        self.doc.caseChanged.connect(self._update_title)
        self.doc.approvalCleared.connect(lambda msg: self.show_message("warning", msg))
        self.doc.saved.connect(self._schedule_manifest)
        self.placement.prompt.connect(lambda msg: self.show_message("info", msg))
        self.placement.finished.connect(lambda msg: self.show_message("info", msg))

    # ================================================================== messages / status
    def show_message(self, level: str, text: str) -> None:
        """Banner plus status bar; errors are also remembered in ``last_error``."""
        if level == "error":
            self.last_error = text
        self.banner.show_message(level, text)
        self.status_label.setText(text)

    def _progress(self, fraction: float, message: str) -> None:
        self.progress.show()
        self.progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        self.progress.setFormat(message or "%p%")
        note = self.analysis_run.running_note if self.analysis_worker is not None else ""
        self.status_label.setText(f"{message}: {note}" if note else message)

    def _busy(self, on: bool, cancellable: bool = True) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on and cancellable)
        if not on:
            self.progress.setValue(0)

    def _update_title(self) -> None:
        if not self.doc.is_open:
            self.setWindowTitle("llm-viewer")
            return
        name = self.doc.image_path.name if self.doc.image_path else "case"
        self.setWindowTitle(f"llm-viewer — {name} [{self.doc.case.status}]")
        self.worklist.update_status(self.doc.case.status, self.doc.image_path, self.doc.case_path)

    # ================================================================== opening (gui/opening.py)
    def open_folder(self, folder: str | Path) -> None:
        """Show the folder's cases in the worklist and open the first one not yet approved."""
        self.opener.open_folder(folder)

    def open_demo(self) -> Worker:
        """Copy (or make) the bundled demo in a worker, then open it and run the model (Try the demo)."""
        return self.opener.open_demo()

    def open_path(self, path: str | Path, *, analyze: bool | None = None, accept_model: bool = False) -> Worker | None:
        """Open an image, a case file or a folder; loading runs in a worker thread.

        ``analyze``: run the model after loading (``None``: only when the case has no landmarks yet).
        ``accept_model``: the caller's explicit choice (the demo) that the model's landmarks replace the
        case's reviewed ones; done as one undoable step (Ctrl+Z shows the case's own points again).
        """
        return self.opener.open_path(path, analyze=analyze, accept_model=accept_model)

    def step_case(self, delta: int) -> None:
        path = self.worklist.step(delta)
        if path:
            self.open_path(path)

    # ================================================================== analysis (gui/analysis_run.py)
    def start_analysis(self, *, accept_model: bool = False) -> Worker | None:
        """Run the model on the open image in a worker; the window stays responsive.

        Reviewed points are never replaced by themselves: the model's positions for them become proposals
        (``accept_model=True`` accepts them all at once, as one undo step).
        """
        return self.analysis_run.start(accept_model=accept_model)

    def shown_source(self) -> str | None:
        """Whose landmarks the view shows now, in words ("ground truth of the case", "model's (fake-1)"...)."""
        return self.analysis_run.shown_source()

    def cancel_running(self) -> None:
        if self.analysis_worker is not None:
            self.analysis_worker.cancel()
            self.status_label.setText("cancelling…")
        elif self._calibration is not None:
            self._calibration.cancel()
        elif self.placement.guided or self.placement.tool is not None:
            self.placement.stop()

    # ================================================================== editing (gui/landmark_edit.py)
    def select_landmark(self, side: str, lm: str, *, reveal: bool = False) -> None:
        """Select a landmark; ``reveal`` (keyboard selection) pans the view to it when it is off screen."""
        self.editor.select_landmark(side, lm, reveal=reveal)

    def cycle_landmark(self, step: int) -> None:
        self.editor.cycle_landmark(step)

    def cycle_to_next_missing(self) -> None:
        self.editor.cycle_to_next_missing()

    def commit_move(self, side: str, lm: str, x: float, y: float) -> None:
        """End of a drag: one undo step; the case is changed and autosaved."""
        self.editor.commit_move(side, lm, x, y)

    def nudge_selected(self, dx: float, dy: float) -> None:
        self.editor.nudge_selected(dx, dy)

    def reset_selected(self) -> None:
        self.editor.reset_selected()

    def _on_image_clicked(self, x: float, y: float) -> None:
        self.editor.image_clicked(x, y)

    def place_points(self, points: list[tuple[str, str, tuple[float, float]]], text: str) -> None:
        """Place (or move) several landmarks by hand as one undo step (a joint line's two ends)."""
        self.editor.place_points(points, text)

    def decide_proposals(self, *, accept: bool, every: bool = False) -> bool:
        """Accept or reject the model's proposal for the selected point (``every``: all of them); one undo step."""
        return self.editor.decide_proposals(accept=accept, every=every)

    def restore_version(self, index: int | None = None) -> bool:
        """Put the points back as they were before ``history[index]`` (asks which when not given); undoable."""
        return self.editor.restore_version(index)

    # ================================================================== store manifest
    def _schedule_manifest(self, path: str) -> None:
        if is_store_case(Path(path)):
            self._manifest_pending = Path(path)
            self._manifest_timer.start()

    def refresh_manifest(self) -> Worker | None:
        """Record the in-place edit of a store's case in the store's manifest (in a worker thread)."""
        self._manifest_timer.stop()
        path, self._manifest_pending = self._manifest_pending, None
        if path is None:
            return None
        worker = Worker(refresh_store_manifest, path, self.doc.actor)
        worker.signals.error.connect(lambda msg: self.show_message("warning", f"Store manifest not updated: {msg}"))
        worker.signals.result.connect(lambda _e: self.manifestUpdated.emit(str(path)))
        return self.pool.start(worker)

    # ================================================================== help (gui/menus.py)
    def show_shortcuts(self) -> None:
        show_shortcuts(self)

    def show_about(self) -> AboutDialog:
        """Version, model bundle and fingerprint, device, licences and the research-use notice (non-modal)."""
        return show_about(self)

    # ================================================================== shutdown
    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.refresh_manifest()
        QtWidgets.QApplication.instance().removeEventFilter(self.canvas_keys)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        self.pool.wait(5000)
        super().closeEvent(ev)
