"""Manual calibration: a line of known length on the ruler, or a circle on a calibration ball.

``spacing_from_line`` / ``spacing_from_diameter`` are pure functions; :class:`CalibrationTool` puts a
draggable line or circle on the canvas and asks for the known size. The result is stored in the case
(``pixel_spacing_mm`` + ``spacing_source`` + ``calibration`` details).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .canvas import Canvas
from .document import Document


class CalibrationError(ValueError):
    """A calibration input is unusable (zero length, non-positive size)."""


def spacing_from_line(x0: float, y0: float, x1: float, y1: float, known_mm: float,
                      aspect_row_over_col: float = 1.0) -> tuple[float, float]:
    """Pixel spacing from a segment of known physical length.

    Parameters
    ----------
    x0, y0, x1, y1 : float
        Segment ends in image pixels.
    known_mm : float
        Its true length.
    aspect_row_over_col : float
        Row spacing / column spacing to keep (1 for square pixels; the DICOM ratio when known).

    Returns
    -------
    tuple of float
        ``(row_mm, column_mm)``.
    """
    if not (known_mm > 0 and math.isfinite(known_mm)):
        raise CalibrationError(f"the known length must be a positive number of mm, got {known_mm!r}")
    # Length in column-pixel units: rows count aspect times as much.
    length = math.hypot(x1 - x0, (y1 - y0) * aspect_row_over_col)
    if length < 1.0:
        raise CalibrationError("the calibration line is shorter than one pixel; drag its ends apart")
    col = known_mm / length
    return (col * aspect_row_over_col, col)


def spacing_from_diameter(diameter_px: float, known_mm: float, aspect_row_over_col: float = 1.0
                          ) -> tuple[float, float]:
    """Pixel spacing from a ball of known diameter, measured across the image's columns."""
    if not (known_mm > 0 and math.isfinite(known_mm)):
        raise CalibrationError(f"the ball diameter must be a positive number of mm, got {known_mm!r}")
    if diameter_px < 1.0:
        raise CalibrationError("the calibration circle is smaller than one pixel")
    col = known_mm / diameter_px
    return (col * aspect_row_over_col, col)


class CalibrationTool(QtWidgets.QWidget):
    """A small panel plus a line or circle on the canvas; Apply stores the calibration in the case."""

    finished = QtCore.Signal(str)

    def __init__(self, doc: Document, canvas: Canvas, mode: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        if mode not in ("ruler", "ball"):
            raise ValueError(f"unknown calibration mode {mode!r}")
        self.doc, self.canvas, self.mode = doc, canvas, mode
        vr = canvas.vb.viewRect()
        cx, cy, span = vr.center().x(), vr.center().y(), min(vr.width(), vr.height()) * 0.25
        pen = pg.mkPen("#7CFC00", width=2)
        if mode == "ruler":
            self.roi = pg.LineSegmentROI([[cx - span, cy], [cx + span, cy]], pen=pen)
            prompt, default = "Known length of the line (mm):", 100.0
        else:
            self.roi = pg.CircleROI([cx - span / 2, cy - span / 2], [span, span], pen=pen)
            prompt, default = "Ball diameter (mm):", 25.0
        self.roi.setZValue(40)
        canvas.vb.addItem(self.roi)
        layout = QtWidgets.QFormLayout(self)
        self.known = QtWidgets.QDoubleSpinBox()
        self.known.setRange(0.1, 2000.0)
        self.known.setDecimals(2)
        self.known.setValue(default)
        self.known.setSuffix(" mm")
        layout.addRow(prompt, self.known)
        self.result = QtWidgets.QLabel()
        layout.addRow(self.result)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Apply
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        buttons.rejected.connect(self.cancel)
        layout.addRow(buttons)
        self.roi.sigRegionChanged.connect(self._preview)
        self.known.valueChanged.connect(self._preview)
        self._preview()

    def _aspect(self) -> float:
        sp = self.doc.image.pixel_spacing_mm if self.doc.image is not None else None
        return float(sp[0]) / float(sp[1]) if sp else 1.0

    def compute(self) -> tuple[float, float]:
        if self.mode == "ruler":
            h0, h1 = self.roi.getHandles()[:2]
            p0 = self.roi.mapToParent(h0.pos())
            p1 = self.roi.mapToParent(h1.pos())
            return spacing_from_line(p0.x(), p0.y(), p1.x(), p1.y(), self.known.value(), self._aspect())
        return spacing_from_diameter(float(self.roi.size().x()), self.known.value(), self._aspect())

    def _preview(self, *_a) -> None:
        try:
            row, col = self.compute()
        except CalibrationError as exc:
            self.result.setText(str(exc))
            return
        self.result.setText(f"→ {row:.4f} × {col:.4f} mm/pixel")

    def apply(self) -> None:
        try:
            spacing = self.compute()
        except CalibrationError as exc:
            self.result.setText(str(exc))
            return
        details = {"known_mm": self.known.value(), "mode": self.mode}
        if self.mode == "ruler":
            h0, h1 = self.roi.getHandles()[:2]
            p0, p1 = self.roi.mapToParent(h0.pos()), self.roi.mapToParent(h1.pos())
            details["line_px"] = [[p0.x(), p0.y()], [p1.x(), p1.y()]]
        else:
            pos, size = self.roi.pos(), self.roi.size()
            details["circle_px"] = {"center": [pos.x() + size.x() / 2, pos.y() + size.y() / 2],
                                    "diameter": size.x()}
        self.doc.set_calibration(spacing, "manual-ruler" if self.mode == "ruler" else "manual-ball", details)
        self._close(f"calibrated: {spacing[0]:.4f} × {spacing[1]:.4f} mm/pixel ({self.mode})")

    def cancel(self) -> None:
        self._close("calibration cancelled")

    def _close(self, message: str) -> None:
        self.canvas.vb.removeItem(self.roi)
        self.finished.emit(message)
        self.deleteLater()
