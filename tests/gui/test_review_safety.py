"""Review you can trust (issue 18): re-analysis never overwrites reviewed points, any change withdraws an
approval and says so, the history names who changed what and keeps every earlier version, the store's
manifest follows edits in place; canvas keys work wherever the focus is and never move an unseen point."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtWidgets

from llm_viewer.core.casefile import Case, load_case, save_case, sha256_file
from llm_viewer.core.store import Store

from .conftest import SPACING_MM, FakeEngine, open_and_wait, small_landmarks, synthetic_pixels, write_png16

CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
POINT_ACTIONS = {"moved", "reset", "undo", "redo", "calibrated", "analyzed", "proposal_accepted",
                 "proposal_rejected", "approval_withdrawn", "version_restored", "status"}


def shifted(dx=3.0, dy=-2.0):
    return {s: {lm: (x + dx, y + dy) for lm, (x, y) in leg.items()} for s, leg in small_landmarks().items()}


def drag(win, side, lm, x, y):
    target = win.canvas.overlays[side].targets[lm]
    target.moving = True
    target.setPos(x, y)
    target.moving = False
    target.sigPositionChangeFinished.emit(target)


@pytest.fixture
def store_case(tmp_path):
    """A training-set store holding one approved case whose 18 landmarks are ground truth."""
    png = write_png16(tmp_path / "src.png", synthetic_pixels())
    case = Case.new(pixel_spacing_mm=SPACING_MM, spacing_source="synthetic")
    for side, leg in small_landmarks().items():
        for lm, xy in leg.items():
            case.set_ground_truth(side, lm, xy)
    case.set_status("approved", by="llm-viewer synth")
    store = Store.create(tmp_path / "store")
    entry = store.add_case("case-1", case, image_path=png, source="import")
    return store, store.case_path(entry)


def run_model(qtbot, win):
    with qtbot.waitSignal(win.ready, timeout=20000):
        qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R, CTRL)


def test_ctrl_r_on_an_approved_store_case_keeps_ground_truth_and_approval_until_accepted(
        qtbot, make_window, store_case):
    store, case_path = store_case
    win = make_window(FakeEngine(shifted()))
    win.settings.setValue("reviewer", "Dr. Keep")
    win.doc.reviewer = "Dr. Keep"
    open_and_wait(qtbot, win, case_path)
    truth = {s: dict(win.doc.case.landmarks(s)) for s in ("right", "left")}
    run_model(qtbot, win)
    # nothing changed: every point is still ground truth, the case still approved, in memory and on disk
    for disk in (win.doc.case, load_case(case_path)):
        assert disk.status == "approved" and disk.review["by"] == "llm-viewer synth"
        for side in ("right", "left"):
            assert disk.landmarks(side) == truth[side]
            assert all(disk.provenance(side, lm)["source"] == "ground_truth" for lm in truth[side])
    # the model's positions are shown beside them as proposals, and the user is told
    assert len(win.doc.proposals) == 18
    assert len(win.canvas.proposals.shown("right")) == 9 and win.canvas.proposals.markers["left"].isVisible()
    assert "proposes new positions for 18" in win.banner.text
    assert "model proposes" in win.landmark_list._items[("right", "knee_center")].text(1)
    # accept one proposal with the keyboard: it moves, the approval is withdrawn and the window says so
    win.select_landmark("right", "knee_center")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_A)
    k = truth["right"]["knee_center"]
    assert win.doc.point("right", "knee_center").as_list() == [k.x + 3.0, k.y - 2.0]
    assert win.doc.case.status != "approved" and "withdrawn" in win.banner.text
    assert len(win.doc.proposals) == 17
    # undo brings the ground truth (and the proposal) back; the approval needs an explicit act again
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Z, CTRL)
    assert win.doc.point("right", "knee_center") == k
    assert win.doc.provenance("right", "knee_center")["source"] == "ground_truth"
    assert win.doc.proposal("right", "knee_center") is not None and win.doc.case.status != "approved"
    # reject one, accept the rest in one undoable step
    win.select_landmark("left", "femoral_head")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_D)
    assert win.doc.point("left", "femoral_head") == truth["left"]["femoral_head"] and len(win.doc.proposals) == 17
    steps = win.undo_stack.index()
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_A, SHIFT)
    assert win.undo_stack.index() == steps + 1 and not win.doc.proposals
    assert win.doc.point("left", "femoral_head") == truth["left"]["femoral_head"]
    assert win.doc.point("left", "knee_center").as_list() == [truth["left"]["knee_center"].x + 3.0,
                                                              truth["left"]["knee_center"].y - 2.0]
    # the manifest follows the edit in place; every history entry names who made it
    qtbot.waitUntil(lambda: Store.open(store.root).entries()[0].case_sha256 == sha256_file(case_path),
                    timeout=20000)
    (entry,) = Store.open(store.root).entries(check="hash")
    assert entry.case_sha256 == sha256_file(case_path) and entry.extra["edited_by"] == "Dr. Keep"
    history = load_case(case_path).history
    assert [e for e in history if e["action"] in POINT_ACTIONS and e["by"] is None] == []
    accepted = [e for e in history if e["action"] == "proposal_accepted"]
    assert accepted and all(e["old_provenance"]["source"] == "ground_truth" for e in accepted)
    # any earlier version can be restored: the ground truth as it was before the first acceptance
    first = next(i for i, e in enumerate(win.doc.case.history) if e["action"] == "proposal_accepted")
    assert win.restore_version(first)
    for side in ("right", "left"):
        assert win.doc.case.landmarks(side) == truth[side]


def test_rerun_keeps_manual_points_and_replaces_model_points(qtbot, make_window, case_image):
    engine = FakeEngine(small_landmarks())
    win = make_window(engine)
    open_and_wait(qtbot, win, case_image)
    h = win.doc.point("right", "femoral_head")
    drag(win, "right", "femoral_head", h.x + 5.0, h.y)
    engine.landmarks = shifted()
    run_model(qtbot, win)
    assert win.doc.point("right", "femoral_head").as_list() == [h.x + 5.0, h.y]  # manual: kept
    assert win.doc.is_manual("right", "femoral_head")
    assert list(getattr(win.doc, "proposals", {})) == [("right", "femoral_head")]
    k = small_landmarks()["right"]["knee_center"]
    assert win.doc.point("right", "knee_center").as_list() == [k[0] + 3.0, k[1] - 2.0]  # model point: replaced
    analyzed = [e for e in load_case(win.doc.case_path).history if e["action"] == "analyzed"][-1]
    old = {(r["side"], r["landmark"]): r["old"] for r in analyzed["replaced"]}
    assert old[("right", "knee_center")] == [k[0], k[1]] and analyzed["by"]  # the history keeps the old positions


def _approve_after(win, qtbot, change):
    """Apply ``change`` to an approved case; return the banner text."""
    win.approve("Dr. A")
    assert win.doc.case.status == "approved"
    change()
    return win.banner.text


CHANGES = ["drag", "nudge", "reset", "undo", "redo", "calibration", "reanalysis"]


@pytest.mark.parametrize("change", CHANGES)
def test_any_change_to_an_approved_case_withdraws_the_approval_and_says_so(qtbot, make_window, case_image,
                                                                            tmp_path, change):
    engine = FakeEngine(small_landmarks())
    win = make_window(engine)
    open_and_wait(qtbot, win, case_image)
    k = win.doc.point("right", "knee_center")
    if change in ("undo", "reset"):
        drag(win, "right", "knee_center", k.x + 4.0, k.y)  # an edit made before the approval
    if change == "redo":
        drag(win, "right", "knee_center", k.x + 4.0, k.y)
        win.undo_stack.undo()
    win.select_landmark("right", "knee_center")
    actions = {
        "drag": lambda: drag(win, "left", "femoral_head", *(c + 3 for c in win.doc.point("left", "femoral_head")
                                                                             .as_list())),
        "nudge": lambda: qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Left),
        "reset": lambda: qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Backspace),
        "undo": lambda: qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Z, CTRL),
        "redo": lambda: qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Z, CTRL | SHIFT),
        "calibration": lambda: win.doc.set_calibration((0.5, 0.5), "manual-entry"),
        "reanalysis": lambda: (setattr(engine, "landmarks", shifted()), run_model(qtbot, win),
                               qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_A, SHIFT)),
    }
    banner = _approve_after(win, qtbot, actions[change])
    saved = load_case(win.doc.case_path)
    assert win.doc.case.status != "approved" and saved.status != "approved"
    assert "Approval by Dr. A" in banner and "withdrawn" in banner
    withdrawn = [e for e in saved.history if e["action"] == "approval_withdrawn"]
    assert len(withdrawn) == 1 and withdrawn[0]["approved_by"] == "Dr. A" and withdrawn[0]["by"]
    # the report now says the case is not approved
    from llm_viewer.report.model import build_case_report

    assert build_case_report(win.doc.case_path).review["status"] != "approved"


def test_nothing_changed_keeps_the_approval(qtbot, make_window, case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    win.approve("Dr. A")
    win.select_landmark("right", "knee_center")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Backspace)  # already at the prediction: nothing to reset
    k = win.doc.point("right", "knee_center")
    win.commit_move("right", "knee_center", k.x, k.y)  # a click without a move
    win.doc.set_calibration(win.doc.pixel_spacing_mm, win.doc.case.spacing_source)  # the same calibration
    assert win.doc.case.status == "approved" and "withdrawn" not in win.banner.text
    assert win.undo_stack.count() == 0


def test_a_stale_approval_on_disk_is_named_and_blocks_the_report(qtbot, make_window, case_image, tmp_path):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    path = win.doc.case_path
    # a file written by an earlier version: approved, then a point moved without withdrawing the approval
    case = load_case(path)
    case.approve("Dr. Old")
    approved = case.review
    k = case.landmark("right", "knee_center")
    case.move_landmark("right", "knee_center", [k.x + 6.0, k.y], by="someone")
    doc = case.to_dict()
    doc["review"] = approved  # the approval survived the move
    save_case(Case(doc), path)
    win2 = make_window()
    open_and_wait(qtbot, win2, case_image)
    assert "after its approval by Dr. Old" in win2.banner.text
    assert win2.export_report(tmp_path / "r.pdf") is None
    assert "Report not written" in win2.last_error and not (tmp_path / "r.pdf").exists()


def test_history_names_who_made_each_change_even_before_an_approval(qtbot, make_window, case_image):
    win = make_window()
    assert win.doc.reviewer is None  # nobody has approved anything in this app yet
    open_and_wait(qtbot, win, case_image)
    h = win.doc.point("right", "femoral_head")
    drag(win, "right", "femoral_head", h.x + 2.0, h.y)
    win.undo_stack.undo()
    win.undo_stack.redo()
    hist = load_case(win.doc.case_path).history
    mine = [e for e in hist if e["action"] in POINT_ACTIONS]
    assert {"moved", "undo", "redo", "analyzed"} <= {e["action"] for e in mine}
    assert all(e["by"] for e in mine), [e for e in mine if not e["by"]]
    assert load_case(win.doc.case_path).provenance("right", "femoral_head")["by"]


# ---------------------------------------------------------------------------------------------- keyboard
def test_arrows_nudge_the_landmark_after_a_click_in_the_side_panel_not_the_window_spinbox(
        qtbot, make_window, case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    tabs = win.display.parentWidget().parentWidget()
    tabs.setCurrentWidget(win.display)
    win.select_landmark("right", "femoral_head")
    p0 = win.doc.point("right", "femoral_head")
    width0 = win.display.width.value()
    qtbot.mouseClick(win.display.width, QtCore.Qt.MouseButton.LeftButton)
    qtbot.keyClick(win.display.width, QtCore.Qt.Key.Key_Up)
    qtbot.keyClick(win.display.width, QtCore.Qt.Key.Key_Left)
    assert win.display.width.value() == width0
    p1 = win.doc.point("right", "femoral_head")
    assert (p1.x, p1.y) == (p0.x - 1.0, p0.y - 1.0)
    qtbot.keyClick(win.landmark_list, QtCore.Qt.Key.Key_Tab)  # Tab in the landmark list: next landmark
    assert win.selected == ("right", "diaphysis_center")
    # typing in a text field keeps its keys
    field = QtWidgets.QLineEdit("abc")
    win.side_dock.widget().addWidget(field)
    field.setFocus()
    qtbot.keyClick(field, QtCore.Qt.Key.Key_Left)
    assert win.doc.point("right", "diaphysis_center") == win.doc.case.landmark("right", "diaphysis_center")
    assert win.undo_stack.count() == 1 and field.cursorPosition() == 2


def on_screen(win, p):
    return win.canvas.vb.viewRect().contains(QtCore.QPointF(p.x, p.y))


def test_tab_pans_to_an_off_screen_landmark_and_a_nudge_never_moves_an_unseen_point(qtbot, make_window,
                                                                                     case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    win.canvas.zoom_to("right", "knee")
    win.select_landmark("right", "tibial_plateau_medial")
    ml = win.doc.point("right", "malleolus_lateral")
    assert not on_screen(win, ml)
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Tab)
    assert win.selected == ("right", "malleolus_lateral")
    assert on_screen(win, ml)  # the view followed the keyboard selection
    # zoomed back on the knee, Shift+Up on the (unseen) malleolus only shows it
    win.canvas.zoom_to("right", "knee")
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Up, SHIFT)
    assert win.doc.point("right", "malleolus_lateral") == ml and win.undo_stack.count() == 0
    assert on_screen(win, ml) and "off screen" in win.status_label.text()
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Up, SHIFT)
    assert win.doc.point("right", "malleolus_lateral").y == ml.y - 10.0


def test_a_held_arrow_key_is_one_undo_step_per_burst(qtbot, make_window, case_image, monkeypatch):
    import llm_viewer.gui.undo as undo

    clock = iter([0.0, 0.05, 0.1, 0.15, 2.0, 2.05])
    monkeypatch.setattr(undo, "_clock", lambda: next(clock), raising=False)
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    win.select_landmark("left", "knee_center")
    p0 = win.doc.point("left", "knee_center")
    for _ in range(4):  # a held key: auto-repeated presses 50 ms apart
        qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Right)
    assert win.undo_stack.count() == 1
    for _ in range(2):  # after a pause: a second burst
        qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Right)
    assert win.undo_stack.count() == 2
    win.undo_stack.undo()
    assert win.doc.point("left", "knee_center").x == p0.x + 4.0
    win.undo_stack.undo()
    assert win.doc.point("left", "knee_center") == p0
