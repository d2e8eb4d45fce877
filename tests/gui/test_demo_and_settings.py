"""The demo case, a real mouse drag, persisted settings, the help dialog and a store as worklist."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtTest, QtWidgets

from llm_viewer.core.casefile import load_case
from llm_viewer.core.metrics import compute_leg_metrics

from .conftest import FakeEngine, have_imageio, open_and_wait

needs_imageio = pytest.mark.skipif(not have_imageio(), reason="llm_viewer.core.imageio not available yet")


def demo_image(tmp_path):
    from llm_viewer.gui.demo import prepare_demo, resources_dir

    small = None if (resources_dir() / "demo" / "demo.dcm").exists() else 1024  # generated: keep it quick
    return prepare_demo(tmp_path / "work", generate_height_px=small)


@needs_imageio
def test_demo_opens_runs_the_model_and_draws_18_landmarks(qtbot, make_window, tmp_path):
    img = demo_image(tmp_path)
    truth = load_case(img.with_name("demo.case.json"))
    engine = FakeEngine({s: {lm: (p.x + 1.0, p.y) for lm, p in truth.landmarks(s).items()} for s in truth.sides})
    win = make_window(engine, loader=None)
    # ready is emitted when the analysis worker has finished; the demo (gui --demo) accepts the model's points
    open_and_wait(qtbot, win, img, analyze=True, accept_model=True)
    assert engine.calls == 1
    assert sum(len(ov.drawn_landmarks()) for ov in win.canvas.overlays.values()) == 18
    assert win.doc.case.status == "predicted" and "ground truth of the demo" in win.banner.text
    assert win.doc.pixel_spacing_mm is not None and not win.panel.warning.isVisible()
    k = win.doc.point("right", "knee_center")
    assert k.x == truth.landmark("right", "knee_center").x + 1.0
    # the repository's demo stays untouched: the case is autosaved in the working copy
    assert str(tmp_path / "work") in str(win.doc.case_path)
    win.undo_stack.undo()  # one step back: the demo's ground truth
    assert win.doc.point("right", "knee_center") == truth.landmark("right", "knee_center")


def test_real_mouse_drag_moves_a_landmark(qtbot, make_window, case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    win.canvas.zoom_to("right", "knee")
    qtbot.wait(50)
    k = win.doc.point("right", "knee_center")
    view = win.canvas
    start = view.mapFromScene(win.canvas.vb.mapViewToScene(QtCore.QPointF(k.x, k.y)))
    end = start + QtCore.QPoint(30, 12)
    vp = view.viewport()
    QtTest.QTest.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, 7):
        QtTest.QTest.mouseMove(vp, start + (end - start) * (i / 6.0))
        qtbot.wait(5)
    QtTest.QTest.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, end)
    qtbot.wait(20)
    moved = win.doc.point("right", "knee_center")
    assert moved.x > k.x and win.undo_stack.count() == 1
    assert win.doc.is_manual("right", "knee_center")
    expected = compute_leg_metrics(win.doc.points("right"), "right", win.doc.pixel_spacing_mm).hka_deg
    assert win.panel.value("right", "hka_deg") == expected


def test_settings_recent_files_and_help(qtbot, make_window, case_image, settings):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    win.set_inverted(True)
    case_path = win.doc.case_path
    win.close()
    assert str(case_image) in settings.value("recent")
    assert settings.value("session/last_path") == str(case_path)  # reopened by `llm-viewer gui` without PATH
    win2 = make_window()
    assert win2.act_invert.isChecked() and win2.canvas.inverted
    assert [a.text() for a in win2.recent_menu.actions()][0] == str(case_image)
    from llm_viewer.gui.widgets import SHORTCUTS, shortcuts_dialog

    dlg = shortcuts_dialog(win2)
    table = dlg.findChild(QtWidgets.QTableWidget)
    keys = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert "Ctrl+Z / Ctrl+Shift+Z" in keys and "Tab / Shift+Tab" in keys and len(keys) == len(SHORTCUTS)


def test_store_opens_as_worklist(qtbot, make_window, tmp_path, case_image):
    from llm_viewer.core.casefile import Case
    from llm_viewer.core.store import Store

    from .conftest import small_landmarks

    store = Store.create(tmp_path / "store")
    for i in range(2):
        c = Case.new(pixel_spacing_mm=(1.287, 1.287), spacing_source="synthetic")
        for side, lms in small_landmarks().items():
            for lm, xy in lms.items():
                c.set_ground_truth(side, lm, xy)
        store.add_case(f"case-{i}", c, image_path=case_image, width_px=320, height_px=900)
    win = make_window()
    with qtbot.waitSignal(win.ready, timeout=20000):
        win.open_folder(tmp_path / "store")
    assert [e.name for e in win.worklist.entries] == ["case-0", "case-1"]
    assert win.doc.case_path == (tmp_path / "store" / "cases" / "case-0.case.json").resolve()
    assert sum(len(ov.drawn_landmarks()) for ov in win.canvas.overlays.values()) == 18


@pytest.mark.parametrize("mode,known_mm,expected_col_mm", [("ruler", 100.0, 100.0 / 200.0), ("ball", 25.0, 25.0 / 50.0)])
def test_manual_calibration_tool_sets_and_saves_spacing(qtbot, make_window, case_image, mode, known_mm,
                                                        expected_col_mm):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    win.start_calibration(mode)
    tool = win._calibration
    if mode == "ruler":
        h0, h1 = tool.roi.getHandles()[:2]
        tool.roi.movePoint(h0, QtCore.QPointF(50.0, 100.0))
        tool.roi.movePoint(h1, QtCore.QPointF(50.0, 300.0))  # 200 px long
    else:
        tool.roi.setPos(QtCore.QPointF(100.0, 100.0))
        tool.roi.setSize(QtCore.QPointF(50.0, 50.0))  # 50 px across
    tool.known.setValue(known_mm)
    tool.apply()
    assert win.doc.pixel_spacing_mm == pytest.approx((expected_col_mm, expected_col_mm))
    saved = load_case(win.doc.case_path)
    assert saved.spacing_source == f"manual-{mode}"
    assert saved.get("calibration")["known_mm"] == known_mm
    assert "manual" in win.panel.calibration.text() and win.panel.value("right", "mad_mm") is not None
    assert win._calibration is None
