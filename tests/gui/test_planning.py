"""Tools > Plan osteotomy…: the dock shows core.planning's result live while the hinge is dragged; save is
undoable and lands in the case file."""

from __future__ import annotations

import pytest

from llm_viewer.core.casefile import load_case
from llm_viewer.core.planning import simulate
from llm_viewer.core.planning_store import case_plans

from .conftest import open_and_wait


@pytest.fixture()
def demo_case(tmp_path):
    from tests.planning_fixtures import write_demo_case

    return write_demo_case(tmp_path / "study", height_px=800, with_plans=False)


def _tool(win):
    action = next(a for a in win.findChildren(type(win.act_analyze)) if a.text() == "Plan osteotomy…")
    action.trigger()
    return win.planning


def test_drag_hinge_updates_the_displayed_correction_from_core(make_window, qtbot, demo_case):
    win = make_window()
    open_and_wait(qtbot, win, demo_case, analyze=False)
    tool = _tool(win)
    assert tool.dock.isVisible() and tool.plan is not None
    side = tool.plan.side
    assert tool.plan.method == ("hto_open_medial" if side == "left" else "dfo_open_lateral")
    first = tool.panel.cell("correction", 2)
    res0 = simulate(tool.plan, win.doc.points(side), side, win.doc.pixel_spacing_mm)
    assert first == f"{res0.correction_deg:.2f}°"
    assert tool.panel.cell("hka_deg", 1) == f"{res0.pre['hka_deg']:.1f}°"
    hx, hy = tool.plan.hinge_px
    tool.hinge.setPos(hx + 6.0, hy + 4.0)  # a drag step: the handle moves, the dock follows
    assert tool.plan.hinge_px == (hx + 6.0, hy + 4.0)
    res1 = simulate(tool.plan, win.doc.points(side), side, win.doc.pixel_spacing_mm)
    shown = tool.panel.cell("correction", 2)
    assert shown != first and shown == f"{res1.correction_deg:.2f}°"
    assert tool.panel.cell("wedge", 2) == f"{res1.wedge_height_mm:.1f} mm"
    assert tool.panel.cell("wbl_ratio_pct", 2) == f"{res1.post['wbl_ratio_pct']:.1f} %"
    # the preview: the distal fragment image is shown, turned about the hinge by the correction
    assert tool.fragment.isVisible() and tool.post_axis.isVisible()
    t = tool.fragment.transform()
    k = tool.preview.step
    assert t.m11() / k == pytest.approx(res1.affine_px[0][0]) and t.m21() / k == pytest.approx(res1.affine_px[0][1])
    # a target the method cannot reach: the error is shown, nothing to save
    tool.panel.target_value.setValue(-40.0 if side == "left" else 140.0)
    assert "away from the target" in tool.panel.notes.text() and not tool.panel.save_button.isEnabled()


def test_save_undo_redo_and_reload(make_window, qtbot, demo_case):
    win = make_window()
    open_and_wait(qtbot, win, demo_case, analyze=False)
    tool = _tool(win)
    hx, hy = tool.plan.hinge_px
    tool.hinge.setPos(hx - 3.0, hy + 2.0)
    tool.panel.target_value.setValue(tool.plan.target.value - 2.0)
    assert tool.save()
    stored = case_plans(load_case(demo_case))
    assert len(stored) == 1 and stored[0].hinge_px == (hx - 3.0, hy + 2.0)
    assert stored[0].result.correction_deg == pytest.approx(tool.result.correction_deg)
    assert load_case(demo_case).history[-1]["action"] == "plan"
    win.undo_stack.undo()
    assert case_plans(load_case(demo_case)) == []
    win.undo_stack.redo()
    assert [p.id for p in case_plans(load_case(demo_case))] == [stored[0].id]
    # reopen the case: the dock shows the saved plan
    win2 = make_window()
    open_and_wait(qtbot, win2, demo_case, analyze=False)
    tool2 = _tool(win2)
    assert tool2.plan.id == stored[0].id and tool2.plan.hinge_px == stored[0].hinge_px
    assert tool2.panel.cell("correction", 2) == f"{stored[0].result.correction_deg:.2f}°"
    assert "Saved plan" in tool2.panel.stored.text() and "Unsaved" not in tool2.panel.stored.text()
    tool2.hinge.setPos(tool2.plan.hinge_px[0] + 8.0, tool2.plan.hinge_px[1])  # unsaved change: the dock says so
    assert "Unsaved changes" in tool2.panel.stored.text()
    tool2.hinge.setPos(*stored[0].hinge_px)
    assert "Unsaved" not in tool2.panel.stored.text() and "differs" not in tool2.panel.stored.text()
    # a landmark moved after saving: the saved result no longer matches what the dock computes
    side = stored[0].side
    ankle = win2.doc.point(side, "malleolus_medial")
    win2.commit_move(side, "malleolus_medial", ankle.x + 12.0, ankle.y)
    assert "differs" in tool2.panel.stored.text()
    assert tool2.delete() and case_plans(load_case(demo_case)) == []


def test_method_change_and_no_landmarks(make_window, qtbot, demo_case, case_image):
    win = make_window()
    open_and_wait(qtbot, win, demo_case, analyze=False)
    tool = _tool(win)
    p = tool.panel
    p.side.setCurrentIndex(p.side.findData("left"))
    p.method.setCurrentIndex(p.method.findData("hto_close_lateral"))
    assert tool.plan.method == "hto_close_lateral" and tool.plan.side == "left"
    assert p.cell("wedge", 0) == "Closing wedge height"
    assert p.cell("correction", 2) == f"{tool.result.correction_deg:.2f}°"
    open_and_wait(qtbot, win, case_image, analyze=False)  # an image without landmarks
    assert tool.plan is None
