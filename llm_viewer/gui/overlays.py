"""Per-leg overlays: draggable landmarks, axes, joint lines, MAD, angle labels, ROI boxes, uncertainty rings.

Only line geometry is derived here (which points to join, where the perpendicular from the knee meets the
hip–ankle line, for drawing). Every number shown comes from the document's core measurement.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.landmarks import LANDMARK_ABBREVIATIONS, LANDMARK_IDS, LANDMARK_LABELS, Point
from ..core.overlay import OverlayLine, angle_labels, leg_lines
from .document import Document

OVERLAY_KINDS: dict[str, str] = {
    "landmarks": "Landmarks",
    "names": "Landmark names",
    "mechanical": "Mechanical axes (femur, tibia)",
    "mikulicz": "Hip–ankle line (Mikulicz)",
    "anatomical": "Anatomical femoral axis",
    "joint_lines": "Joint lines + malleolar line",
    "angles": "Angle labels",
    "mad": "MAD segment",
    "rois": "ROI boxes",
    "uncertainty": "Uncertainty rings",
}
"""Overlay kinds, each toggleable per leg."""

SIDE_COLORS = {"right": "#35c8ff", "left": "#ff7ad9"}
MANUAL_COLOR = "#ffb020"
SELECTED_COLOR = "#ffffff"
DOUBTFUL_COLOR = "#ff4040"
ZOOMED_OUT_PX = 4.0
"""Above this many image pixels per screen pixel the overview shows fewer labels."""
DOUBTFUL_MM = 3.0
"""An uncertainty above this (mm; 20 px when uncalibrated) draws the ring in red."""

_LINE_STYLE = {
    "mechanical": dict(width=2),
    "mikulicz": dict(width=2, style=QtCore.Qt.PenStyle.DashLine),
    "anatomical": dict(width=1.5, style=QtCore.Qt.PenStyle.DashDotLine),
    "joint_lines": dict(width=2),
    "mad": dict(width=3, color="#ffe14d"),
}


OVERVIEW_NAMES = ("femoral_head", "diaphysis_center", "knee_center")
"""Landmarks still named when zoomed out (the knee and ankle points crowd each other at that scale)."""

_LINE_GROUP = {
    "femoral_mechanical_axis": "mechanical",
    "tibial_mechanical_axis": "mechanical",
    "mikulicz_line": "mikulicz",
    "anatomical_femoral_axis": "anatomical",
    "femoral_joint_line": "joint_lines",
    "tibial_joint_line": "joint_lines",
    "malleolar_line": "joint_lines",
    "mad_segment": "mad",
}
"""Core overlay line kinds -> toggle group."""


class LandmarkTarget(pg.TargetItem):
    """A draggable landmark that also reports plain clicks (to select it)."""

    sigClicked = QtCore.Signal(object)

    def __init__(self, side: str, landmark: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.side = side
        self.landmark = landmark

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt API
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self.sigClicked.emit(self)
            return
        super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 - Qt API
        if ev.isStart() and ev.button() == QtCore.Qt.MouseButton.LeftButton and self.movable:
            self.sigClicked.emit(self)
        super().mouseDragEvent(ev)


def _extend(p: Point, q: Point, frac: float) -> tuple[list[float], list[float]]:
    dx, dy = q.x - p.x, q.y - p.y
    return [p.x - dx * frac, q.x + dx * frac], [p.y - dy * frac, q.y + dy * frac]


class LegOverlay(QtCore.QObject):
    """Every graphic of one leg, kept in sync with the document.

    Signals
    -------
    sigSelected(side, landmark)
        A landmark was clicked or a drag started on it.
    sigMoveFinished(side, landmark, x, y)
        A drag ended at ``(x, y)`` image pixels.
    """

    sigSelected = QtCore.Signal(str, str)
    sigMoveFinished = QtCore.Signal(str, str, float, float)

    def __init__(self, doc: Document, side: str, vb: pg.ViewBox) -> None:
        super().__init__(vb)
        self.doc = doc
        self.side = side
        self.vb = vb
        self.color = SIDE_COLORS[side]
        self.visible = {k: True for k in OVERLAY_KINDS}
        self.selected: str | None = None
        self._syncing = False
        self.lines: dict[str, pg.PlotCurveItem] = {}
        for kind, style in _LINE_STYLE.items():
            style = dict(style)
            pen = pg.mkPen(style.pop("color", self.color), **style)
            item = pg.PlotCurveItem(pen=pen, connect="pairs", antialias=True)
            item.setZValue(10)
            vb.addItem(item)
            self.lines[kind] = item
        self.rings: dict[str, QtWidgets.QGraphicsEllipseItem] = {}
        self._ring_state: dict[str, tuple] = {}
        self._label_key: tuple | None = None
        self._zoomed_out = False
        self._anchors: dict[str, tuple[float, float]] = {}
        self.targets: dict[str, LandmarkTarget] = {}
        for lm in LANDMARK_IDS:
            ring = QtWidgets.QGraphicsEllipseItem()
            ring.setZValue(15)
            vb.addItem(ring)
            self.rings[lm] = ring
            t = LandmarkTarget(side, lm, size=14, symbol="crosshair", pen=pg.mkPen(self.color, width=2),
                               hoverPen=pg.mkPen(SELECTED_COLOR, width=3), brush=(0, 0, 0, 0),
                               hoverBrush=(255, 255, 255, 40))
            t.setZValue(20)
            t.setVisible(False)  # drawn once the case has this point (no stray marker at 0, 0)
            t.setLabel(LANDMARK_ABBREVIATIONS[lm], {"color": self.color, "offset": (10, -10),
                                                    "anchor": (0, 1), "fill": (0, 0, 0, 120)})
            vb.addItem(t)
            t.sigPositionChanged.connect(self._on_drag)
            t.sigPositionChangeFinished.connect(self._on_drag_finished)
            t.sigClicked.connect(lambda item: self.sigSelected.emit(self.side, item.landmark))
            self.targets[lm] = t
        self.angle_labels: dict[str, pg.TextItem] = {}
        for key in ("hka_deg", "mldfa_deg", "mmpta_deg", "mldta_deg", "fva_deg", "mad_mm"):
            ti = pg.TextItem("", color="#ffffff", fill=(0, 0, 0, 160), anchor=(0.5, 0.5))
            ti.setZValue(25)
            vb.addItem(ti)
            self.angle_labels[key] = ti
        self.roi_items: list[QtWidgets.QGraphicsRectItem] = []
        doc.pointsChanged.connect(self._on_points_changed)
        doc.measurementChanged.connect(lambda _m: self.refresh_labels())
        doc.loaded.connect(self.refresh_all)
        doc.caseChanged.connect(self.refresh_all)

    # ------------------------------------------------------------------ visibility / selection
    def set_visible(self, kind: str, on: bool) -> None:
        self.visible[kind] = bool(on)
        self.refresh_all()

    def set_selected(self, landmark: str | None) -> None:
        self.selected = landmark
        self._style_targets()

    def drawn_landmarks(self) -> list[str]:
        """Landmarks currently drawn (visible targets)."""
        return [lm for lm, t in self.targets.items() if t.isVisible()]

    # ------------------------------------------------------------------ dragging
    def _on_drag(self, target: LandmarkTarget) -> None:
        if self._syncing:
            return
        p = target.pos()
        self.doc.preview_move(self.side, target.landmark, float(p.x()), float(p.y()))

    def _on_drag_finished(self, target: LandmarkTarget) -> None:
        if self._syncing:
            return
        p = target.pos()
        self.sigMoveFinished.emit(self.side, target.landmark, float(p.x()), float(p.y()))

    # ------------------------------------------------------------------ refresh
    def _on_points_changed(self, side: str) -> None:
        if side == self.side:
            self.refresh_geometry()

    def refresh_all(self) -> None:
        self._ring_state.clear()
        self._label_key = None
        self._style_targets()
        self._refresh_rois()
        self.refresh_geometry()
        self.refresh_labels()

    def _style_targets(self) -> None:
        for lm, t in self.targets.items():
            manual = self.doc.is_manual(self.side, lm) if self.doc.case else False
            color = SELECTED_COLOR if lm == self.selected else (MANUAL_COLOR if manual else self.color)
            t.setPen(pg.mkPen(color, width=3 if lm == self.selected else 2))
            label = t.label()
            if label is not None:
                name = LANDMARK_ABBREVIATIONS[lm] + (" ✎" if manual else "")
                if lm == self.selected:
                    name = f"{LANDMARK_ABBREVIATIONS[lm]} {LANDMARK_LABELS[lm]}" + (" (manual)" if manual else "")
                label.setText(name, color=color)
                overview_ok = not self._zoomed_out or lm in OVERVIEW_NAMES or lm == self.selected
                label.setVisible(self.visible["names"] and overview_ok)

    def refresh_geometry(self) -> None:
        pts = self.doc.points(self.side) if self.doc.case else {}
        self._syncing = True
        try:
            for lm, t in self.targets.items():
                p = pts.get(lm)
                show = p is not None and self.visible["landmarks"]
                if p is not None and not t.moving and (abs(t.pos().x() - p.x) > 1e-9 or abs(t.pos().y() - p.y) > 1e-9):
                    t.setPos(p.x, p.y)
                t.setVisible(show)
                self._update_ring(lm, p)
        finally:
            self._syncing = False
        self._update_lines(pts)

    def _update_ring(self, lm: str, p: Point | None) -> None:
        ring = self.rings[lm]
        unc = self.doc.uncertainty_px(self.side, lm) if p is not None else None
        r90 = self.doc.radius90_px(self.side, lm) if p is not None else None
        spacing = self.doc.pixel_spacing_mm
        flagged = p is not None and self.doc.is_flagged(self.side, lm)
        key = (p, unc, r90, spacing, self.visible["uncertainty"], flagged)
        if self._ring_state.get(lm) == key:  # unchanged: no repaint
            return
        self._ring_state[lm] = key
        if p is None or unc is None or not self.visible["uncertainty"]:
            ring.setVisible(False)
            return
        if r90 is not None:  # calibrated: the 90 % radius, as an outline only, and only when it says something
            if r90 <= 1.0:
                ring.setVisible(False)
                return
            doubtful = flagged or ((r90 * spacing[1] > DOUBTFUL_MM) if spacing else r90 > 20.0)
            pen = QtGui.QPen(QtGui.QColor(DOUBTFUL_COLOR if doubtful else self.color))
            pen.setCosmetic(True)
            pen.setWidthF(2.0 if doubtful else 1.2)
            ring.setPen(pen)
            ring.setBrush(QtGui.QBrush(QtCore.Qt.BrushStyle.NoBrush))
            ring.setRect(QtCore.QRectF(p.x - r90, p.y - r90, 2 * r90, 2 * r90))
            ring.setVisible(True)
            return
        r = max(2.0 * unc, 1.0)  # ~95 % radius for a Gaussian spread of sigma = uncertainty_px
        doubtful = flagged or ((unc * spacing[1] > DOUBTFUL_MM) if spacing else unc > 20.0)
        pen = QtGui.QPen(QtGui.QColor(DOUBTFUL_COLOR if doubtful else self.color))
        pen.setCosmetic(True)
        pen.setWidthF(2.5 if doubtful else 1.2)
        ring.setPen(pen)
        ring.setBrush(QtGui.QBrush(QtGui.QColor(255, 64, 64, 50) if doubtful else QtCore.Qt.BrushStyle.NoBrush))
        ring.setRect(QtCore.QRectF(p.x - r, p.y - r, 2 * r, 2 * r))
        ring.setVisible(True)

    def _update_lines(self, pts: dict[str, Point]) -> None:
        segs: dict[str, list[OverlayLine]] = {k: [] for k in self.lines}
        for line in leg_lines(pts, self.doc.pixel_spacing_mm):
            segs[_LINE_GROUP[line.kind]].append(line)
        for kind, item in self.lines.items():
            if not segs[kind] or not self.visible[kind]:
                item.setVisible(False)
                continue
            xs: list[float] = []
            ys: list[float] = []
            for ln in segs[kind]:
                if kind == "joint_lines":  # extended beyond the bone so the angle reads at a glance
                    ex, ey = _extend(Point(ln.x0, ln.y0), Point(ln.x1, ln.y1), 0.35)
                else:
                    ex, ey = [ln.x0, ln.x1], [ln.y0, ln.y1]
                xs += ex
                ys += ey
            item.setData(xs, ys)
            item.setVisible(True)

    def image_px_per_screen_px(self) -> float:
        """How many image pixels one screen pixel spans (large when zoomed out)."""
        try:
            sx, _sy = self.vb.viewPixelSize()
        except Exception:  # noqa: BLE001 - before the view is laid out
            return 1.0
        return float(abs(sx)) or 1.0

    def on_view_changed(self) -> None:
        """Zoom changed: label spacing follows the screen, and the overview shows fewer labels."""
        zoomed_out = self.image_px_per_screen_px() > ZOOMED_OUT_PX
        if zoomed_out != self._zoomed_out:
            self._zoomed_out = zoomed_out
            self._style_targets()
        self.refresh_labels()

    def refresh_labels(self) -> None:
        """Angle (and MAD) labels from core's measurement, at core's label positions.

        Zoomed out (the whole film on screen), only the HKA and its class are written beside each knee, on
        the lateral side, so the two legs' labels do not pile up; zoom in for every angle at its vertex.
        """
        m = self.doc.measurement
        leg = m.legs.get(self.side) if m else None
        offset = self._label_offset_px()
        key = (leg, self.visible["angles"], offset, self._zoomed_out)
        if key == self._label_key:  # this leg did not change (the other one is being dragged)
            return
        self._label_key = key
        labels = []
        if leg is not None and leg.metrics is not None and self.visible["angles"]:
            labels = angle_labels(leg.landmarks, self.side, leg.metrics, offset_px=offset)
        shown = set()
        for lab in labels:
            ti = self.angle_labels.get(lab.key)
            if ti is None:
                continue
            x, y, anchor = lab.x, lab.y, (0.5, 0.5)
            text = lab.text
            if lab.key == "hka_deg":
                text += f" {leg.metrics.alignment}"
            if self._zoomed_out:
                if lab.key != "hka_deg":
                    continue
                k = leg.landmarks["knee_center"]
                lateral = -1.0 if self.side == "right" else 1.0  # image x of the patient's lateral side
                x, y = k.x + lateral * offset * 0.6, k.y
                anchor = (1.0, 0.5) if self.side == "right" else (0.0, 0.5)
            if ti.toPlainText() != text:
                ti.setText(text, color=self.color)
            if self._anchors.get(lab.key) != anchor:
                self._anchors[lab.key] = anchor
                ti.setAnchor(anchor)
            ti.setPos(x, y)
            if not ti.isVisible():
                ti.setVisible(True)
            shown.add(lab.key)
        for key_, ti in self.angle_labels.items():
            if key_ not in shown:
                ti.setVisible(False)

    def _label_offset_px(self) -> float:
        """Distance of a label from its vertex: ~17 mm, and at least 55 screen pixels."""
        spacing = self.doc.pixel_spacing_mm
        base = 17.0 / spacing[1] if spacing else 120.0
        screen = 55.0 * self.image_px_per_screen_px()
        return float(max(base, round(screen, 1)))

    def _refresh_rois(self) -> None:
        for item in self.roi_items:
            self.vb.removeItem(item)
        self.roi_items = []
        if not self.doc.case or not self.visible["rois"]:
            return
        for roi in self.doc.case.rois:
            if roi.get("side") != self.side or "box_px" not in roi:
                continue
            x0, y0, x1, y1 = (float(v) for v in roi["box_px"])
            rect = QtWidgets.QGraphicsRectItem(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))
            pen = QtGui.QPen(QtGui.QColor(self.color))
            pen.setCosmetic(True)
            pen.setStyle(QtCore.Qt.PenStyle.DotLine)
            rect.setPen(pen)
            rect.setZValue(5)
            self.vb.addItem(rect)
            self.roi_items.append(rect)
