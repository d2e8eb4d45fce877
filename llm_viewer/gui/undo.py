"""Undoable landmark edits: one command per finished drag, nudge run, reset or placement."""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtGui

from ..core.landmarks import LANDMARK_LABELS
from .document import Document, PointState

NUDGE_ID = 4201


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
        Consecutive arrow-key nudges of one point merge into a single undo step.
    """

    def __init__(self, doc: Document, side: str, landmark: str, action: Callable[[], bool | None], text: str,
                 *, mergeable: bool = False) -> None:
        super().__init__(f"{text} {LANDMARK_LABELS.get(landmark, landmark)} ({side})")
        self.doc = doc
        self.side = side
        self.landmark = landmark
        self._action = action
        self._mergeable = mergeable
        self.before: PointState = doc.point_state(side, landmark)
        self.after: PointState | None = None

    def id(self) -> int:  # noqa: A003 - Qt API
        return NUDGE_ID if self._mergeable else -1

    def mergeWith(self, other: QtGui.QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, PointEdit) or (other.side, other.landmark) != (self.side, self.landmark):
            return False
        self.after = other.after
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
