"""Draggable landmark markers (grabbed within a screen radius, drawn as a crosshair) and the segment clipping
the overlays cut their lines with."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui

GRAB_RADIUS_PX = 10.0
"""A press this close (screen pixels) to a marker grabs it."""


class LandmarkTarget(pg.TargetItem):
    """A draggable landmark that also reports plain clicks (to select it).

    It is drawn as a crosshair but grabbed anywhere within :data:`GRAB_RADIUS_PX` of its centre; where the
    grab areas of several markers overlap, the canvas raises the one to grab (the selected leg's nearest).
    """

    sigClicked = QtCore.Signal(object)

    def __init__(self, side: str, landmark: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.side = side
        self.landmark = landmark
        self._grab_shape: QtGui.QPainterPath | None = None
        self.click_through = None
        """Callable: when it returns True a click on this marker goes to the image (set by the canvas)."""

    def set_marker_size(self, size: float) -> None:
        if self.scale != size:
            self.prepareGeometryChange()
            self.scale = size  # pyqtgraph's symbol size attribute
            self._shape = self._grab_shape = None
            self.update()

    def paint(self, p, *_):  # noqa: D102 - the crosshair, not the (larger) grab area
        p.setPen(self.currentPen)
        p.setBrush(self.currentBrush)
        p.drawPath(pg.TargetItem.shape(self))

    def shape(self) -> QtGui.QPainterPath:  # noqa: D102 - the grab area: a disc in screen pixels
        if self._grab_shape is None:
            dt = self.deviceTransform_()
            if dt is None:
                return pg.TargetItem.shape(self)
            dti = pg.functions.invertQTransform(dt)
            c = dt.map(QtCore.QPointF(0, 0))
            r = max(GRAB_RADIUS_PX, self.scale / 2.0)
            disc = QtGui.QPainterPath()
            disc.addEllipse(c, r, r)
            self.prepareGeometryChange()
            self._grab_shape = dti.map(disc)
        return self._grab_shape

    def viewTransformChanged(self) -> None:  # noqa: N802 - Qt API
        self._grab_shape = None
        super().viewTransformChanged()

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt API
        if self.click_through is not None and self.click_through():
            ev.ignore()  # placing a missing point (or a tool's click) beside this one: the image takes the click
            return
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self.sigClicked.emit(self)
            return
        super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 - Qt API
        if ev.isStart() and ev.button() == QtCore.Qt.MouseButton.LeftButton and self.movable:
            self.sigClicked.emit(self)
        super().mouseDragEvent(ev)


def clip_segment(x0: float, y0: float, x1: float, y1: float, rect: tuple[float, float, float, float]
                 ) -> tuple[float, float, float, float] | None:
    """The part of segment ``(x0, y0)–(x1, y1)`` inside ``rect = (left, top, right, bottom)`` (Liang–Barsky),
    or ``None`` when none of it is."""
    left, top, right, bottom = rect
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0 - left), (dx, right - x0), (-dy, y0 - top), (dy, bottom - y0)):
        if p == 0.0:
            if q < 0.0:
                return None
            continue
        t = q / p
        if p < 0.0:
            if t > t1:
                return None
            t0 = max(t0, t)
        else:
            if t < t0:
                return None
            t1 = min(t1, t)
    return (x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy)


def extend_segment(x0: float, y0: float, x1: float, y1: float, frac: float) -> tuple[list[float], list[float]]:
    """``([x0', x1'], [y0', y1'])``: the segment lengthened by ``frac`` of its length at each end."""
    dx, dy = x1 - x0, y1 - y0
    return [x0 - dx * frac, x1 + dx * frac], [y0 - dy * frac, y1 + dy * frac]
