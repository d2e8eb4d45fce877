"""The review window: canvas, measurements, landmarks, worklist; analysis, correction, approval, export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.history import stale_approval
from ..core.landmarks import LANDMARK_IDS, LANDMARK_LABELS, SIDES
from .about import AboutDialog, detect_accelerator, startup_environment
from .analysis import AnalysisOutcome, EngineFactory, EngineProvider, run_analysis
from .calibration import CalibrationTool
from .canvas import ZOOM_REGIONS, Canvas
from .document import Document
from .loader import LoadedCase, open_case
from .measure_tools import MeasureTools, add_measure_actions
from .pacs import add_pacs_case_actions, add_pacs_file_actions
from .panel import MeasurementsPanel
from .placement import PlacementTools
from .review import ReviewMixin
from .startpage import StartPage
from .state import is_store_case, refresh_store_manifest, value_range
from .undo import PointEdit, ProposalDecision, RestoreVersion
from .widgets import DisplayControls, LandmarkList, MessageBar, OverlayToggles, shortcuts_dialog
from .worker import Worker, WorkerPool
from .worklist import WorklistWidget, is_queue_file, scan_folder

MAX_RECENT = 10
LANDMARK_ORDER = [(s, lm) for s in SIDES for lm in LANDMARK_IDS]
CANVAS_KEYS = {QtCore.Qt.Key.Key_Left: (-1, 0), QtCore.Qt.Key.Key_Right: (1, 0),
               QtCore.Qt.Key.Key_Up: (0, -1), QtCore.Qt.Key.Key_Down: (0, 1)}
MANIFEST_DELAY_MS = 1500
"""A store's manifest is brought up to date this long after the last autosave of one of its cases."""


def is_text_entry(widget: QtWidgets.QWidget | None) -> bool:
    """Whether keys typed into ``widget`` are text (a line edit or text box, but not a spin box's field)."""
    if isinstance(widget, QtWidgets.QLineEdit):
        return not widget.isReadOnly() and not isinstance(widget.parent(), QtWidgets.QAbstractSpinBox)
    if isinstance(widget, (QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit)):
        return not widget.isReadOnly()
    return False


def _prepare_demo(work_dir: Path, *, progress=None, cancel=None) -> Path:
    """Worker body: the demo's working copy (see :func:`llm_viewer.gui.demo.prepare_demo`)."""
    from .demo import prepare_demo

    if progress is not None:
        progress(0.1, "preparing the demo")
    return prepare_demo(work_dir)


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
        self._pending_startup = list(env.warnings)
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
        self._load_token = 0
        self._loading = False
        self._calibration: CalibrationTool | None = None
        self._running_note = ""
        self._manifest_timer = QtCore.QTimer(self)
        self._manifest_timer.setSingleShot(True)
        self._manifest_timer.setInterval(MANIFEST_DELAY_MS)
        self._manifest_timer.timeout.connect(self.refresh_manifest)
        self._manifest_pending: Path | None = None
        self.setWindowTitle("llm-viewer")
        self._build_ui()
        self.placement = PlacementTools(self)
        self.measures.start_tool = self.placement.start_tool
        self.canvas.placing = self._placing
        self._build_actions()
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
        QtWidgets.QApplication.instance().installEventFilter(self)

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
        act = QtGui.QAction(text, self)
        if shortcut is not None:
            act.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
        act.setCheckable(checkable)
        act.triggered.connect(slot)
        menu.addAction(act)
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        self._action(m, "Open image or case…", self._ask_open, QtGui.QKeySequence.StandardKey.Open)
        self._action(m, "Open folder (worklist)…", self._ask_open_folder, QtGui.QKeySequence("Ctrl+Shift+O"))
        add_pacs_file_actions(self, m)  # Open from PACS…, PACS settings…
        self.recent_menu = m.addMenu("Recent")
        m.addSeparator()
        self.act_export = self._action(m, "Export to training set…", lambda: self.export_to_store(),
                                       QtGui.QKeySequence("Ctrl+E"))
        m.addSeparator()
        self._action(m, "Quit", self.close, QtGui.QKeySequence.StandardKey.Quit)
        m = mb.addMenu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "Undo")
        undo.setShortcuts([QtGui.QKeySequence("Ctrl+Z")])
        redo = self.undo_stack.createRedoAction(self, "Redo")
        redo.setShortcuts([QtGui.QKeySequence("Ctrl+Shift+Z"), QtGui.QKeySequence("Ctrl+Y")])
        for a in (undo, redo):
            m.addAction(a)
            self.addAction(a)
        m.addSeparator()
        self._action(m, "Reset selected point to prediction", self.reset_selected, QtGui.QKeySequence("Backspace"))
        self._action(m, "Next landmark", lambda: self.cycle_landmark(1))
        m.addSeparator()
        self._action(m, "Restore an earlier version…", lambda: self.restore_version())
        m = mb.addMenu("&View")
        self._action(m, "Fit to window", self.canvas.fit, QtGui.QKeySequence("F"))
        keys = iter("123456")
        for side in SIDES:
            for region in ZOOM_REGIONS:
                self._action(m, f"Zoom to {side} {region}", lambda _c=False, s=side, r=region: self.canvas.zoom_to(s, r),
                             QtGui.QKeySequence(next(keys)))
        m.addSeparator()
        self.act_invert = self._action(m, "Invert", lambda on: self.set_inverted(on), QtGui.QKeySequence("I"),
                                       checkable=True)
        self._action(m, "Reset window/level", self.canvas.reset_window, QtGui.QKeySequence("W"))
        m.addAction(self.side_dock.toggleViewAction())
        m.addAction(self.worklist_dock.toggleViewAction())
        m = mb.addMenu("&Analysis")
        self.act_analyze = self._action(m, "Run model", lambda: self.start_analysis(), QtGui.QKeySequence("Ctrl+R"))
        self._action(m, "Cancel", self.cancel_running, QtGui.QKeySequence("Esc"))
        m.addSeparator()
        self.act_accept = self._action(m, "Accept the model's proposal for the selected point",
                                       lambda: self.decide_proposals(accept=True), QtGui.QKeySequence("A"))
        self.act_accept_all = self._action(m, "Accept all of the model's proposals",
                                           lambda: self.decide_proposals(accept=True, every=True),
                                           QtGui.QKeySequence("Shift+A"))
        self.act_reject = self._action(m, "Reject the model's proposal for the selected point",
                                       lambda: self.decide_proposals(accept=False), QtGui.QKeySequence("D"))
        self.act_reject_all = self._action(m, "Reject all of the model's proposals",
                                           lambda: self.decide_proposals(accept=False, every=True),
                                           QtGui.QKeySequence("Shift+D"))
        m = mb.addMenu("&Tools")
        self._action(m, "Calibrate with a ruler (line of known length)…", lambda: self.start_calibration("ruler"))
        self._action(m, "Calibrate with a ball (known diameter)…", lambda: self.start_calibration("ball"))
        self._action(m, "Use the image's DICOM spacing", self.use_dicom_spacing)
        m.addSeparator()
        self._action(m, "Place missing landmarks, one after the other (guided)",
                     lambda: self.placement.start_guided() if self.doc.is_open else None, QtGui.QKeySequence("G"))
        self._action(m, "Skip this landmark (guided placement)", lambda: self.placement.skip(),
                     QtGui.QKeySequence("S"))
        for text, tool, key in (("Femoral head: three clicks on its rim", "head", "C"),
                                ("Femoral joint line: two clicks (condyles)", "femoral", "J"),
                                ("Tibial plateau line: two clicks", "tibial", "K"),
                                ("Malleolar line: two clicks", "malleolar", "M")):
            self._action(m, text, lambda _c=False, t=tool: self.placement.start_tool(t) if self.doc.is_open else None,
                         QtGui.QKeySequence(key))
        add_measure_actions(self, m)
        from .planning import add_planning_action  # Tools > Plan osteotomy… (gui/planning.py)
        add_planning_action(self, m)
        m.addSeparator()
        self._action(m, "Adapt the model to these cases…", lambda: self.adapter.start())
        self.act_switch_back = self._action(m, "Switch back to the previous model", lambda: self.adapter.switch_back())
        self.act_switch_back.setEnabled(False)
        m = mb.addMenu("&Case")
        self._action(m, "Approve…", lambda: self.approve(), QtGui.QKeySequence("Ctrl+Return"))
        self._action(m, "Export report (PDF)…", lambda: self.export_report(), QtGui.QKeySequence("Ctrl+P"))
        add_pacs_case_actions(self, m)  # Send to PACS
        self._action(m, "Next case", lambda: self.step_case(1), QtGui.QKeySequence("PgDown"))
        self._action(m, "Previous case", lambda: self.step_case(-1), QtGui.QKeySequence("PgUp"))
        m = mb.addMenu("&Help")
        self._action(m, "Keyboard shortcuts", self.show_shortcuts, QtGui.QKeySequence("F1"))
        self._action(m, "About llm-viewer…", self.show_about)
        tb = self.addToolBar("Main")
        tb.setObjectName("main-toolbar")
        for a in (self.act_analyze, undo, redo, self.act_export):
            tb.addAction(a)
        self._refresh_recent()

    def _connect(self) -> None:
        for ov in self.canvas.overlays.values():
            ov.sigSelected.connect(self.select_landmark)
            ov.sigMoveFinished.connect(self.commit_move)
        self.start_page.openRequested.connect(self._ask_open)
        self.start_page.openFolderRequested.connect(self._ask_open_folder)
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
        note = self._running_note if self.analysis_worker is not None else ""
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

    # ================================================================== opening
    def _ask_open(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open a radiograph or case", str(self.settings.value("dialog/dir", "")),
            "Radiographs, cases and relabel queues (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff *.case.json "
            "*.json);;All files (*)")
        if path:
            self.settings.setValue("dialog/dir", str(Path(path).parent))
            self.open_path(path)

    def _ask_open_folder(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a folder of cases",
                                                          str(self.settings.value("dialog/dir", "")))
        if path:
            self.open_folder(path)

    def open_folder(self, folder: str | Path) -> None:
        """Show the folder's cases in the worklist and open the first one not yet approved."""
        try:
            entries = scan_folder(folder, self.app_data_dir)
        except (OSError, ValueError) as exc:
            self.show_message("error", str(exc))
            return
        self.worklist.set_entries(entries, Path(folder))
        self.worklist_dock.show()
        self._add_recent(str(folder))
        todo = [e for e in entries if e.status != "approved"] or entries
        if todo:
            self.open_path(todo[0].path)
        else:
            self.show_message("info", f"{folder}: no radiographs or case files found")

    def open_demo(self) -> Worker:
        """Copy (or make) the bundled demo in a worker, then open it and run the model (Try the demo)."""
        worker = Worker(_prepare_demo, self.app_data_dir)
        worker.signals.result.connect(lambda p: self.open_path(p, analyze=True, accept_model=True))
        worker.signals.error.connect(lambda msg: self.show_message("error", f"The demo cannot be opened: {msg}"))
        worker.signals.progress.connect(self._progress)
        self.status_label.setText("preparing the demo…")
        return self.pool.start(worker)

    def open_path(self, path: str | Path, *, analyze: bool | None = None, accept_model: bool = False) -> Worker | None:
        """Open an image, a case file or a folder; loading runs in a worker thread.

        ``analyze``: run the model after loading (``None``: only when the case has no landmarks yet).
        ``accept_model``: the caller's explicit choice (the demo) that the model's landmarks replace the
        case's reviewed ones; done as one undoable step (Ctrl+Z shows the case's own points again).
        """
        p = Path(path)
        if p.is_dir() or is_queue_file(p):  # a folder, a store or an active-learning relabel queue
            self.open_folder(p)
            return None
        self._load_token += 1
        token = self._load_token
        self._loading = True
        self.undo_stack.clear()
        self.refresh_manifest()  # the case being left: its store's manifest now, not later
        worker = Worker(open_case, p, self.app_data_dir, image_loader=self.image_loader)
        worker.signals.progress.connect(self._progress)
        worker.signals.result.connect(lambda lc: self._on_loaded(lc, analyze, token, accept_model))
        worker.signals.error.connect(lambda msg: self._on_load_error(msg, p, token))
        self._busy(True, cancellable=False)
        self.status_label.setText(f"opening {p.name}…")
        return self.pool.start(worker)

    def _on_load_error(self, message: str, path: Path, token: int) -> None:
        if token != self._load_token:
            return
        self._loading = False
        self._busy(False)
        self.show_message("error", f"Could not open {path.name}: {message}")
        self.loadFailed.emit(message)

    def _on_loaded(self, lc: LoadedCase, analyze: bool | None, token: int, accept_model: bool = False) -> None:
        if token != self._load_token:
            return
        self._loading = False
        self._busy(False)
        self.banner.hide()
        if self._pending_startup:  # first-start warnings outlive the first case being opened
            self.show_message("warning", " ".join(self._pending_startup))
            self._pending_startup = []
        self.selected = None
        self.stack.setCurrentWidget(self.canvas)
        self.doc.set_case(lc.image, lc.case, lc.location.path, image_path=lc.image_path,
                          fallback=lc.location.fallback, presets=lc.presets)
        self.canvas.show_image(lc.image.pixels, lc.case.pixel_spacing_mm, lc.image.window.center,
                               lc.image.window.width, value_range=value_range(lc.presets))
        self.canvas.set_inverted(self.act_invert.isChecked())
        self.display.set_presets(lc.presets)
        self.display.show_window(lc.image.window.center, lc.image.window.width)
        stale = stale_approval(lc.case)
        if stale:
            lc.warnings.append(f"{stale}: approve again before exporting a report")
        if lc.warnings:
            self.show_message("warning", "; ".join(lc.warnings))
        self._add_recent(str(lc.image_path))
        self.settings.setValue("session/last_path", str(lc.location.path))
        self.worklist.mark_current(lc.image_path, lc.location.path)
        self._update_title()
        self.status_label.setText(f"{lc.image_path.name}: {lc.image.width_px}×{lc.image.height_px} px, "
                                  f"case {lc.location.path.name}")
        has_points = any(lc.case.landmarks(s) for s in lc.case.sides)
        if analyze or (analyze is None and not has_points):
            self.start_analysis(accept_model=accept_model)
        else:
            self.ready.emit()

    # ================================================================== analysis
    def start_analysis(self, *, accept_model: bool = False) -> Worker | None:
        """Run the model on the open image in a worker; the window stays responsive.

        Reviewed points are never replaced by themselves: the model's positions for them become proposals
        (``accept_model=True`` accepts them all at once, as one undo step).
        """
        if not self.doc.is_open or self.analysis_worker is not None:
            return None
        worker = Worker(run_analysis, self.engines, self.doc.image.pixels)
        self.analysis_worker = worker
        case_path = self.doc.case_path
        worker.signals.progress.connect(self._progress)
        worker.signals.result.connect(lambda out: self._on_analysis(out, case_path, accept_model))
        worker.signals.error.connect(lambda msg: self.show_message("error", f"Analysis failed: {msg}"))
        worker.signals.cancelled.connect(lambda: self.show_message("info", "Analysis cancelled"))
        worker.signals.finished.connect(self._on_analysis_finished)
        self._busy(True)
        shown = self.shown_source()
        if shown:  # while the model runs, say whose numbers these are and what happens to them
            if accept_model:
                self.show_message("info", f"The model is running. The numbers shown now are the {shown}; when the "
                                          "model finishes (about 25 s on a CPU) its landmarks and numbers replace "
                                          "them, and Ctrl+Z shows these again.")
            else:
                self.show_message("info", f"The model is running. The numbers shown are the {shown}; nothing is "
                                          "replaced without your choice.")
        self._running_note = f"the values shown are the {shown}" if shown else ""
        self.status_label.setText("model running" + (f": {self._running_note}" if shown else ""))
        return self.pool.start(worker)

    def shown_source(self) -> str | None:
        """Whose landmarks the view shows now, in words ("ground truth of the case", "model's (fake-1)"...)."""
        if not self.doc.is_open:
            return None
        sources = {str(self.doc.provenance(s, lm).get("source") or "unknown")
                   for s in self.doc.case.sides for lm in self.doc.case.landmarks(s)}
        if not sources:
            return None
        words = {"ground_truth": "ground truth of the case", "model": "model's values",
                 "manual": "values of points placed or corrected by hand", "imported": "imported values"}
        if len(sources) == 1:
            return words.get(next(iter(sources)), f"{next(iter(sources))} values")
        return "values of " + ", ".join(sorted(s.replace("_", " ") for s in sources)) + " points"

    def _on_analysis(self, outcome: AnalysisOutcome, case_path: Path | None, accept_model: bool = False) -> None:
        if case_path != self.doc.case_path:  # another case was opened meanwhile
            return
        if outcome.no_model:
            self.show_message("warning", f"{outcome.no_model}: showing stored landmarks. Place missing landmarks "
                                         "by hand: select one in the Landmarks list, then click on the image.")
            return
        warnings = self.doc.apply_analysis(outcome.result)
        if self.doc.last_analysis.get("placed"):  # model points replaced: earlier steps no longer apply
            self.undo_stack.clear()
        r = outcome.result
        msg = f"model {getattr(r, 'model_id', '?')} on {getattr(r, 'device', '?')}"
        self.device_label.setText(str(getattr(r, "device", "?")).split(":")[0].upper())
        if warnings:
            self.show_message("warning", "Analysis: " + "; ".join(warnings))
        n = len(self.doc.proposals)
        if n and accept_model:
            kept = self.doc.case.status
            self.decide_proposals(accept=True, every=True)
            self.show_message("info", f"Now showing the model's landmarks and numbers ({msg}); the case's own "
                                      f"{kept} points (the ground truth of the demo) are one Ctrl+Z away.")
        elif n:
            kept = "approved points" if self.doc.case.status == "approved" else "reviewed points"
            self.show_message("info", f"The model proposes new positions for {n} {kept} (hollow circles); nothing "
                                      "was changed. A / D: accept / reject the selected point's proposal, "
                                      "Shift+A / Shift+D: all of them (undoable). The approval stays until you "
                                      "accept a change.")
        todo = n and not accept_model
        if not warnings and not n and "model is running" in self.banner.text:
            # nothing else was said: the "model is running" note must not outlive the run
            self.show_message("info", f"The model finished ({msg}); the landmarks and numbers shown are the "
                                      f"{self.shown_source() or 'model values'}.")
        self.status_label.setText(f"analysis finished ({msg})" + (f", {n} proposal(s) to review" if todo else ""))

    def _on_analysis_finished(self) -> None:
        self.analysis_worker = None
        self._busy(False)
        self.ready.emit()

    def cancel_running(self) -> None:
        if self.analysis_worker is not None:
            self.analysis_worker.cancel()
            self.status_label.setText("cancelling…")
        elif self._calibration is not None:
            self._calibration.cancel()
        elif self.placement.guided or self.placement.tool is not None:
            self.placement.stop()

    # ================================================================== editing
    def select_landmark(self, side: str, lm: str, *, reveal: bool = False) -> None:
        """Select a landmark; ``reveal`` (keyboard selection) pans the view to it when it is off screen."""
        self.selected = (side, lm)
        for s, ov in self.canvas.overlays.items():
            ov.set_selected(lm if s == side else None)
        self.landmark_list.select(side, lm)
        p = self.doc.point(side, lm)
        if reveal and p is not None:
            self.canvas.ensure_visible(p.x, p.y)
        hint = " (missing: click on the image to place it)" if p is None else ""
        prop = self.doc.proposal(side, lm)
        if prop is not None:
            hint += " (the model proposes another position: A accept, D reject)"
        self.status_label.setText(f"selected: {LANDMARK_LABELS[lm]}, {side} leg{hint}")

    def cycle_landmark(self, step: int) -> None:
        i = LANDMARK_ORDER.index(self.selected) if self.selected in LANDMARK_ORDER else -1
        j = (i + step) % len(LANDMARK_ORDER) if i >= 0 else (0 if step > 0 else len(LANDMARK_ORDER) - 1)
        self.select_landmark(*LANDMARK_ORDER[j], reveal=True)

    def _owns(self, widget: QtWidgets.QWidget) -> bool:
        """``widget`` is part of this window (docked or floating panels included, dialogs excluded)."""
        w: QtWidgets.QWidget | None = widget
        while w is not None:
            if w is self:
                return True
            if isinstance(w, QtWidgets.QDialog):
                return False
            w = w.parentWidget()
        return False

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:  # noqa: N802 - Qt API
        """Arrows and Tab act on the canvas wherever the focus is in this window, except in a text field."""
        if ev.type() != QtCore.QEvent.Type.KeyPress or not isinstance(obj, QtWidgets.QWidget):
            return False
        key = ev.key()
        if key not in CANVAS_KEYS and key not in (QtCore.Qt.Key.Key_Tab, QtCore.Qt.Key.Key_Backtab):
            return False
        if not self.doc.is_open or not self._owns(obj) or is_text_entry(obj) or (
                QtWidgets.QApplication.activePopupWidget() is not None):
            return False
        mods = ev.modifiers() & ~QtCore.Qt.KeyboardModifier.KeypadModifier
        if mods & ~QtCore.Qt.KeyboardModifier.ShiftModifier:  # Ctrl/Alt+arrow: leave to the widget
            return False
        shift = bool(mods & QtCore.Qt.KeyboardModifier.ShiftModifier)
        if key in CANVAS_KEYS:
            dx, dy = CANVAS_KEYS[key]
            k = 10.0 if shift else 1.0
            self.nudge_selected(dx * k, dy * k)
        else:
            self.cycle_landmark(-1 if (shift or key == QtCore.Qt.Key.Key_Backtab) else 1)
        return True

    def commit_move(self, side: str, lm: str, x: float, y: float) -> None:
        """End of a drag: one undo step; the case is changed and autosaved."""
        if not self.doc.is_open:
            return
        old = self.doc.case.landmark(side, lm)
        if old is not None and old.x == x and old.y == y:
            self.doc.cancel_preview()
            return
        self.undo_stack.push(PointEdit(self.doc, side, lm, lambda: self.doc.move_landmark(side, lm, (x, y)), "Move"))

    def nudge_selected(self, dx: float, dy: float) -> None:
        if self.selected is None or not self.doc.is_open:
            return
        side, lm = self.selected
        p = self.doc.point(side, lm)
        if p is None:
            return
        if not self.canvas.overlays[side].visible["landmarks"]:
            self.status_label.setText("landmarks of this leg are hidden (Overlays tab): show them to nudge")
            return
        if self.canvas.ensure_visible(p.x, p.y):  # never move a point nobody can see: show it first
            self.status_label.setText(f"{LANDMARK_LABELS[lm]} ({side}) was off screen: shown, press again to nudge")
            return
        xy = (p.x + dx, p.y + dy)
        self.undo_stack.push(PointEdit(self.doc, side, lm, lambda: self.doc.move_landmark(side, lm, xy), "Nudge",
                                       mergeable=True))

    def decide_proposals(self, *, accept: bool, every: bool = False) -> bool:
        """Accept or reject the model's proposal for the selected point (``every``: all of them); one undo step."""
        if not self.doc.is_open:
            return False
        keys = sorted(self.doc.proposals) if every else ([self.selected] if self.selected else [])
        keys = [k for k in keys if self.doc.proposal(*k) is not None]
        if not keys:
            self.status_label.setText("no proposal of the model " + ("to decide on" if every else "for this point"))
            return False
        self.undo_stack.push(ProposalDecision(self.doc, keys, accept=accept))
        left = len(self.doc.proposals)
        verb = "accepted" if accept else "rejected"
        self.status_label.setText(f"{len(keys)} proposal(s) {verb}" + (f", {left} left" if left else ""))
        return True

    def restore_version(self, index: int | None = None) -> bool:
        """Put the points back as they were before ``history[index]`` (asks which when not given); undoable."""
        from ..core.history import versions

        if not self.doc.is_open:
            return False
        choices = versions(self.doc.case)
        if index is None:
            if not choices:
                self.status_label.setText("no earlier version: nothing was changed yet")
                return False
            label, ok = QtWidgets.QInputDialog.getItem(self, "Restore an earlier version", "The case as it was:",
                                                       [c[1] for c in choices], 0, False)
            if not ok:
                return False
            index = next(i for i, text in choices if text == label)
        label = next((text for i, text in choices if i == index), f"version before entry {index}")
        cmd = RestoreVersion(self.doc, index, label)
        if not cmd.changes:
            self.status_label.setText("that version has the same points as now")
            return False
        self.undo_stack.push(cmd)
        self.status_label.setText(f"restored the points {label}")
        return True

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

    def reset_selected(self) -> None:
        if self.selected is None or not self.doc.is_open:
            return
        side, lm = self.selected
        self.undo_stack.push(PointEdit(self.doc, side, lm, lambda: self.doc.reset_landmark(side, lm), "Reset"))

    def _on_image_clicked(self, x: float, y: float) -> None:
        if not self.doc.is_open:
            return
        h, w = self.doc.image.pixels.shape[:2]
        if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
            return
        if self.placement.click(x, y):  # a construction tool (head circle, joint line) takes the click
            return
        if self.selected is None:
            return
        side, lm = self.selected
        if self.doc.point(side, lm) is not None:
            return
        self.undo_stack.push(PointEdit(self.doc, side, lm, lambda: self.doc.move_landmark(side, lm, (x, y)), "Place"))
        if self.placement.guided:
            self.placement.placed_one()  # the next missing landmark, zoomed there
        else:
            self.cycle_to_next_missing()

    def _placing(self) -> bool:
        """A click now places a point: a construction tool is active or the selected landmark is missing."""
        if self.placement.tool is not None:
            return True
        return self.selected is not None and self.doc.is_open and self.doc.point(*self.selected) is None

    def place_points(self, points: list[tuple[str, str, tuple[float, float]]], text: str) -> None:
        """Place (or move) several landmarks by hand as one undo step (a joint line's two ends)."""
        if not self.doc.is_open or not points:
            return
        self.undo_stack.beginMacro(text)
        try:
            for side, lm, xy in points:
                xy = (float(xy[0]), float(xy[1]))
                self.undo_stack.push(PointEdit(self.doc, side, lm,
                                               lambda s=side, m=lm, p=xy: self.doc.move_landmark(s, m, p), "Place"))
        finally:
            self.undo_stack.endMacro()

    def cycle_to_next_missing(self) -> None:
        for side, lm in LANDMARK_ORDER:
            if self.doc.point(side, lm) is None:
                self.select_landmark(side, lm)
                return

    def step_case(self, delta: int) -> None:
        path = self.worklist.step(delta)
        if path:
            self.open_path(path)

    def show_shortcuts(self) -> None:
        shortcuts_dialog(self).exec()

    def show_about(self) -> AboutDialog:
        """Version, model bundle and fingerprint, device, licences and the research-use notice (non-modal)."""
        dlg = AboutDialog(self, pool=self.pool)
        dlg.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        return dlg

    # ================================================================== settings / shutdown
    def _add_recent(self, path: str) -> None:
        recent = [p for p in (self.settings.value("recent", []) or []) if p != path]
        self.settings.setValue("recent", [path, *recent][:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.value("recent", []) or []
        if isinstance(recent, str):
            recent = [recent]
        for p in recent:
            self.recent_menu.addAction(p, lambda p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(recent))
        self.start_page.set_recent([str(p) for p in recent])

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.refresh_manifest()
        QtWidgets.QApplication.instance().removeEventFilter(self)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        self.pool.wait(5000)
        super().closeEvent(ev)
