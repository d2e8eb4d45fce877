"""The main window's menu bar and toolbar: every menu entry, its shortcut and the slot it calls.

Feature modules add their own entries through :func:`add_action` (``MainWindow._action``), e.g.
:func:`llm_viewer.gui.pacs.add_pacs_file_actions` or :func:`llm_viewer.gui.measure_tools.add_measure_actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.landmarks import SIDES
from .about import AboutDialog
from .canvas import ZOOM_REGIONS
from .measure_tools import add_measure_actions
from .pacs import add_pacs_case_actions, add_pacs_file_actions
from .widgets import shortcuts_dialog

if TYPE_CHECKING:
    from .mainwindow import MainWindow


def add_action(win: QtWidgets.QMainWindow, menu: QtWidgets.QMenu, text: str, slot: Callable, shortcut: Any = None,
               checkable: bool = False) -> QtGui.QAction:
    """A menu entry that is also a window action (its shortcut works wherever the focus is in the window)."""
    act = QtGui.QAction(text, win)
    if shortcut is not None:
        act.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
    act.setCheckable(checkable)
    act.triggered.connect(slot)
    menu.addAction(act)
    win.addAction(act)
    return act


def build_menus(win: MainWindow) -> None:
    """File, Edit, View, Analysis, Tools, Case and Help menus and the main toolbar of ``win``.

    Sets ``win.recent_menu`` and the actions other code reads (``act_export``, ``act_invert``, ``act_analyze``,
    ``act_accept``, ``act_accept_all``, ``act_reject``, ``act_reject_all``, ``act_switch_back``).
    """
    mb = win.menuBar()
    m = mb.addMenu("&File")
    win._action(m, "Open image or case…", win.opener.ask_open, QtGui.QKeySequence.StandardKey.Open)
    win._action(m, "Open folder (worklist)…", win.opener.ask_open_folder, QtGui.QKeySequence("Ctrl+Shift+O"))
    add_pacs_file_actions(win, m)  # Open from PACS…, PACS settings…
    win.recent_menu = m.addMenu("Recent")
    m.addSeparator()
    win.act_export = win._action(m, "Export to training set…", lambda: win.export_to_store(),
                                 QtGui.QKeySequence("Ctrl+E"))
    m.addSeparator()
    win._action(m, "Quit", win.close, QtGui.QKeySequence.StandardKey.Quit)
    m = mb.addMenu("&Edit")
    undo = win.undo_stack.createUndoAction(win, "Undo")
    undo.setShortcuts([QtGui.QKeySequence("Ctrl+Z")])
    redo = win.undo_stack.createRedoAction(win, "Redo")
    redo.setShortcuts([QtGui.QKeySequence("Ctrl+Shift+Z"), QtGui.QKeySequence("Ctrl+Y")])
    for a in (undo, redo):
        m.addAction(a)
        win.addAction(a)
    m.addSeparator()
    win._action(m, "Reset selected point to prediction", win.reset_selected, QtGui.QKeySequence("Backspace"))
    win._action(m, "Next landmark", lambda: win.cycle_landmark(1))
    m.addSeparator()
    win._action(m, "Restore an earlier version…", lambda: win.restore_version())
    m = mb.addMenu("&View")
    win._action(m, "Fit to window", win.canvas.fit, QtGui.QKeySequence("F"))
    keys = iter("123456")
    for side in SIDES:
        for region in ZOOM_REGIONS:
            win._action(m, f"Zoom to {side} {region}", lambda _c=False, s=side, r=region: win.canvas.zoom_to(s, r),
                        QtGui.QKeySequence(next(keys)))
    m.addSeparator()
    win.act_invert = win._action(m, "Invert", lambda on: win.set_inverted(on), QtGui.QKeySequence("I"),
                                 checkable=True)
    win._action(m, "Reset window/level", win.canvas.reset_window, QtGui.QKeySequence("W"))
    m.addAction(win.side_dock.toggleViewAction())
    m.addAction(win.worklist_dock.toggleViewAction())
    m = mb.addMenu("&Analysis")
    win.act_analyze = win._action(m, "Run model", lambda: win.start_analysis(), QtGui.QKeySequence("Ctrl+R"))
    win._action(m, "Cancel", win.cancel_running, QtGui.QKeySequence("Esc"))
    m.addSeparator()
    win.act_accept = win._action(m, "Accept the model's proposal for the selected point",
                                 lambda: win.decide_proposals(accept=True), QtGui.QKeySequence("A"))
    win.act_accept_all = win._action(m, "Accept all of the model's proposals",
                                     lambda: win.decide_proposals(accept=True, every=True),
                                     QtGui.QKeySequence("Shift+A"))
    win.act_reject = win._action(m, "Reject the model's proposal for the selected point",
                                 lambda: win.decide_proposals(accept=False), QtGui.QKeySequence("D"))
    win.act_reject_all = win._action(m, "Reject all of the model's proposals",
                                     lambda: win.decide_proposals(accept=False, every=True),
                                     QtGui.QKeySequence("Shift+D"))
    m = mb.addMenu("&Tools")
    win._action(m, "Calibrate with a ruler (line of known length)…", lambda: win.start_calibration("ruler"))
    win._action(m, "Calibrate with a ball (known diameter)…", lambda: win.start_calibration("ball"))
    win._action(m, "Use the image's DICOM spacing", win.use_dicom_spacing)
    m.addSeparator()
    win._action(m, "Place missing landmarks, one after the other (guided)",
                lambda: win.placement.start_guided() if win.doc.is_open else None, QtGui.QKeySequence("G"))
    win._action(m, "Skip this landmark (guided placement)", lambda: win.placement.skip(),
                QtGui.QKeySequence("S"))
    for text, tool, key in (("Femoral head: three clicks on its rim", "head", "C"),
                            ("Femoral joint line: two clicks (condyles)", "femoral", "J"),
                            ("Tibial plateau line: two clicks", "tibial", "K"),
                            ("Malleolar line: two clicks", "malleolar", "M")):
        win._action(m, text, lambda _c=False, t=tool: win.placement.start_tool(t) if win.doc.is_open else None,
                    QtGui.QKeySequence(key))
    add_measure_actions(win, m)
    from .planning import add_planning_action  # Tools > Plan osteotomy… (gui/planning.py)
    add_planning_action(win, m)
    m.addSeparator()
    win._action(m, "Adapt the model to these cases…", lambda: win.adapter.start())
    win.act_switch_back = win._action(m, "Switch back to the previous model", lambda: win.adapter.switch_back())
    win.act_switch_back.setEnabled(False)
    m = mb.addMenu("&Case")
    win._action(m, "Approve…", lambda: win.approve(), QtGui.QKeySequence("Ctrl+Return"))
    win._action(m, "Export report (PDF)…", lambda: win.export_report(), QtGui.QKeySequence("Ctrl+P"))
    add_pacs_case_actions(win, m)  # Send to PACS
    win._action(m, "Next case", lambda: win.step_case(1), QtGui.QKeySequence("PgDown"))
    win._action(m, "Previous case", lambda: win.step_case(-1), QtGui.QKeySequence("PgUp"))
    m = mb.addMenu("&Help")
    win._action(m, "Keyboard shortcuts", win.show_shortcuts, QtGui.QKeySequence("F1"))
    win._action(m, "About llm-viewer…", win.show_about)
    tb = win.addToolBar("Main")
    tb.setObjectName("main-toolbar")
    for a in (win.act_analyze, undo, redo, win.act_export):
        tb.addAction(a)
    win.opener.refresh_recent()


def show_shortcuts(win: QtWidgets.QWidget) -> None:
    """Help > Keyboard shortcuts (modal)."""
    shortcuts_dialog(win).exec()


def show_about(win: MainWindow) -> AboutDialog:
    """Help > About: version, model bundle and fingerprint, device, licences, research-use notice (non-modal)."""
    adapter = getattr(win, "adapter", None)  # the model in use: an adapted one after Tools > Adapt
    dlg = AboutDialog(win, pool=win.pool, bundle_path=getattr(adapter, "current_path", None))
    dlg.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    return dlg
