"""Issue 18: single-letter and digit shortcuts never fire while typing in a number or text box of the window
(window/level, the calibration's known length, the worklist's search): the keys go to the box.

The shortcuts are window-wide QActions; a focused line edit (a spin box's field included) claims printable
keys, Backspace and Delete through Qt's ShortcutOverride, so the action does not trigger. These tests type
every single-key shortcut into such boxes and check that nothing else happened, and that the same keys do act
on the canvas (so the test would fail if the boxes stopped claiming them)."""

from __future__ import annotations

import pytest
from PySide6 import QtCore

from .conftest import open_and_wait

SHORTCUT_KEYS = "123456fiwadgscjkmrn"  # zoom, fit, invert, window reset, accept/reject, tools, ruler, angle


def state(win):
    pts = {(s, lm): (p.x, p.y) for s in ("right", "left") for lm, p in win.doc.points(s).items()}
    return {"points": pts, "view": win.canvas.vb.viewRect(), "tool": win.placement.tool,
            "guided": win.placement.guided, "inverted": win.act_invert.isChecked(),
            "undo": win.undo_stack.count(), "annotations": len(win.measures.annotations()),
            "window": (win.canvas.center, win.canvas.width)}


@pytest.fixture
def win(qtbot, make_window, case_image):
    w = make_window()
    open_and_wait(qtbot, w, case_image)
    w.select_landmark("right", "knee_center")
    return w


def type_into(qtbot, widget, keys):
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus, timeout=3000)
    for k in keys:
        qtbot.keyClicks(widget, k)
        qtbot.keyClicks(widget, k.upper())  # Shift+letter (Shift+A accepts all, Shift+N two-line angle)
    qtbot.keyClick(widget, QtCore.Qt.Key.Key_Backspace)  # Backspace: reset the selected point elsewhere
    qtbot.keyClick(widget, QtCore.Qt.Key.Key_Delete)  # Delete: delete the selected measurement elsewhere


def test_typing_in_the_window_level_box_fires_no_shortcut(qtbot, win):
    tabs = win.display.parentWidget().parentWidget()
    tabs.setCurrentWidget(win.display)
    box = win.display.center
    box.lineEdit().selectAll()
    before = state(win)
    type_into(qtbot, box.lineEdit(), SHORTCUT_KEYS)
    assert state(win) == before
    assert box.lineEdit().text().startswith("11223344")  # the digits went into the box


def test_typing_in_the_calibration_length_box_fires_no_shortcut(qtbot, win):
    win.start_calibration("ruler")
    box = win._calibration.known
    box.lineEdit().selectAll()
    before = state(win)
    type_into(qtbot, box.lineEdit(), SHORTCUT_KEYS)
    assert state(win) == before
    assert box.lineEdit().text().startswith("112")  # the digits went in (the box stops at 2000 mm)


def test_typing_in_the_worklist_search_fires_no_shortcut(qtbot, win):
    win.worklist_dock.show()
    field = win.worklist.search
    before = state(win)
    type_into(qtbot, field, "crmn4")
    assert state(win) == before
    assert field.text() == "cCrRmMnN4"  # every key went into the field (the last "4" erased by Backspace)


def test_the_same_keys_act_on_the_canvas(qtbot, win):
    before = state(win)
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_3)  # zoom to the right ankle
    assert win.canvas.vb.viewRect() != before["view"]
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R)
    assert win.placement.tool == "ruler"
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_C)
    assert win.placement.tool == "head"
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_I)
    assert win.act_invert.isChecked()
