"""The measurement panel with landmarks missing: the reason from core stands where the number would be."""

from __future__ import annotations

import pytest

from llm_viewer.core.metrics import METRIC_KEYS, compute_leg_metrics, compute_study_metrics
from llm_viewer.gui.panel import format_value

from .conftest import FakeEngine, fallback_loader, open_and_wait, small_landmarks


def _core(win, side):
    return compute_leg_metrics(win.doc.points(side), side, win.doc.pixel_spacing_mm)


def test_panel_shows_core_reason_instead_of_a_number(qtbot, make_window, case_image):
    lms = small_landmarks()
    del lms["right"]["diaphysis_center"]  # diaphysis box not found
    head = lms["left"].pop("femoral_head")  # pelvis cut off above the left hip
    win = make_window(FakeEngine(lms), loader=fallback_loader())  # a loader that gives a pixel spacing
    open_and_wait(qtbot, win, case_image)
    assert win.doc.pixel_spacing_mm is not None  # calibrated: mm cells are not merely hidden

    right, left = _core(win, "right"), _core(win, "left")
    for side, core in (("right", right), ("left", left)):
        for key in METRIC_KEYS:
            want = core.as_dict()[key]
            if want is None:
                assert win.panel.value(side, key) is None, (side, key)
                assert win.panel.text(side, key) == core.reason(key), (side, key)
                assert win.panel.text(side, key).startswith("needs ")
            else:
                assert win.panel.value(side, key) == want, (side, key)
                assert win.panel.text(side, key) == format_value(key, want), (side, key)
    assert win.panel.text("right", "fva_deg") == "needs diaphysis_center"
    assert win.panel.text("right", "hka_deg") == f"{right.hka_deg:.1f}"  # everything but FVA on the right
    assert win.panel.text("left", "mldfa_deg") == "needs femoral_head"
    assert win.panel.text("left", "mmpta_deg") == f"{left.mmpta_deg:.1f}"
    assert win.panel.text("right", "lld_mm") == "needs femoral_head of the left leg"
    assert "femoral head" in win.panel.errors.text()  # the missing point is named, with how to place it
    assert "Right" in win.panel.summary.text() and "HKA needs femoral_head" in win.panel.summary.text()

    # the overlays label only what core computed (zoomed out: the HKA beside each knee)
    r_labels, l_labels = win.canvas.overlays["right"].angle_labels, win.canvas.overlays["left"].angle_labels
    assert r_labels["hka_deg"].isVisible() and r_labels["hka_deg"].toPlainText().startswith("HKA ")
    assert not l_labels["hka_deg"].isVisible()

    # placing the missing point by a click fills its metrics and the study's LLD
    win.select_landmark("left", "femoral_head")
    win.canvas.vb.sigImageClicked.emit(*head)
    left = _core(win, "left")
    assert left.mldfa_deg is not None and win.panel.value("left", "mldfa_deg") == left.mldfa_deg
    assert win.panel.text("left", "mldfa_deg") == f"{left.mldfa_deg:.1f}"
    lld = compute_study_metrics({"right": right, "left": left}).lld_mm
    assert lld is not None and win.panel.value("right", "lld_mm") == pytest.approx(lld, abs=1e-12)


def test_panel_names_the_point_that_moves_each_angle_most(qtbot, make_window, case_image):
    from llm_viewer.core.landmarks import LANDMARK_LABELS
    from llm_viewer.core.sensitivity import metric_sensitivity

    lms = small_landmarks()
    win = make_window(FakeEngine(lms), loader=fallback_loader())
    open_and_wait(qtbot, win, case_image)
    qtbot.waitUntil(lambda: bool(win.panel.most_sensitive), timeout=3000)
    for side in ("right", "left"):
        top = win.panel.most_sensitive[side]
        full = metric_sensitivity(win.doc.points(side), side, win.doc.pixel_spacing_mm).as_dict()
        for metric in ("hka_deg", "mldfa_deg", "mmpta_deg"):
            assert top[metric].per_mm == pytest.approx(max(full[metric].values()))
    text = win.panel.sensitivity.text()
    assert "HKA" in text and LANDMARK_LABELS[win.panel.most_sensitive["right"]["hka_deg"].landmark].lower() in text
    assert "°/mm" in text
