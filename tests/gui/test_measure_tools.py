"""Free ruler and angle tools (issue 18): place by clicks, drag by the end points, list, delete, undo, saved."""

from __future__ import annotations

import math

import pytest
from PySide6 import QtCore, QtTest

from llm_viewer.core.annotations import distance, vertex_angle
from llm_viewer.core.casefile import load_case

from .conftest import SPACING_MM, open_and_wait

SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier


def to_view(win, x, y):
    view = win.canvas
    return view.mapFromScene(view.vb.mapViewToScene(QtCore.QPointF(x, y)))


def click(win, x, y):
    QtTest.QTest.mouseClick(win.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton,
                            QtCore.Qt.KeyboardModifier.NoModifier, to_view(win, x, y))


def mouse_drag(win, a, b, steps=6):
    """A real left-button drag on the canvas from image point ``a`` to ``b``."""
    vp = win.canvas.viewport()
    pa = to_view(win, *a)
    QtTest.QTest.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, pa)
    for i in range(1, steps + 1):
        t = i / steps
        QtTest.QTest.mouseMove(vp, to_view(win, a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
    QtTest.QTest.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier,
                              to_view(win, *b))


@pytest.fixture
def win(qtbot, make_window, case_image):
    w = make_window()
    open_and_wait(qtbot, w, case_image)
    if w.doc.pixel_spacing_mm is None:
        w.doc.set_calibration(SPACING_MM, "manual-entry")
    w.undo_stack.clear()
    w.canvas.vb.setRange(QtCore.QRectF(40, 300, 240, 240), padding=0.0)  # the knees, zoomed in
    return w


def test_ruler_two_clicks_shows_the_length_in_mm_and_is_saved(qtbot, win):
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R)
    assert win.placement.tool == "ruler"
    click(win, 80.0, 350.0)
    click(win, 200.0, 440.0)
    anns = win.measures.annotations()
    assert len(anns) == 1 and anns[0].kind == "ruler"
    (x0, y0), (x1, y1) = anns[0].points_px
    expected = math.hypot((x1 - x0) * SPACING_MM[1], (y1 - y0) * SPACING_MM[0])
    g = win.measures.graphics[anns[0].id]
    assert g.label.toPlainText() == f"{expected:.1f} mm"
    assert g.label.isVisible() and g.line.isVisible()
    assert f"{expected:.1f} mm" in win.banner.text
    # in the list, and in the case file with who and when
    assert win.measures.panel.tree.topLevelItem(0).text(1) == f"{expected:.1f} mm"
    saved = load_case(win.doc.case_path).get("annotations")
    assert saved[0]["kind"] == "ruler" and saved[0]["created_at"] and len(saved[0]["points_px"]) == 2
    assert saved[0]["created_by"] == win.doc.actor
    # one undo step removes it, redo puts it back
    assert win.undo_stack.count() == 1
    win.undo_stack.undo()
    assert win.measures.annotations() == [] and not win.measures.graphics
    assert load_case(win.doc.case_path).get("annotations") is None
    win.undo_stack.redo()
    assert [a.id for a in win.measures.annotations()] == [anns[0].id]


def test_ruler_without_calibration_says_pixels_uncalibrated(qtbot, win):
    win.doc.set_calibration(None, "unknown")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R)
    click(win, 100.0, 400.0)
    click(win, 160.0, 480.0)
    ann = win.measures.annotations()[0]
    (x0, y0), (x1, y1) = ann.points_px
    assert win.measures.graphics[ann.id].label.toPlainText() == f"{math.hypot(x1 - x0, y1 - y0):.0f} px (uncalibrated)"
    # calibrating afterwards turns the same ruler into mm
    win.doc.set_calibration(SPACING_MM, "manual-entry")
    assert win.measures.graphics[ann.id].label.toPlainText().endswith(" mm")


def test_angle_three_clicks_vertex_in_the_middle(qtbot, win):
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_N)
    assert win.placement.tool == "angle"
    for xy in ((200.0, 350.0), (100.0, 450.0), (200.0, 450.0)):
        click(win, *xy)
    ann = win.measures.annotations()[0]
    want = vertex_angle(*ann.points_px, SPACING_MM).value
    assert abs(want - 45.0) < 1.5  # square pixels here: about 45° as clicked
    assert win.measures.graphics[ann.id].label.toPlainText() == f"{want:.1f}°"


def test_angle_between_two_lines_four_clicks(qtbot, win):
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_N, SHIFT)
    assert win.placement.tool == "line_angle"
    for xy in ((60.0, 320.0), (260.0, 320.0), (60.0, 500.0), (260.0, 400.0)):
        click(win, *xy)
    ann = win.measures.annotations()[0]
    assert ann.kind == "line_angle"
    text = win.measures.graphics[ann.id].label.toPlainText()
    assert abs(float(text.rstrip("°")) - math.degrees(math.atan2(100, 200))) < 1.0


def test_dragging_an_end_point_moves_it_live_and_is_one_undo_step(qtbot, win):
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R)
    click(win, 80.0, 350.0)
    click(win, 200.0, 350.0)
    ann = win.measures.annotations()[0]
    g = win.measures.graphics[ann.id]
    start = ann.points_px[1]
    mouse_drag(win, start, (200.0, 470.0))
    moved = win.measures.annotations()[0]
    assert moved.points_px[0] == ann.points_px[0]
    assert abs(moved.points_px[1][0] - 200.0) < 1.5 and abs(moved.points_px[1][1] - 470.0) < 1.5
    assert g.label.toPlainText() == distance(*moved.points_px, SPACING_MM).text
    assert win.undo_stack.count() == 2  # add, move
    saved = load_case(win.doc.case_path).annotations[0]
    assert saved.points_px == moved.points_px
    win.undo_stack.undo()
    assert win.measures.annotations()[0].points_px == ann.points_px
    assert (g.handles[1].pos().x(), g.handles[1].pos().y()) == start
    # the landmarks were not touched by any of this
    assert not any(e["action"] == "moved" for e in load_case(win.doc.case_path).history)


def test_delete_key_in_the_list_and_on_the_canvas_removes_the_selected_one(qtbot, win):
    for xy in (((80.0, 350.0), (200.0, 350.0)), ((80.0, 450.0), (200.0, 500.0))):
        qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R)
        for p in xy:
            click(win, *p)
    a, b = win.measures.annotations()
    tree = win.measures.panel.tree
    assert win.measures.panel.row_ids() == [a.id, b.id]
    tree.setFocus()
    tree.setCurrentItem(tree.topLevelItem(0))
    assert win.measures.selected_id == a.id
    assert win.measures.graphics[a.id].line.opts["pen"].color().name() == "#ffffff"  # highlighted on the image
    qtbot.keyClick(tree, QtCore.Qt.Key.Key_Delete)
    assert [x.id for x in win.measures.annotations()] == [b.id]
    assert a.id not in win.measures.graphics
    # Delete on the canvas removes the one selected there (clicked on its line)
    win.measures.select(b.id)
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Delete)
    assert win.measures.annotations() == []
    win.undo_stack.undo()
    win.undo_stack.undo()
    assert [x.id for x in win.measures.annotations()] == [a.id, b.id]
    hist = [e["action"] for e in load_case(win.doc.case_path).history]
    assert hist.count("annotation_removed") == 2 and hist.count("annotation_added") == 2


def test_measurements_reload_with_the_case_and_do_not_withdraw_an_approval(qtbot, win, make_window, case_image):
    win.approve("Dr. Ruler")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R)
    click(win, 80.0, 350.0)
    click(win, 200.0, 350.0)
    assert win.doc.case.status == "approved"
    from llm_viewer.core.history import stale_approval

    assert stale_approval(load_case(win.doc.case_path)) is None
    ann = win.measures.annotations()[0]
    other = make_window()
    open_and_wait(qtbot, other, case_image)
    assert [a.points_px for a in other.measures.annotations()] == [ann.points_px]
    assert ann.id in other.measures.graphics and other.measures.panel.row_ids() == [ann.id]


def test_while_placing_a_line_follows_the_cursor_and_clicks_on_a_measurement_go_to_the_tool(qtbot, win):
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R)
    click(win, 80.0, 350.0)
    QtTest.QTest.mouseMove(win.canvas.viewport(), to_view(win, 150.0, 420.0))
    rubber = win.placement._rubber
    assert rubber is not None and rubber.isVisible()
    line = rubber.line()
    assert (round(line.x1()), round(line.y1())) == (80, 350)
    assert abs(line.x2() - 150.0) < 1.5 and abs(line.y2() - 420.0) < 1.5
    click(win, 200.0, 350.0)
    assert not rubber.isVisible()
    first = win.measures.annotations()[0]
    win.measures.select(None)
    # a second ruler starting on the first one's end point: the click is the tool's, not a selection
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R)
    click(win, 200.0, 350.0)
    click(win, 200.0, 450.0)
    second = win.measures.annotations()[1]
    assert abs(second.points_px[0][0] - 200.0) < 1.5 and abs(second.points_px[0][1] - 350.0) < 1.5
    # ... nor one on the middle of its line
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R)
    click(win, 140.0, 350.0)
    click(win, 140.0, 480.0)
    assert len(win.measures.annotations()) == 3
    assert abs(win.measures.annotations()[2].points_px[0][0] - 140.0) < 1.5
    # without a tool, a click on a handle selects its measurement
    win.measures.select(None)
    click(win, *first.points_px[0])
    assert win.measures.selected_id == first.id
