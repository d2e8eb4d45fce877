"""The review window end to end (offscreen): analysis, drawing, live drag, undo, autosave, keys, errors."""

from __future__ import annotations

import json

import pytest
from PySide6 import QtCore

from llm_viewer.core.casefile import load_case
from llm_viewer.core.metrics import compute_leg_metrics

from .conftest import FakeEngine, open_and_wait, small_landmarks


def drag(win, side, lm, x, y, finish=True):
    """Simulate a mouse drag of a landmark through TargetItem's own signal path."""
    target = win.canvas.overlays[side].targets[lm]
    target.moving = True  # as TargetItem.mouseDragEvent does between start and finish
    target.setPos(x, y)  # emits sigPositionChanged, exactly what a drag step does
    if finish:
        target.moving = False
        target.sigPositionChangeFinished.emit(target)


def core_hka(win, side):
    pts = win.doc.points(side)
    return compute_leg_metrics(pts, side, win.doc.pixel_spacing_mm).hka_deg


def test_analysis_draws_all_18_landmarks(qtbot, make_window, case_image):
    engine = FakeEngine(small_landmarks())
    win = make_window(engine)
    open_and_wait(qtbot, win, case_image)
    assert engine.calls == 1
    drawn = sum(len(ov.drawn_landmarks()) for ov in win.canvas.overlays.values())
    assert drawn == 18
    assert win.doc.case.status == "predicted"
    for side in ("right", "left"):
        win.canvas.fit()
        assert win.panel.value(side, "hka_deg") == pytest.approx(core_hka(win, side), abs=0)
        assert win.canvas.overlays[side].lines["mechanical"].isVisible()
        assert win.canvas.overlays[side].angle_labels["hka_deg"].isVisible()
        ring = win.canvas.overlays[side].rings["knee_center"]
        assert not ring.isVisible()  # at fit zoom the ring is smaller than the marker: not drawn
        win.canvas.zoom_to(side, "knee")
        assert ring.isVisible() and ring.rect().width() == pytest.approx(4 * engine.uncertainty_px)
    # the prediction is autosaved with the model's id
    saved = load_case(win.doc.case_path)
    assert saved.provenance("right", "knee_center")["model_id"] == "fake-model-1"


def test_points_the_model_flags_are_shown_as_doubtful(qtbot, make_window, case_image):
    engine = FakeEngine(small_landmarks(), uncertainty_px=0.5, flagged={("left", "malleolus_medial")})
    win = make_window(engine)
    open_and_wait(qtbot, win, case_image)
    rings = win.canvas.overlays["left"].rings
    doubtful, calm = rings["malleolus_medial"], rings["malleolus_lateral"]
    # a 0.5 px uncertainty means nothing at fit zoom: no ring; the model's flag is a red dashed halo
    assert doubtful.isVisible() and not calm.isVisible()
    assert doubtful.pen().color().name() == "#ff4040" and doubtful.pen().style() == QtCore.Qt.PenStyle.DashLine
    assert doubtful.brush().style() == QtCore.Qt.BrushStyle.NoBrush
    assert load_case(win.doc.case_path).provenance("left", "malleolus_medial")["flagged"] is True
    # once corrected by hand the point is no longer the model's doubt
    drag(win, "left", "malleolus_medial", *(c + 2 for c in win.doc.point("left", "malleolus_medial").as_list()))
    assert not rings["malleolus_medial"].isVisible()


def test_drag_updates_panel_to_core_value_and_undo_restores(qtbot, make_window, case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    before = win.panel.value("right", "hka_deg")
    k = win.doc.point("right", "knee_center")
    # live preview while dragging: the panel equals core for the new point, the case is not yet changed
    drag(win, "right", "knee_center", k.x + 12.0, k.y + 3.0, finish=False)
    qtbot.waitUntil(lambda: not win.panel.refresh_pending, timeout=2000)  # the table follows a drag live
    live = win.panel.value("right", "hka_deg")
    assert live != before
    assert live == core_hka(win, "right")
    assert win.panel.text("right", "hka_deg") == f"{live:.1f}"
    assert win.doc.case.landmark("right", "knee_center") == k
    # finishing the drag: one undo step, the point is manual, keeps its prediction, autosaved
    win.canvas.overlays["right"].targets["knee_center"].moving = False
    win.canvas.overlays["right"].targets["knee_center"].sigPositionChangeFinished.emit(
        win.canvas.overlays["right"].targets["knee_center"])
    assert win.undo_stack.count() == 1
    prov = win.doc.case.provenance("right", "knee_center")
    assert prov["source"] == "manual" and prov["original"] == [k.x, k.y]
    on_disk = json.loads(win.doc.case_path.read_text())
    assert on_disk["legs"]["right"]["landmarks"]["knee_center"] == [k.x + 12.0, k.y + 3.0]
    assert on_disk["review"]["status"] == "corrected"
    # undo restores the number, the point, its provenance and the file
    win.undo_stack.undo()
    assert win.panel.value("right", "hka_deg") == before
    assert win.doc.point("right", "knee_center") == k
    assert win.doc.case.provenance("right", "knee_center")["source"] == "model"
    on_disk = json.loads(win.doc.case_path.read_text())
    assert on_disk["legs"]["right"]["landmarks"]["knee_center"] == [k.x, k.y]
    assert on_disk["history"][-1]["action"] == "undo"
    # redo (Ctrl+Shift+Z) brings it back
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Z,
                   QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert win.doc.point("right", "knee_center").x == k.x + 12.0
    assert win.panel.value("right", "hka_deg") == live


def test_a_point_dragged_onto_the_other_leg_is_called_implausible_live(qtbot, make_window, case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    assert "Check:" not in win.panel.errors.text()
    target = win.doc.point("right", "malleolus_medial")  # the left medial malleolus lands on the right one
    drag(win, "left", "malleolus_medial", target.x, target.y, finish=False)
    qtbot.waitUntil(lambda: not win.panel.refresh_pending, timeout=2000)  # the table follows a drag live
    assert "Check: left leg: the malleolar line" in win.panel.errors.text()
    assert win.panel.errors.isVisible() and win.panel.value("left", "hka_deg") is not None  # still measured
    drag(win, "left", "malleolus_medial", *win.doc.case.landmark("left", "malleolus_medial").as_list(), finish=False)
    qtbot.waitUntil(lambda: not win.panel.refresh_pending, timeout=2000)
    assert "Check:" not in win.panel.errors.text()


def test_every_change_survives_a_restart(qtbot, make_window, case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    h = win.doc.point("left", "femoral_head")
    drag(win, "left", "femoral_head", h.x - 5.0, h.y + 2.0)
    case_path = win.doc.case_path
    # "crash": a new window on the same image finds the case file with the correction
    win2 = make_window(FakeEngine(small_landmarks()))
    open_and_wait(qtbot, win2, case_image)
    assert win2.doc.case_path == case_path
    assert win2.doc.point("left", "femoral_head").x == h.x - 5.0
    assert win2.doc.is_manual("left", "femoral_head")
    # the model did not run again over the corrected case
    assert win2.engines.loaded is False


def test_keyboard_nudge_tab_and_reset(qtbot, make_window, case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    win.select_landmark("right", "femoral_head")
    win.canvas.setFocus()
    p0 = win.doc.point("right", "femoral_head")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Right)
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Down, QtCore.Qt.KeyboardModifier.ShiftModifier)
    p1 = win.doc.point("right", "femoral_head")
    assert (p1.x, p1.y) == (p0.x + 1.0, p0.y + 10.0)
    assert win.undo_stack.count() == 1  # consecutive nudges of one point are one undo step
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Tab)
    assert win.selected == ("right", "diaphysis_center")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Backtab, QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert win.selected == ("right", "femoral_head")
    win.reset_selected()
    assert win.doc.point("right", "femoral_head") == p0
    assert not win.doc.is_manual("right", "femoral_head")


def test_missing_landmark_is_reported_then_placed_by_click(qtbot, make_window, case_image):
    lms = small_landmarks()
    missing = lms["left"].pop("malleolus_medial")
    win = make_window(FakeEngine(lms))
    open_and_wait(qtbot, win, case_image)
    assert win.panel.value("left", "hka_deg") is None
    assert "malleolus medial" in win.panel.errors.text()
    assert win.panel.value("right", "hka_deg") is not None  # the other leg is still measured
    assert len(win.canvas.overlays["left"].drawn_landmarks()) == 8
    win.select_landmark("left", "malleolus_medial")
    win.canvas.vb.sigImageClicked.emit(*missing)  # what a left click on the image emits
    assert win.doc.point("left", "malleolus_medial") is not None
    assert win.doc.is_manual("left", "malleolus_medial")
    assert win.panel.value("left", "hka_deg") == core_hka(win, "left")
    assert len(win.canvas.overlays["left"].drawn_landmarks()) == 9


def test_uncalibrated_image_hides_mm_values(qtbot, make_window, case_image, image_loader):
    from .conftest import fallback_loader

    win = make_window(loader=fallback_loader(spacing=None) if image_loader is not None else None)
    open_and_wait(qtbot, win, case_image)
    if win.doc.pixel_spacing_mm is not None:
        win.doc.set_calibration(None, "unknown")
    assert win.panel.warning.isVisible() and "Uncalibrated" in win.panel.warning.text()
    assert win.panel.text("right", "mad_mm") == "hidden"
    assert win.panel.value("right", "leg_length_mm") is None
    assert win.panel.value("right", "hka_deg") is not None
    # a ruler calibration brings the mm values back and is saved in the case
    from llm_viewer.gui.calibration import spacing_from_line

    spacing = spacing_from_line(0, 0, 0, 100, 128.7)
    win.doc.set_calibration(spacing, "manual-ruler", {"known_mm": 128.7})
    assert not win.panel.warning.isVisible()
    assert win.panel.value("right", "mad_mm") is not None
    saved = load_case(win.doc.case_path)
    assert saved.spacing_source == "manual-ruler" and saved.pixel_spacing_mm == pytest.approx((1.287, 1.287))


@pytest.mark.parametrize("content", [b"\x00\x01garbage" * 50, b""])
def test_corrupt_files_show_an_error_and_the_app_lives_on(qtbot, make_window, case_image, tmp_path, content):
    win = make_window()
    bad_image = tmp_path / "broken.png"
    bad_image.write_bytes(content)
    bad_case = tmp_path / "broken.case.json"
    bad_case.write_text('{"format": "llm-viewer-case", "legs": {"right": {"landmarks": {"knee_center": [1]}}}}')
    for bad in (bad_image, bad_case):
        with qtbot.waitSignal(win.loadFailed, timeout=10000):
            win.open_path(bad)
        assert win.banner.isVisible() and win.banner.level == "error"
        assert bad.name in win.banner.text
        assert win.isVisible()
    open_and_wait(qtbot, win, case_image)  # and it still opens a good file
    assert sum(len(ov.drawn_landmarks()) for ov in win.canvas.overlays.values()) == 18


def test_analysis_failure_and_missing_model_are_messages(qtbot, make_window, case_image):
    win = make_window(FakeEngine(small_landmarks(), fail=RuntimeError("GPU on fire")))
    open_and_wait(qtbot, win, case_image)
    assert "GPU on fire" in win.banner.text and win.isVisible()

    def no_bundle():
        raise FileNotFoundError("resources/models/demo")

    win2 = make_window(engine_factory=no_bundle)
    open_and_wait(qtbot, win2, case_image, analyze=True)
    assert "no model bundle" in win2.banner.text and "showing stored landmarks" in win2.banner.text


def test_analysis_can_be_cancelled_and_window_stays_responsive(qtbot, make_window, case_image):
    engine = FakeEngine(small_landmarks(), block=True)
    win = make_window(engine)
    with qtbot.waitSignal(win.analysis_started if hasattr(win, "analysis_started") else win.doc.loaded,
                          timeout=10000):
        win.open_path(case_image)
    qtbot.waitUntil(lambda: win.analysis_worker is not None, timeout=5000)
    assert win.cancel_button.isVisible()
    win.canvas.fit()  # the GUI thread is free while the model runs
    with qtbot.waitSignal(win.ready, timeout=10000):
        win.cancel_running()
    assert "cancelled" in win.banner.text
    assert win.doc.case.landmarks("right") == {}


def test_model_is_loaded_once_per_session(qtbot, make_window, case_image):
    made = []
    engine = FakeEngine(small_landmarks())

    def factory():
        made.append(1)
        return engine

    win = make_window(engine_factory=factory)
    open_and_wait(qtbot, win, case_image)
    with qtbot.waitSignal(win.ready, timeout=10000):
        win.start_analysis()
    assert engine.calls == 2 and len(made) == 1
