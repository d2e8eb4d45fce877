"""Selecting and editing the landmarks of the open case: select, cycle, place, drag, nudge, reset, proposals.

Every change of a point is one undo step (:mod:`llm_viewer.gui.undo`); the selection is ``MainWindow.selected``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from ..core.landmarks import LANDMARK_IDS, LANDMARK_LABELS, SIDES
from .undo import PointEdit, ProposalDecision, RestoreVersion

if TYPE_CHECKING:
    from .mainwindow import MainWindow

LANDMARK_ORDER = [(s, lm) for s in SIDES for lm in LANDMARK_IDS]
"""The order Tab / Next landmark walks through, and the order missing landmarks are asked for."""


class LandmarkEditor:
    """The landmark editing of ``win`` (``MainWindow.select_landmark``, ``nudge_selected`` and friends)."""

    def __init__(self, win: MainWindow) -> None:
        self.win = win

    # ================================================================== selection
    def select_landmark(self, side: str, lm: str, *, reveal: bool = False) -> None:
        """Select a landmark; ``reveal`` (keyboard selection) pans the view to it when it is off screen."""
        win = self.win
        win.selected = (side, lm)
        for s, ov in win.canvas.overlays.items():
            ov.set_selected(lm if s == side else None)
        win.landmark_list.select(side, lm)
        p = win.doc.point(side, lm)
        if reveal and p is not None:
            win.canvas.ensure_visible(p.x, p.y)
        hint = " (missing: click on the image to place it)" if p is None else ""
        prop = win.doc.proposal(side, lm)
        if prop is not None:
            hint += " (the model proposes another position: A accept, D reject)"
        win.status_label.setText(f"selected: {LANDMARK_LABELS[lm]}, {side} leg{hint}")

    def cycle_landmark(self, step: int) -> None:
        selected = self.win.selected
        i = LANDMARK_ORDER.index(selected) if selected in LANDMARK_ORDER else -1
        j = (i + step) % len(LANDMARK_ORDER) if i >= 0 else (0 if step > 0 else len(LANDMARK_ORDER) - 1)
        self.win.select_landmark(*LANDMARK_ORDER[j], reveal=True)

    def cycle_to_next_missing(self) -> None:
        for side, lm in LANDMARK_ORDER:
            if self.win.doc.point(side, lm) is None:
                self.win.select_landmark(side, lm)
                return

    # ================================================================== point edits
    def commit_move(self, side: str, lm: str, x: float, y: float) -> None:
        """End of a drag: one undo step; the case is changed and autosaved."""
        doc = self.win.doc
        if not doc.is_open:
            return
        old = doc.case.landmark(side, lm)
        if old is not None and old.x == x and old.y == y:
            doc.cancel_preview()
            return
        self.win.undo_stack.push(PointEdit(doc, side, lm, lambda: doc.move_landmark(side, lm, (x, y)), "Move"))

    def nudge_selected(self, dx: float, dy: float) -> None:
        win = self.win
        if win.selected is None or not win.doc.is_open:
            return
        side, lm = win.selected
        p = win.doc.point(side, lm)
        if p is None:
            return
        if not win.canvas.overlays[side].visible["landmarks"]:
            win.status_label.setText("landmarks of this leg are hidden (Overlays tab): show them to nudge")
            return
        if win.canvas.ensure_visible(p.x, p.y):  # never move a point nobody can see: show it first
            win.status_label.setText(f"{LANDMARK_LABELS[lm]} ({side}) was off screen: shown, press again to nudge")
            return
        xy = (p.x + dx, p.y + dy)
        doc = win.doc
        win.undo_stack.push(PointEdit(doc, side, lm, lambda: doc.move_landmark(side, lm, xy), "Nudge",
                                      mergeable=True))

    def reset_selected(self) -> None:
        win = self.win
        if win.selected is None or not win.doc.is_open:
            return
        side, lm = win.selected
        doc = win.doc
        win.undo_stack.push(PointEdit(doc, side, lm, lambda: doc.reset_landmark(side, lm), "Reset"))

    def image_clicked(self, x: float, y: float) -> None:
        """A click on the image: a construction tool's click, or it places the selected landmark if missing."""
        win = self.win
        if not win.doc.is_open:
            return
        h, w = win.doc.image.pixels.shape[:2]
        if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
            return
        if win.placement.click(x, y):  # a construction tool (head circle, joint line) takes the click
            return
        if win.selected is None:
            return
        side, lm = win.selected
        if win.doc.point(side, lm) is not None:
            return
        doc = win.doc
        win.undo_stack.push(PointEdit(doc, side, lm, lambda: doc.move_landmark(side, lm, (x, y)), "Place"))
        if win.placement.guided:
            win.placement.placed_one()  # the next missing landmark, zoomed there
        else:
            win.cycle_to_next_missing()

    def placing(self) -> bool:
        """A click now places a point: a construction tool is active or the selected landmark is missing."""
        win = self.win
        if win.placement.tool is not None:
            return True
        return win.selected is not None and win.doc.is_open and win.doc.point(*win.selected) is None

    def place_points(self, points: list[tuple[str, str, tuple[float, float]]], text: str) -> None:
        """Place (or move) several landmarks by hand as one undo step (a joint line's two ends)."""
        doc, stack = self.win.doc, self.win.undo_stack
        if not doc.is_open or not points:
            return
        stack.beginMacro(text)
        try:
            for side, lm, xy in points:
                xy = (float(xy[0]), float(xy[1]))
                stack.push(PointEdit(doc, side, lm, lambda s=side, m=lm, p=xy: doc.move_landmark(s, m, p), "Place"))
        finally:
            stack.endMacro()

    # ================================================================== proposals / versions
    def decide_proposals(self, *, accept: bool, every: bool = False) -> bool:
        """Accept or reject the model's proposal for the selected point (``every``: all of them); one undo step."""
        win = self.win
        if not win.doc.is_open:
            return False
        keys = sorted(win.doc.proposals) if every else ([win.selected] if win.selected else [])
        keys = [k for k in keys if win.doc.proposal(*k) is not None]
        if not keys:
            win.status_label.setText("no proposal of the model " + ("to decide on" if every else "for this point"))
            return False
        win.undo_stack.push(ProposalDecision(win.doc, keys, accept=accept))
        left = len(win.doc.proposals)
        verb = "accepted" if accept else "rejected"
        win.status_label.setText(f"{len(keys)} proposal(s) {verb}" + (f", {left} left" if left else ""))
        return True

    def restore_version(self, index: int | None = None) -> bool:
        """Put the points back as they were before ``history[index]`` (asks which when not given); undoable."""
        from ..core.history import versions

        win = self.win
        if not win.doc.is_open:
            return False
        choices = versions(win.doc.case)
        if index is None:
            if not choices:
                win.status_label.setText("no earlier version: nothing was changed yet")
                return False
            label, ok = QtWidgets.QInputDialog.getItem(win, "Restore an earlier version", "The case as it was:",
                                                       [c[1] for c in choices], 0, False)
            if not ok:
                return False
            index = next(i for i, text in choices if text == label)
        label = next((text for i, text in choices if i == index), f"version before entry {index}")
        cmd = RestoreVersion(win.doc, index, label)
        if not cmd.changes:
            win.status_label.setText("that version has the same points as now")
            return False
        win.undo_stack.push(cmd)
        win.status_label.setText(f"restored the points {label}")
        return True
