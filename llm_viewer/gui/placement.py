"""Placing landmarks by hand: a guided mode and construction tools (femoral head circle, joint lines).

- *Guided placement* (G) asks for each missing landmark in turn, with the view zoomed to its region; a click
  places it and the next one is asked for (S skips one, Esc stops).
- *Femoral head circle* (C): three clicks on the head's rim; the circle through them gives the head's centre.
  Or press on the rim and drag across the head to the opposite rim: the circle on that diameter (shown while
  dragging) gives the centre, through the same three-point construction.
- *Joint line* (J femoral condyles, K tibial plateau, M malleoli): two clicks give both ends; which one is
  lateral and which medial follows from the leg's side.

Every placement is one undo step (a joint line's two ends together). The geometry is in
:mod:`llm_viewer.core.construct`; no metric is computed here.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.annotations import ANNOTATION_KINDS, AnnotationError
from ..core.construct import JOINT_LINES, circle_through, lateral_medial
from ..core.landmarks import LANDMARK_LABELS, LANDMARK_REGION
from .landmark_edit import LANDMARK_ORDER

TOOLS: dict[str, str] = {
    "head": "Femoral head: click three points on its rim",
    "femoral": "Femoral joint line: click the lateral and the medial condyle",
    "tibial": "Tibial plateau line: click the lateral and the medial plateau",
    "malleolar": "Malleolar line: click the lateral and the medial malleolus",
    "ruler": "Ruler: click both ends",
    "angle": "Angle: click a point on the first arm, the vertex, then a point on the second arm",
    "line_angle": "Angle between two lines: click both ends of the first line, then both ends of the second",
}
CLICKS = {"head": 3, "femoral": 2, "tibial": 2, "malleolar": 2, **ANNOTATION_KINDS}
MEASURE_TOOLS = frozenset(ANNOTATION_KINDS)
"""Free measurements (:mod:`llm_viewer.gui.measure_tools`): their clicks are taken here like a construction's."""
GUIDED_CONTEXT = 1.8
"""Guided placement zooms this much wider than View > Zoom to the region: a missing point is found beside
the placed ones of its region."""


def diameter_rim_points(a: tuple[float, float], b: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    """Three points on the circle with diameter ``a``–``b`` (``a``, ``b`` and the point a quarter turn on), for
    :func:`llm_viewer.core.construct.circle_through`."""
    mx, my = (a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0
    return a, b, (mx - (b[1] - a[1]) / 2.0, my + (b[0] - a[0]) / 2.0)


class RimDrag(pg.GraphicsObject):
    """While the head tool is active: a left drag on the image (from the rim across the head) sizes a circle.

    Transparent to clicks (the three-click path keeps working) and paints only the circle being dragged.
    """

    def __init__(self, tools: PlacementTools, rect: QtCore.QRectF) -> None:
        super().__init__()
        self.tools, self.rect = tools, rect
        self.start: tuple[float, float] | None = None
        self.circle: tuple[float, float, float] | None = None
        self.setZValue(50)

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt API
        return self.rect

    def paint(self, p, *_args) -> None:
        if self.circle is None:
            return
        cx, cy, r = self.circle
        pen = QtGui.QPen(QtGui.QColor("#7CFC00"), 1.5)
        pen.setCosmetic(True)
        p.setPen(pen)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.drawEllipse(QtCore.QPointF(cx, cy), r, r)
        p.drawLine(QtCore.QPointF(cx - r * 0.1, cy), QtCore.QPointF(cx + r * 0.1, cy))
        p.drawLine(QtCore.QPointF(cx, cy - r * 0.1), QtCore.QPointF(cx, cy + r * 0.1))

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        ev.ignore()

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        p = ev.pos()  # item coordinates are image pixels (the item sits untransformed in the view box)
        here = (float(p.x()), float(p.y()))
        if ev.isStart():
            bp = ev.buttonDownPos()
            self.start = (float(bp.x()), float(bp.y()))
        if self.start is None:
            return
        a = self.start
        self.prepareGeometryChange()
        self.circle = ((a[0] + here[0]) / 2.0, (a[1] + here[1]) / 2.0, math.dist(a, here) / 2.0)
        self.update()
        if ev.isFinish():
            self.start, self.circle = None, None
            self.update()
            self.tools.rim_dragged(a, here)


class PlacementTools(QtCore.QObject):
    """Guided placement and construction tools of one main window (``win``: its canvas, document, undo stack).

    Signals
    -------
    prompt(str)
        What to click now (shown in the status bar and banner by the window).
    finished(str)
        The guided mode or a tool ended; the message says what was placed.
    """

    prompt = QtCore.Signal(str)
    finished = QtCore.Signal(str)

    def __init__(self, win) -> None:
        super().__init__(win)
        self.win = win
        self.guided = False
        self.tool: str | None = None
        self.tool_side: str | None = None
        self.clicks: list[tuple[float, float]] = []
        self.skipped: set[tuple[str, str]] = set()
        self.placed = 0
        self._marks: list[QtWidgets.QGraphicsItem] = []
        self._rim: RimDrag | None = None
        self._rubber: QtWidgets.QGraphicsLineItem | None = None
        win.canvas.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # ------------------------------------------------------------------ guided mode
    def start_guided(self) -> bool:
        """Ask for the first missing landmark (False when none is missing)."""
        self.cancel_tool()
        self.guided, self.skipped, self.placed = True, set(), 0
        return self._next()

    def stop(self, message: str | None = None) -> None:
        was = self.guided or self.tool is not None
        self.guided = False
        self.cancel_tool()
        if was:
            self.finished.emit(message or f"placing by hand stopped ({self.placed} placed)")

    def skip(self) -> None:
        if self.guided and self.win.selected is not None:
            self.skipped.add(self.win.selected)
            self._next()

    def missing(self) -> list[tuple[str, str]]:
        doc = self.win.doc
        return [k for k in LANDMARK_ORDER if doc.point(*k) is None and k not in self.skipped]

    def _next(self) -> bool:
        todo = self.missing()
        if not todo:
            self.guided = False
            self.finished.emit(f"every landmark is placed ({self.placed} by hand)" if not self.skipped else
                               f"{self.placed} placed, {len(self.skipped)} skipped")
            return False
        side, lm = todo[0]
        self.win.select_landmark(side, lm)
        self.win.canvas.zoom_to(side, LANDMARK_REGION.get(lm, "knee"), context=GUIDED_CONTEXT)
        n_total = len(todo) + self.placed
        self.prompt.emit(f"Click the {LANDMARK_LABELS[lm].lower()} of the {side} leg ({self.placed + 1} of "
                         f"{n_total}); S skips it, Esc stops")
        return True

    def placed_one(self) -> None:
        """The window placed the asked-for landmark: ask for the next one."""
        self.placed += 1
        if self.guided:
            self._next()

    # ------------------------------------------------------------------ construction tools
    def start_tool(self, tool: str, side: str | None = None) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown placement tool {tool!r}")
        self.cancel_tool()
        self.tool, self.clicks = tool, []
        self.tool_side = side or (self.win.selected[0] if self.win.selected else None)
        if tool == "head" and self.win.doc.is_open:
            h, w = self.win.doc.image.pixels.shape[:2]
            self._rim = RimDrag(self, QtCore.QRectF(-0.5, -0.5, float(w), float(h)))
            self.win.canvas.vb.addItem(self._rim)
        self.prompt.emit(TOOLS[tool] + (" or drag across it from rim to rim" if tool == "head" else "")
                         + " (Esc cancels)")

    def _on_mouse_moved(self, scene_pos) -> None:
        """While a ruler or angle is being placed: a line from the last click to the cursor."""
        n = len(self.clicks)
        if self.tool not in MEASURE_TOOLS or not n or (self.tool == "line_angle" and n == 2):
            if self._rubber is not None:
                self._rubber.hide()
            return
        p = self.win.canvas.vb.mapSceneToView(scene_pos)
        if self._rubber is None:
            self._rubber = QtWidgets.QGraphicsLineItem()
            pen = QtGui.QPen(QtGui.QColor("#7CFC00"), 1, QtCore.Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self._rubber.setPen(pen)
            self._rubber.setZValue(40)
            self.win.canvas.vb.addItem(self._rubber)
        x0, y0 = self.clicks[-1]
        self._rubber.setLine(x0, y0, p.x(), p.y())
        self._rubber.show()

    def cancel_tool(self) -> None:
        self.tool, self.clicks = None, []
        if self._rubber is not None:
            self._rubber.hide()
        if self._rim is not None:
            self.win.canvas.vb.removeItem(self._rim)
            self._rim = None
        for item in self._marks:
            self.win.canvas.vb.removeItem(item)
        self._marks = []

    def _mark(self, x: float, y: float) -> None:
        r = 3.0 * self.win.canvas.overlays["right"].image_px_per_screen_px()
        item = QtWidgets.QGraphicsEllipseItem(x - r, y - r, 2 * r, 2 * r)
        pen = QtGui.QPen(QtGui.QColor("#7CFC00"))
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setZValue(40)
        self.win.canvas.vb.addItem(item)
        self._marks.append(item)

    def _side_for(self, x: float) -> str:
        if self.tool_side:
            return self.tool_side
        w = self.win.doc.image.pixels.shape[1]
        return "right" if x < w / 2.0 else "left"  # standard AP display: the patient's right on the image left

    def click(self, x: float, y: float) -> bool:
        """An image click while a tool is active (True: taken by the tool)."""
        if self.tool is None:
            return False
        self.clicks.append((x, y))
        self._mark(x, y)
        if self.tool in MEASURE_TOOLS and len(self.clicks) >= 2 and not (
                self.tool == "line_angle" and len(self.clicks) == 3):  # the lines drawn so far
            (x0, y0), (x1, y1) = self.clicks[-2], self.clicks[-1]
            line = QtWidgets.QGraphicsLineItem(x0, y0, x1, y1)
            pen = QtGui.QPen(QtGui.QColor("#7CFC00"))
            pen.setCosmetic(True)
            line.setPen(pen)
            line.setZValue(40)
            self.win.canvas.vb.addItem(line)
            self._marks.append(line)
        if len(self.clicks) < CLICKS[self.tool]:
            left = CLICKS[self.tool] - len(self.clicks)
            self.prompt.emit(f"{TOOLS[self.tool]}: {left} more")
            return True
        tool, clicks = self.tool, list(self.clicks)
        self.cancel_tool()
        if tool in MEASURE_TOOLS:
            try:
                ann = self.win.measures.add(tool, clicks)
            except AnnotationError as exc:
                self.prompt.emit(str(exc))
                return True
            if ann is not None:
                from ..core.annotations import annotation_text

                self.finished.emit(f"{TOOLS[tool].split(':')[0]}: {annotation_text(ann, self.win.doc.pixel_spacing_mm)}"
                                   " (drag its end points to adjust; Delete removes the selected one)")
            return True
        if tool == "head":
            msg = self._place_head(clicks)
            if msg is None:
                return True
        else:
            side = self._side_for((clicks[0][0] + clicks[1][0]) / 2.0)
            lat, med = lateral_medial(clicks[0], clicks[1], side)
            lat_id, med_id = JOINT_LINES[tool]
            self.win.place_points([(side, lat_id, lat), (side, med_id, med)], f"Place {tool} joint line")
            msg = f"{tool} joint line ({side}) placed: both ends"
        self.finished.emit(msg)
        if self.guided:
            self._next()
        return True

    def _place_head(self, rim: tuple[tuple[float, float], ...] | list) -> str | None:
        """The femoral head at the centre of the circle through three rim points (one undo step); ``None``
        (and the tool asks again) when they define no circle."""
        side0 = self.tool_side
        try:
            cx, cy, r = circle_through(*rim)
        except ValueError as exc:
            self.prompt.emit(str(exc))
            self.start_tool("head", side0)
            return None
        self.tool_side = side0
        side = self._side_for(cx)
        self.win.place_points([(side, "femoral_head", (cx, cy))], "Place femoral head (circle)")
        return f"femoral head ({side}) placed at the centre of the circle (radius {r:.0f} px)"

    def rim_dragged(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        """A drag across the head from rim to rim (the circle's diameter) while the head tool is active."""
        if self.tool != "head":
            return
        if math.dist(a, b) < 2.0:
            self.prompt.emit("drag across the whole head, from one side of its rim to the other")
            return
        side = self.tool_side
        self.cancel_tool()
        self.tool_side = side
        msg = self._place_head(diameter_rim_points(a, b))
        if msg is None:
            return
        self.finished.emit(msg + ", sized by a drag")
        if self.guided:
            self._next()
