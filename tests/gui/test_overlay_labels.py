"""Readable overlays (issue 18): at fit zoom fewer labels (the HKA only, no letter codes), at knee zoom no label
covers another label or a marker (the "MAD" label used to cover the medial condyle), a press grabs the selected
leg's nearest landmark first, and the uncertainty ring is drawn only when larger than its marker, thin and
unfilled."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtTest

from llm_viewer.core.landmarks import LANDMARK_ABBREVIATIONS

from .conftest import SPACING_MM, FakeEngine, open_and_wait, small_landmarks

MARKER_HALF = 5.0  # half of the smallest marker drawn (screen pixels)


def open_calibrated(qtbot, win, path):
    open_and_wait(qtbot, win, path)
    if win.doc.pixel_spacing_mm is None:  # a PNG carries no spacing: the synthetic image's, as a calibration
        win.doc.set_calibration(SPACING_MM, "manual-entry")
        win.canvas.set_spacing(SPACING_MM)


def settle(qtbot, win):
    qtbot.wait(30)
    QtCore.QCoreApplication.processEvents()


def visible_texts(win):
    """(text, scene rect) of every label drawn on the canvas."""
    out = []
    for item in win.canvas.scene().items():
        if isinstance(item, pg.TextItem) and item.isVisible() and item.toPlainText().strip():
            if item.parentItem() is not None and not item.parentItem().isVisible():
                continue
            out.append((item.toPlainText(), item.mapRectToScene(item.boundingRect())))
    return out


def marker_points(win):
    pts = []
    for side in ("right", "left"):
        for lm, t in win.canvas.overlays[side].targets.items():
            if t.isVisible():
                p = win.doc.point(side, lm)
                sp = win.canvas.vb.mapViewToScene(QtCore.QPointF(p.x, p.y))
                pts.append((side, lm, sp))
    return pts


def covers(rect, point, pad=MARKER_HALF):
    return rect.adjusted(-pad, -pad, pad, pad).contains(point)


def test_knee_zoom_labels_cover_no_label_and_no_marker(qtbot, make_window, case_image):
    win = make_window()
    open_calibrated(qtbot, win, case_image)
    win.canvas.zoom_to("right", "knee")
    settle(qtbot, win)
    texts = visible_texts(win)
    assert any(t.startswith("MAD") for t, _ in texts) and any(t.startswith("CM") for t, _ in texts)
    for i, (a, ra) in enumerate(texts):
        for b, rb in texts[i + 1:]:
            assert not ra.intersected(rb).isValid() or ra.intersected(rb).isEmpty(), (a, b)
        for side, lm, p in marker_points(win):
            assert not covers(ra, p), f"label {a!r} covers the {side} {lm} marker"


def test_fit_zoom_shows_the_hka_only_and_no_letter_codes(qtbot, make_window, case_image):
    win = make_window()
    open_calibrated(qtbot, win, case_image)
    win.canvas.fit()
    settle(qtbot, win)
    texts = [t for t, _ in visible_texts(win)]
    codes = set(LANDMARK_ABBREVIATIONS.values())
    assert not [t for t in texts if t.split(" ")[0] in codes], texts
    assert sorted(t.split(" ")[0] for t in texts) == ["HKA", "HKA"]
    # the selected point keeps its name, placed clear of every marker
    win.select_landmark("right", "femoral_condyle_medial")
    settle(qtbot, win)
    named = [(t, r) for t, r in visible_texts(win) if t.startswith("CM")]
    assert len(named) == 1
    for side, lm, p in marker_points(win):
        assert not covers(named[0][1], p, pad=3.0), (side, lm)
    # zooming in brings every code back
    win.canvas.zoom_to("right", "knee")
    settle(qtbot, win)
    assert {"K", "CL", "PL", "PM"} <= {t.split(" ")[0] for t, _ in visible_texts(win)}


def press_drag(win, start, end):
    vp = win.canvas.viewport()
    QtTest.QTest.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, 7):
        QtTest.QTest.mouseMove(vp, start + (end - start) * (i / 6.0))
        QtTest.QTest.qWait(5)
    QtTest.QTest.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, end)


def test_a_press_grabs_the_selected_legs_nearest_landmark_first(qtbot, make_window, case_image):
    DX = 1.0  # image pixels: about 8 screen pixels at knee zoom
    lms = small_landmarks()
    kx, ky = lms["right"]["knee_center"]
    lms["left"]["knee_center"] = (kx + DX, ky)  # the other leg's point right beside it (a crowded overview)
    win = make_window(FakeEngine(lms))
    open_calibrated(qtbot, win, case_image)
    win.canvas.zoom_to("right", "knee")
    settle(qtbot, win)
    vb, view = win.canvas.vb, win.canvas
    a = view.mapFromScene(vb.mapViewToScene(QtCore.QPointF(kx, ky)))
    b = view.mapFromScene(vb.mapViewToScene(QtCore.QPointF(kx + DX, ky)))
    assert 4 <= (b - a).x() <= 12
    start = a + (b - a) * 0.7  # nearer the left leg's marker
    win.select_landmark("right", "knee_center")
    press_drag(win, start, start + QtCore.QPoint(0, 25))
    qtbot.wait(20)
    assert win.doc.point("left", "knee_center").as_list() == [kx + DX, ky]
    moved = win.doc.point("right", "knee_center")
    assert moved.y > ky + 1.5 and win.undo_stack.count() == 1
    # with the left leg selected the same press takes the left leg's point
    win.select_landmark("left", "knee_center")
    b2 = view.mapFromScene(vb.mapViewToScene(QtCore.QPointF(kx + DX, ky)))
    press_drag(win, b2 + QtCore.QPoint(-1, 0), b2 + QtCore.QPoint(-1, 25))
    qtbot.wait(20)
    assert win.doc.point("left", "knee_center").y > ky + 1.5
    assert win.doc.point("right", "knee_center") == moved


@pytest.mark.parametrize("unc_px", [0.3, 12.0])
def test_uncertainty_ring_only_when_larger_than_the_marker_thin_and_unfilled(qtbot, make_window, case_image, unc_px):
    win = make_window(FakeEngine(small_landmarks(), uncertainty_px=unc_px))
    open_calibrated(qtbot, win, case_image)
    ov = win.canvas.overlays["right"]
    win.canvas.zoom_to("right", "hip")
    settle(qtbot, win)
    ring = ov.rings["femoral_head"]
    on_screen = 2.0 * unc_px / ov.image_px_per_screen_px()
    if on_screen < ov.targets["femoral_head"].scale / 2.0:
        assert not ring.isVisible(), "a ring smaller than the marker means nothing and hides the structure"
    else:
        assert ring.isVisible()
        assert ring.brush().style() == QtCore.Qt.BrushStyle.NoBrush
        assert ring.pen().widthF() <= 1.5 and ring.pen().isCosmetic()


def test_ring_uses_the_calibrated_radius_when_the_case_has_one(qtbot, make_window, case_image):
    win = make_window(FakeEngine(small_landmarks(), uncertainty_px=0.5))
    open_calibrated(qtbot, win, case_image)
    analysis = dict(win.doc.case.get("analysis") or {})
    analysis["uncertainty"] = {"calibrated": True, "radius90_px": {"right": {"femoral_head": 9.0}}}
    win.doc.case.set("analysis", analysis)
    win.doc._reload_base()  # as after the analysis that wrote it
    assert win.doc.radius90_px("right", "femoral_head") == 9.0
    ov = win.canvas.overlays["right"]
    ov.refresh_all()
    win.canvas.zoom_to("right", "hip")
    settle(qtbot, win)
    ring = ov.rings["femoral_head"]
    assert ring.isVisible() and ring.rect().width() == pytest.approx(18.0)


def test_place_labels_moves_a_colliding_label_with_a_leader_and_drops_an_optional_one():
    from llm_viewer.core.labels import LabelRequest, marker_rect, overlap, place_labels

    marker = marker_rect(100, 100, 7)
    reqs = [LabelRequest("a", (100, 100), (100, 100), (60, 16), 0, optional=False),  # wants to sit on the marker
            LabelRequest("b", (100, 100), (100, 100), (60, 16), 1, optional=False)]
    out = place_labels(reqs, [marker])
    a, b = out["a"], out["b"]
    assert a.visible and b.visible and not overlap(a.rect, b.rect) and not overlap(a.rect, marker)
    assert a.leader is not None and a.leader[:2] == (100, 100)
    crowded = [marker_rect(x, y, 7) for x in range(0, 400, 10) for y in range(0, 400, 10)]
    dropped = place_labels([LabelRequest("c", (200, 200), (200, 200), (60, 16), 0)], crowded)
    assert not dropped["c"].visible
