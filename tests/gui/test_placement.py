"""Placing by hand (issue 18): guided placement asks for each missing landmark in turn with the view zoomed
there; three clicks on the femoral head's rim give its centre; two clicks give both ends of a joint line."""

from __future__ import annotations

import math

import pytest
from PySide6 import QtCore, QtTest

from llm_viewer.core.construct import circle_through, lateral_medial
from llm_viewer.core.landmarks import LANDMARK_REGION

from .conftest import FakeEngine, open_and_wait, small_landmarks


def click(win, x, y):
    view = win.canvas
    p = view.mapFromScene(view.vb.mapViewToScene(QtCore.QPointF(x, y)))
    QtTest.QTest.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, p)


@pytest.fixture
def empty_case(qtbot, make_window, case_image):
    win = make_window(FakeEngine({"right": {}, "left": {}}))  # the model finds nothing
    open_and_wait(qtbot, win, case_image)
    assert not any(win.doc.points(s) for s in ("right", "left"))
    return win


def test_guided_placement_asks_for_each_missing_landmark_zoomed_there(qtbot, empty_case):
    win, truth = empty_case, small_landmarks()
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_G)
    asked = []
    for _ in range(18):
        side, lm = win.selected
        asked.append((side, lm))
        x, y = truth[side][lm]
        vr = win.canvas.vb.viewRect()
        assert vr.contains(QtCore.QPointF(x, y)), f"{side} {lm} is not in view"
        assert vr.height() < 0.5 * win.doc.image.pixels.shape[0], "the view is zoomed to the landmark's region"
        assert LANDMARK_REGION[lm] in ("hip", "diaphysis", "knee", "ankle")
        assert lm.split("_")[0] in win.banner.text.replace(" ", "_").lower() or "of the" in win.banner.text
        click(win, x, y)
    assert len(set(asked)) == 18
    for side in ("right", "left"):
        for lm, (x, y) in truth[side].items():
            p = win.doc.point(side, lm)
            assert abs(p.x - x) < 1.0 and abs(p.y - y) < 1.0, (side, lm)
    assert "every landmark is placed" in win.banner.text
    assert win.undo_stack.count() == 18 and not win.placement.guided


def test_guided_placement_skips_and_stops(qtbot, empty_case):
    win = empty_case
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_G)
    first = win.selected
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_S)
    assert win.selected != first
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Escape)
    assert not win.placement.guided and "stopped" in win.banner.text


def test_femoral_head_from_three_rim_clicks(qtbot, empty_case):
    win = empty_case
    hx, hy = small_landmarks()["right"]["femoral_head"]
    win.canvas.zoom_to("right", "hip")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_C)
    r = 9.0
    for a in (200.0, 300.0, 60.0):
        click(win, hx + r * math.cos(math.radians(a)), hy + r * math.sin(math.radians(a)))
    p = win.doc.point("right", "femoral_head")
    assert p is not None and math.hypot(p.x - hx, p.y - hy) < 0.5
    assert win.doc.is_manual("right", "femoral_head") and win.undo_stack.count() == 1
    assert "centre of the circle" in win.banner.text


def test_joint_line_from_two_clicks_gives_both_ends(qtbot, empty_case):
    win, truth = empty_case, small_landmarks()
    lat, med = truth["left"]["tibial_plateau_lateral"], truth["left"]["tibial_plateau_medial"]
    win.canvas.zoom_to("left", "knee")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_K)
    click(win, *med)  # medial first: the tool knows which end is which
    click(win, *lat)
    pl, pm = win.doc.point("left", "tibial_plateau_lateral"), win.doc.point("left", "tibial_plateau_medial")
    assert math.dist((pl.x, pl.y), lat) < 1.0 and math.dist((pm.x, pm.y), med) < 1.0
    assert win.undo_stack.count() == 1  # one step for both ends
    win.undo_stack.undo()
    assert win.doc.point("left", "tibial_plateau_lateral") is None and win.doc.point("left", "tibial_plateau_medial") is None


def test_constructions():
    cx, cy, r = circle_through((10.0, 0.0), (0.0, 10.0), (-10.0, 0.0))
    assert (round(cx, 9), round(cy, 9), round(r, 9)) == (0.0, 0.0, 10.0)
    with pytest.raises(ValueError, match="one line"):
        circle_through((0, 0), (1, 1), (2, 2))
    assert lateral_medial((50.0, 0.0), (10.0, 0.0), "right") == ((10.0, 0.0), (50.0, 0.0))
    assert lateral_medial((50.0, 0.0), (10.0, 0.0), "left") == ((50.0, 0.0), (10.0, 0.0))


def test_a_magnifier_follows_the_cursor_while_placing(qtbot, empty_case):
    win = empty_case
    canvas = win.canvas
    vp = canvas.viewport()
    centre = QtCore.QPoint(vp.width() // 2, vp.height() // 2)
    QtTest.QTest.mouseMove(vp, centre)
    qtbot.wait(10)
    win.select_landmark("right", "knee_center")  # missing: a click places it
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_G)
    QtTest.QTest.mouseMove(vp, centre + QtCore.QPoint(5, 5))
    qtbot.wait(10)
    assert canvas.magnifier.isVisible() and canvas.magnifier.pixmap().width() == 160
    assert not canvas.magnifier.geometry().contains(centre + QtCore.QPoint(5, 5))  # beside the cursor, not under it
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Escape)
    for lm in list(small_landmarks()["right"]):
        win.doc.move_landmark("right", lm, small_landmarks()["right"][lm])
    win.select_landmark("right", "knee_center")  # placed now: no magnifier
    QtTest.QTest.mouseMove(vp, centre + QtCore.QPoint(9, 9))
    qtbot.wait(10)
    assert not canvas.magnifier.isVisible()


def _drag(win, a, b, steps=8, tool=True):
    vp = win.canvas.viewport()

    def at(x, y):
        return win.canvas.mapFromScene(win.canvas.vb.mapViewToScene(QtCore.QPointF(x, y)))

    QtTest.QTest.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, at(*a))
    for i in range(1, steps + 1):
        t = i / steps
        QtTest.QTest.mouseMove(vp, at(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
        QtTest.QTest.qWait(30)  # pyqtgraph drops mouse moves closer together than its rate limit
        if tool and i == steps // 2:  # the circle is shown while dragging
            rim = win.placement._rim
            assert rim is not None and rim.circle is not None and rim.circle[2] > 0
    QtTest.QTest.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, at(*b))


def test_femoral_head_from_a_drag_across_it_rim_to_rim(qtbot, empty_case):
    win = empty_case
    hx, hy = small_landmarks()["left"]["femoral_head"]
    win.select_landmark("left", "femoral_head")
    win.canvas.zoom_to("left", "hip")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_C)
    view0 = win.canvas.vb.viewRect()  # (after the banner's prompt appeared above the canvas)
    r = 9.0
    a = (hx - r * math.cos(math.radians(30)), hy - r * math.sin(math.radians(30)))
    b = (2 * hx - a[0], 2 * hy - a[1])  # the opposite point of the rim
    _drag(win, a, b)
    p = win.doc.point("left", "femoral_head")
    assert p is not None and math.hypot(p.x - hx, p.y - hy) < 0.6
    assert win.doc.is_manual("left", "femoral_head")
    assert win.undo_stack.count() == 1 and win.placement.tool is None and win.placement._rim is None
    assert "sized by a drag" in win.banner.text and "radius 9 px" in win.banner.text
    assert win.canvas.vb.viewRect() == view0  # the drag sized the circle; it did not pan the image
    win.undo_stack.undo()
    assert win.doc.point("left", "femoral_head") is None
    # without the tool, the same drag pans as always
    _drag(win, a, b, tool=False)
    assert win.canvas.vb.viewRect() != view0 and win.doc.point("left", "femoral_head") is None


def test_three_clicks_still_work_while_the_drag_is_offered(qtbot, empty_case):
    win = empty_case
    hx, hy = small_landmarks()["right"]["femoral_head"]
    win.canvas.zoom_to("right", "hip")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_C)
    assert win.placement._rim is not None
    for ang in (10.0, 130.0, 250.0):
        click(win, hx + 8.0 * math.cos(math.radians(ang)), hy + 8.0 * math.sin(math.radians(ang)))
    p = win.doc.point("right", "femoral_head")
    assert math.hypot(p.x - hx, p.y - hy) < 0.5 and win.placement._rim is None
