"""Issue 18: the Landmarks list shows the calibrated 90 % radius in mm when the case has one, else the model's
raw value marked uncalibrated; a point moved by hand says so."""

from __future__ import annotations

import json

from llm_viewer.gui.widgets import uncertainty_cell

from .conftest import SPACING_MM, open_and_wait


def cell(win, side, lm):
    return win.landmark_list._items[(side, lm)].text(2)


def test_raw_uncertainty_is_marked_uncalibrated(qtbot, make_window, case_image):
    win = make_window()  # the fake model gives 2.0 px and no calibrated radii
    open_and_wait(qtbot, win, case_image)
    assert cell(win, "right", "knee_center") == "±2.0 px (uncalibrated)"
    assert "not calibrated" in win.landmark_list._items[("right", "knee_center")].toolTip(2)


def test_calibrated_radius_in_mm_and_hand_placed_points(qtbot, make_window, case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    path = win.doc.case_path
    raw = json.loads(path.read_text())
    raw["pixel_spacing_mm"], raw["spacing_source"] = list(SPACING_MM), "manual-entry"
    raw["analysis"]["uncertainty"] = {"calibrated": True, "coverage": 0.9, "metric_factors": {},
                                      "radius90_px": {"right": {"knee_center": 4.0, "femoral_head": 2.5}}}
    path.write_text(json.dumps(raw))
    win2 = make_window()
    open_and_wait(qtbot, win2, case_image)
    assert cell(win2, "right", "knee_center") == f"{4.0 * max(SPACING_MM):.1f} mm"
    assert cell(win2, "right", "femoral_head") == f"{2.5 * max(SPACING_MM):.1f} mm"
    assert "90 %" in win2.landmark_list._items[("right", "knee_center")].toolTip(2)
    # no radius stored for this one: the raw value, marked so
    assert cell(win2, "left", "knee_center") == "±2.0 px (uncalibrated)"
    k = win2.doc.point("right", "knee_center")
    win2.commit_move("right", "knee_center", k.x + 3.0, k.y)
    assert cell(win2, "right", "knee_center") == "by hand"


def test_uncertainty_cell_without_spacing_keeps_pixels():
    assert uncertainty_cell(3.0, 9.0, None, False)[0] == "3.0 px"
    assert uncertainty_cell(None, None, None, False) == ("", "")
