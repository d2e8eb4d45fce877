"""Undoable edits: one command per finished drag, nudge burst, reset, placement, accepted or rejected proposal,
or restored version."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from PySide6 import QtGui

from ..core.landmarks import LANDMARK_LABELS
from .document import Document, PointState, Proposal

NUDGE_ID = 4201
_clock = time.monotonic  # replaced in tests
NUDGE_BURST_S = 0.8
"""Arrow-key nudges of one point less than this many seconds apart (a held key, or quick presses) are one
undo step; a pause longer than this starts a new step."""


class PointEdit(QtGui.QUndoCommand):
    """Apply ``action`` to one landmark; undo/redo restore its exact position, provenance and review state.

    Parameters
    ----------
    doc : Document
    side, landmark : str
    action : callable
        Performs the edit on the first ``redo`` (``Document.move_landmark`` and friends); returning ``False``
        marks the command obsolete (nothing changed, nothing to undo).
    text : str
        Shown in the Edit menu ("Undo move of Knee centre (right)").
    mergeable : bool
        Arrow-key nudges of one point in one burst (less than ``NUDGE_BURST_S`` apart) merge into a single
        undo step.
    """

    def __init__(self, doc: Document, side: str, landmark: str, action: Callable[[], bool | None], text: str,
                 *, mergeable: bool = False, at: float | None = None) -> None:
        super().__init__(f"{text} {LANDMARK_LABELS.get(landmark, landmark)} ({side})")
        self.doc = doc
        self.side = side
        self.landmark = landmark
        self._action = action
        self._mergeable = mergeable
        self.last_at = _clock() if at is None else float(at)
        self.before: PointState = doc.point_state(side, landmark)
        self.after: PointState | None = None

    def id(self) -> int:  # noqa: A003 - Qt API
        return NUDGE_ID if self._mergeable else -1

    def mergeWith(self, other: QtGui.QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, PointEdit) or (other.side, other.landmark) != (self.side, self.landmark):
            return False
        if other.last_at - self.last_at > NUDGE_BURST_S:
            return False
        self.after = other.after
        self.last_at = other.last_at
        return True

    def redo(self) -> None:
        if self.after is None:
            if self._action() is False:
                self.setObsolete(True)
                return
            self.after = self.doc.point_state(self.side, self.landmark)
        else:
            self.doc.restore_point_state(self.side, self.landmark, self.after, "redo")

    def undo(self) -> None:
        self.doc.restore_point_state(self.side, self.landmark, self.before, "undo")


class ProposalDecision(QtGui.QUndoCommand):
    """Accept (move the points to the model's proposal) or reject proposals of one or more points.

    Undo puts the points, their provenance and the proposals back (never the approval: see
    :meth:`Document.restore_point_state`).
    """

    def __init__(self, doc: Document, keys: Iterable[tuple[str, str]], *, accept: bool) -> None:
        self.doc = doc
        self.accept = accept
        self.items: list[tuple[str, str, Proposal, PointState]] = []
        for side, lm in keys:
            prop = doc.proposal(side, lm)
            if prop is not None:
                self.items.append((side, lm, prop, doc.point_state(side, lm)))
        verb = "Accept" if accept else "Reject"
        if len(self.items) == 1:
            side, lm = self.items[0][:2]
            text = f"{verb} the model's proposal for {LANDMARK_LABELS.get(lm, lm)} ({side})"
        else:
            text = f"{verb} the model's {len(self.items)} proposals"
        super().__init__(text)
        self.after: dict[tuple[str, str], PointState] = {}

    def redo(self) -> None:
        if not self.items:
            self.setObsolete(True)
            return
        for side, lm, _prop, _before in self.items:
            if not self.accept:
                self.doc.reject_proposal(side, lm)
            elif (side, lm) in self.after:
                self.doc.proposals.pop((side, lm), None)
                self.doc.restore_point_state(side, lm, self.after[(side, lm)], "redo")
                self.doc.proposalsChanged.emit()
            else:
                self.doc.accept_proposal(side, lm)
                self.after[(side, lm)] = self.doc.point_state(side, lm)

    def undo(self) -> None:
        for side, lm, prop, before in reversed(self.items):
            if self.accept:
                self.doc.restore_point_state(side, lm, before, "undo")
            self.doc.put_proposal(side, lm, prop)


class RestoreVersion(QtGui.QUndoCommand):
    """Put every point back where it was just before ``history[index]`` (one undo step)."""

    def __init__(self, doc: Document, index: int, label: str) -> None:
        super().__init__(f"Restore {label}")
        self.doc = doc
        points, _spacing = doc.version_points(index)
        self.changes: list[tuple[str, str, tuple[float, float] | None, PointState]] = []
        for side in ("right", "left"):
            now = doc.case.landmarks(side) if doc.case else {}
            then = points.get(side, {})
            for lm in sorted(set(now) | set(then)):
                old = then.get(lm)
                cur = now.get(lm)
                if old is None and cur is None:
                    continue
                if cur is not None and old is not None and (cur.x, cur.y) == (old[0], old[1]):
                    continue
                xy = None if old is None else (float(old[0]), float(old[1]))
                self.changes.append((side, lm, xy, doc.point_state(side, lm)))
        self.after: dict[tuple[str, str], PointState] = {}

    def redo(self) -> None:
        if not self.changes:
            self.setObsolete(True)
            return
        for side, lm, xy, _before in self.changes:
            if (side, lm) in self.after:
                self.doc.restore_point_state(side, lm, self.after[(side, lm)], "redo")
            else:
                self.doc.set_point_state(side, lm, xy, "version_restored")
                self.after[(side, lm)] = self.doc.point_state(side, lm)

    def undo(self) -> None:
        for side, lm, _xy, before in reversed(self.changes):
            self.doc.restore_point_state(side, lm, before, "undo")
