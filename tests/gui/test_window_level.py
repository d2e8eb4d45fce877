"""Window/level (issue 18): a right-drag's sensitivity follows the image's value range, the preset box follows
the window ("Custom" after a change), W resets it, and presets come from the image's histogram."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtTest

from llm_viewer.gui.state import CUSTOM_WINDOW, display_presets, dragged_window, otsu_threshold

from .conftest import open_and_wait


def right_drag(win, dx: int, dy: int, steps: int = 20) -> None:
    vp = win.canvas.viewport()
    start = QtCore.QPoint(vp.width() // 2, vp.height() // 2)
    end = start + QtCore.QPoint(dx, dy)
    QtTest.QTest.mousePress(vp, QtCore.Qt.MouseButton.RightButton, QtCore.Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, steps + 1):
        QtTest.QTest.mouseMove(vp, start + (end - start) * (i / steps))
    QtTest.QTest.mouseRelease(vp, QtCore.Qt.MouseButton.RightButton, QtCore.Qt.KeyboardModifier.NoModifier, end)


def test_a_200_by_100_px_right_drag_changes_the_window_in_proportion_to_the_range(qtbot, make_window, case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    canvas = win.canvas
    px = win.doc.image.pixels
    span = float(px.max() - px.min())
    c0, w0 = canvas.center, canvas.width
    assert win.display.presets.currentIndex() == 0  # the image's default
    right_drag(win, -200, 100)
    qtbot.wait(20)
    # linear in the value range: 200 px narrow the window by 20 % of the range (the old code: by 87 %)
    assert abs((w0 - canvas.width) - 0.2 * span) < 0.03 * span, (w0, canvas.width, span)
    assert abs((c0 - canvas.center) - 0.1 * span) < 0.03 * span
    lo, hi = canvas.center - canvas.width / 2, canvas.center + canvas.width / 2
    inside = float(np.mean((px > lo) & (px < hi)))
    assert inside > 0.5, "the image must not black out"
    # the preset box follows the state
    assert win.display.presets.currentText() == CUSTOM_WINDOW
    assert abs(win.display.width.value() - canvas.width) < 1e-2
    # W resets to the default window, and the box says so again
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_W)
    assert (canvas.center, canvas.width) == (c0, w0)
    assert win.display.presets.currentIndex() == 0
    # choosing a preset selects it; an edit of the width makes it custom
    win.display.presets.activated.emit(2)
    assert win.display.presets.currentIndex() == 2
    assert canvas.width == win.doc.presets[2].width
    win.display.width.setValue(round(canvas.width * 0.5))
    assert win.display.presets.currentText() == CUSTOM_WINDOW


def test_drag_is_clamped_and_never_collapses_the_window():
    c, w = 30000.0, 43036.0
    for _ in range(100):  # a long, fast drag to the left and down
        c, w = dragged_window(c, w, -200.0, 200.0, (0.0, 60000.0))
    assert w >= 60000.0 / 500.0 and c >= -30000.0
    c, w = dragged_window(c, w, 1e6, -1e6, (0.0, 60000.0))
    assert w <= 120000.0 and c <= 90000.0


def test_presets_come_from_the_histogram():
    rng = np.random.default_rng(0)
    img = np.zeros((400, 300), np.float32)  # air / collimation at the minimum
    img[:, 60:240] = rng.normal(12000, 800, (400, 180))  # soft tissue
    img[:, 110:190] = rng.normal(30000, 1500, (400, 80))  # bone
    img[:20] = 65535.0  # a burnt-out strip at the maximum
    presets = {p.name: p for p in display_presets(img, 20000.0, 40000.0)}
    t = otsu_threshold(img[(img > 1) & (img < 65000)])
    assert 15000 < t < 27000
    auto, bone, soft = presets["Auto (histogram)"], presets["Bone (histogram)"], presets["Soft tissue (histogram)"]
    assert auto.levels[0] > 8000 and auto.levels[1] < 36000  # the air and burnt-out peaks are left out
    assert 15000 < bone.levels[0] < 27000 and 30000 < bone.levels[1] < 36000
    assert soft.levels[0] > 8000 and soft.levels[1] < bone.levels[1]


def test_pixel_centres_are_where_landmarks_are_drawn(qtbot, make_window, case_image):
    """The spec puts pixel (0, 0)'s centre at [0, 0]: the image item spans [-0.5, w - 0.5] in view coordinates,
    so a landmark at [x, y] is drawn on the centre of pixel (x, y) (it was half a pixel up and left)."""
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    item = win.canvas.image_item
    h, w = win.doc.image.pixels.shape[:2]
    rect = item.mapRectToView(item.boundingRect())
    assert (rect.left(), rect.top()) == (-0.5, -0.5)
    assert (rect.right(), rect.bottom()) == (w - 0.5, h - 0.5)
    centre = item.mapToView(QtCore.QPointF(10.5, 20.5))  # the middle of pixel column 10, row 20
    assert (centre.x(), centre.y()) == (10.0, 20.0)
