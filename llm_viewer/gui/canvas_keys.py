"""Canvas keys anywhere in the main window: arrows nudge the selected landmark, Tab cycles through them.

An application-wide event filter, so the keys work whichever panel of the window has the focus; they are left
alone in text fields, dialogs and open popups, and with Ctrl or Alt held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

if TYPE_CHECKING:
    from .mainwindow import MainWindow

CANVAS_KEYS = {QtCore.Qt.Key.Key_Left: (-1, 0), QtCore.Qt.Key.Key_Right: (1, 0),
               QtCore.Qt.Key.Key_Up: (0, -1), QtCore.Qt.Key.Key_Down: (0, 1)}
"""Arrow key -> (dx, dy) of one nudge step, in image pixels (Shift: ten times as far)."""


def is_text_entry(widget: QtWidgets.QWidget | None) -> bool:
    """Whether keys typed into ``widget`` are text (a line edit or text box, but not a spin box's field)."""
    if isinstance(widget, QtWidgets.QLineEdit):
        return not widget.isReadOnly() and not isinstance(widget.parent(), QtWidgets.QAbstractSpinBox)
    if isinstance(widget, (QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit)):
        return not widget.isReadOnly()
    return False


class CanvasKeyFilter(QtCore.QObject):
    """Routes arrows and Tab typed anywhere in ``win`` to ``win.nudge_selected`` / ``win.cycle_landmark``.

    Install it on the application (``QApplication.instance().installEventFilter(filter)``); it is a child of
    ``win``.
    """

    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.win = win

    def owns(self, widget: QtWidgets.QWidget) -> bool:
        """``widget`` is part of the window (docked or floating panels included, dialogs excluded)."""
        w: QtWidgets.QWidget | None = widget
        while w is not None:
            if w is self.win:
                return True
            if isinstance(w, QtWidgets.QDialog):
                return False
            w = w.parentWidget()
        return False

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:  # noqa: N802 - Qt API
        """Arrows and Tab act on the canvas wherever the focus is in the window, except in a text field."""
        if ev.type() != QtCore.QEvent.Type.KeyPress or not isinstance(obj, QtWidgets.QWidget):
            return False
        key = ev.key()
        if key not in CANVAS_KEYS and key not in (QtCore.Qt.Key.Key_Tab, QtCore.Qt.Key.Key_Backtab):
            return False
        if not self.win.doc.is_open or not self.owns(obj) or is_text_entry(obj) or (
                QtWidgets.QApplication.activePopupWidget() is not None):
            return False
        mods = ev.modifiers() & ~QtCore.Qt.KeyboardModifier.KeypadModifier
        if mods & ~QtCore.Qt.KeyboardModifier.ShiftModifier:  # Ctrl/Alt+arrow: leave to the widget
            return False
        shift = bool(mods & QtCore.Qt.KeyboardModifier.ShiftModifier)
        if key in CANVAS_KEYS:
            dx, dy = CANVAS_KEYS[key]
            k = 10.0 if shift else 1.0
            self.win.nudge_selected(dx * k, dy * k)
        else:
            self.win.cycle_landmark(-1 if (shift or key == QtCore.Qt.Key.Key_Backtab) else 1)
        return True
