"""Per-leg overlays: draggable landmarks, axes, joint lines, MAD, angle labels, ROI boxes, uncertainty rings.

Only line geometry is derived here (which points to join, where the perpendicular from the knee meets the
hip–ankle line, for drawing). Every number shown comes from the document's core measurement.

Labels follow the zoom (level of detail): zoomed out (the whole film on screen) the markers are small, no
letter codes are written (only the selected point's name) and each knee gets one label, its HKA and class,
on the lateral side; zoomed in, every landmark's code and every angle is written. Where labels go is decided
by the canvas for both legs together (:mod:`llm_viewer.core.labels`): no label covers another or a marker,
and one moved away from its place gets a leader line.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.labels import LabelRequest
from ..core.landmarks import LANDMARK_ABBREVIATIONS, LANDMARK_IDS, LANDMARK_LABELS, Point
from ..core.overlay import OverlayLine, angle_labels, leg_lines
from .document import Document
from .targets import LandmarkTarget, clip_segment, extend_segment

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
"""Without a calibration: above this many image pixels per screen pixel the overview shows fewer labels."""
ZOOMED_OUT_MM = 0.6
"""With a calibration: above this many mm per screen pixel (a knee under ~130 px wide) the overview shows
fewer labels. The whole film at fit zoom is about 1.5 mm per screen pixel, a knee zoom about 0.15."""
MARKER_PX = 14
"""Marker size zoomed in (screen pixels); zoomed out the markers are drawn smaller."""
OVERVIEW_MARKER_PX = 9
DOUBTFUL_MM = 3.0
"""An uncertainty above this (mm; 20 px when uncalibrated) draws the ring in red."""

_LINE_STYLE = {
    "mechanical": dict(width=2),
    "mikulicz": dict(width=2, style=QtCore.Qt.PenStyle.DashLine),
    "anatomical": dict(width=1.5, style=QtCore.Qt.PenStyle.DashDotLine),
    "joint_lines": dict(width=2),
    "mad": dict(width=3, color="#ffe14d"),
}


ANGLE_PRIORITY = {"hka_deg": 1, "mad_mm": 2, "mldfa_deg": 3, "mmpta_deg": 4, "mldta_deg": 5, "fva_deg": 6}
"""Order in which angle labels get their place (the selected point's name comes first, the codes last)."""

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
        self._line_data: dict[str, tuple[list[float], list[float]]] = {}
        """Each line item's last data: an unchanged line is not set again (nor repainted)."""
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
        self._angle_wanted: dict[str, tuple[float, float, float, float]] = {}
        """Angle label key -> (x, y) of its preferred centre and (x, y) of its vertex, image pixels."""
        self.targets: dict[str, LandmarkTarget] = {}
        self.name_labels: dict[str, pg.TextItem] = {}
        leader_color = QtGui.QColor(self.color)
        leader_color.setAlpha(190)
        self.leaders = pg.PlotCurveItem(pen=pg.mkPen(leader_color, width=1, style=QtCore.Qt.PenStyle.DotLine),
                                        connect="pairs")
        self.leaders.setZValue(24)
        vb.addItem(self.leaders)
        for lm in LANDMARK_IDS:
            ring = QtWidgets.QGraphicsEllipseItem()
            ring.setZValue(15)
            vb.addItem(ring)
            self.rings[lm] = ring
            t = LandmarkTarget(side, lm, size=MARKER_PX, symbol="crosshair", pen=pg.mkPen(self.color, width=2),
                               hoverPen=pg.mkPen(SELECTED_COLOR, width=3), brush=(0, 0, 0, 0),
                               hoverBrush=(255, 255, 255, 40))
            t.setZValue(20)
            t.setVisible(False)  # drawn once the case has this point (no stray marker at 0, 0)
            vb.addItem(t)
            name = pg.TextItem(LANDMARK_ABBREVIATIONS[lm], color=self.color, fill=(0, 0, 0, 140), anchor=(0.5, 0.5))
            _cache_text(name)
            name.setZValue(26)
            name.setVisible(False)
            vb.addItem(name)
            self.name_labels[lm] = name
            t.sigPositionChanged.connect(self._on_drag)
            t.sigPositionChangeFinished.connect(self._on_drag_finished)
            t.sigClicked.connect(lambda item: self.sigSelected.emit(self.side, item.landmark))
            self.targets[lm] = t
        self.angle_labels: dict[str, pg.TextItem] = {}
        for key in ("hka_deg", "mldfa_deg", "mmpta_deg", "mldta_deg", "fva_deg", "mad_mm"):
            ti = pg.TextItem("", color="#ffffff", fill=(0, 0, 0, 160), anchor=(0.5, 0.5))
            _cache_text(ti)
            ti.setZValue(25)
            vb.addItem(ti)
            self.angle_labels[key] = ti
        self.roi_items: list[QtWidgets.QGraphicsRectItem] = []
        self.name_fits: dict[str, bool] = {}
        """Whether the last layout found a free place for each landmark's code."""
        self.layout_hook = None
        """Called when labels need placing again (set by the canvas, which places both legs' labels)."""
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
        self._zoomed_out = self.is_zoomed_out()
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
            t.set_marker_size(OVERVIEW_MARKER_PX if self._zoomed_out and lm != self.selected else MARKER_PX)
            name = LANDMARK_ABBREVIATIONS[lm] + (" ✎" if manual else "")
            if lm == self.selected:
                name = f"{LANDMARK_ABBREVIATIONS[lm]} {LANDMARK_LABELS[lm]}" + (" (manual)" if manual else "")
            label = self.name_labels[lm]
            if label.toPlainText() != name or getattr(label, "_color", None) != color:
                label.setText(name, color=color)
                label._color = color
        self._request_layout()

    def wants_name(self, lm: str) -> bool:
        """Whether ``lm``'s code is written: zoomed in, or the selected point (level of detail)."""
        return (self.visible["names"] and self.targets[lm].isVisible()
                and (not self._zoomed_out or lm == self.selected))

    def _request_layout(self) -> None:
        """Labels shown follow the level of detail at once; where they go is decided by the canvas's next
        layout pass (which may also leave out a code that finds no free place)."""
        for lm, ti in self.name_labels.items():
            on = self.wants_name(lm) and self.name_fits.get(lm, True)
            if ti.isVisible() != on:
                ti.setVisible(on)
        for key, ti in self.angle_labels.items():
            on = key in self._angle_wanted
            if ti.isVisible() != on:
                ti.setVisible(on)
        if self.layout_hook is not None:
            self.layout_hook()

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
        self._request_layout()

    def ring_radius_px(self, lm: str) -> float | None:
        """Radius of ``lm``'s uncertainty ring in image pixels: the calibrated 90 % radius when the case has
        one, else twice the model's uncertainty (about 95 % for a Gaussian spread); ``None`` without either."""
        r90 = self.doc.radius90_px(self.side, lm)
        if r90 is not None:
            return r90
        unc = self.doc.uncertainty_px(self.side, lm)
        return None if unc is None else 2.0 * unc

    def _update_ring(self, lm: str, p: Point | None) -> None:
        """The ring is drawn only where it means something: larger on screen than the marker it surrounds,
        as a thin outline with no fill, so the structure under it (the head's outline) stays visible."""
        ring = self.rings[lm]
        r = self.ring_radius_px(lm) if p is not None else None
        spacing = self.doc.pixel_spacing_mm
        flagged = p is not None and self.doc.is_flagged(self.side, lm)
        marker = self.targets[lm].scale / 2.0
        scale = self.image_px_per_screen_px()
        on = p is not None and self.visible["uncertainty"] and self.visible["landmarks"]
        if on and flagged:  # the model's own doubt: a halo just outside the marker at any zoom
            r = max(r or 0.0, (marker + 5.0) * scale)
        show = on and r is not None and (flagged or r / scale > marker + 2.0)
        key = (p, r, spacing, show, flagged)
        if self._ring_state.get(lm) == key:  # unchanged: no repaint
            return
        self._ring_state[lm] = key
        if not show:
            ring.setVisible(False)
            return
        r90 = self.doc.radius90_px(self.side, lm)
        sigma = r90 if r90 is not None else r / 2.0  # the 90 % radius, else the model's uncertainty
        doubtful = flagged or ((sigma * spacing[1] > DOUBTFUL_MM) if spacing else sigma > 20.0)
        color = QtGui.QColor(DOUBTFUL_COLOR if doubtful else self.color)
        color.setAlpha(200 if doubtful else 150)
        pen = QtGui.QPen(color)
        pen.setCosmetic(True)
        pen.setWidthF(1.5 if doubtful else 1.0)
        if doubtful:
            pen.setStyle(QtCore.Qt.PenStyle.DashLine)
        ring.setPen(pen)
        ring.setBrush(QtGui.QBrush(QtCore.Qt.BrushStyle.NoBrush))
        ring.setRect(QtCore.QRectF(p.x - r, p.y - r, 2 * r, 2 * r))
        ring.setVisible(True)

    def _update_lines(self, pts: dict[str, Point]) -> None:
        """The leg's lines, each cut to the part in (a margin around) the view.

        Zoomed in, a hip–ankle line is tens of thousands of screen pixels long; Qt strokes a dashed or
        antialiased line over its whole length before clipping (3 ms of every drag step at knee zoom), and the
        item's bounding rect makes every step repaint the whole view. Cut, only what can show is drawn; the
        view changing re-cuts (:meth:`on_view_changed`)."""
        segs: dict[str, list[OverlayLine]] = {k: [] for k in self.lines}
        for line in leg_lines(pts, self.doc.pixel_spacing_mm):
            segs[_LINE_GROUP[line.kind]].append(line)
        clip = self._line_clip_rect()
        for kind, item in self.lines.items():
            if not segs[kind] or not self.visible[kind]:
                item.setVisible(False)
                continue
            xs: list[float] = []
            ys: list[float] = []
            for ln in segs[kind]:
                if kind == "joint_lines":  # extended beyond the bone so the angle reads at a glance
                    ex, ey = extend_segment(ln.x0, ln.y0, ln.x1, ln.y1, 0.35)
                else:
                    ex, ey = [ln.x0, ln.x1], [ln.y0, ln.y1]
                cut = clip_segment(ex[0], ey[0], ex[1], ey[1], clip) if clip is not None else (ex[0], ey[0],
                                                                                               ex[1], ey[1])
                if cut is None:
                    continue
                xs += [cut[0], cut[2]]
                ys += [cut[1], cut[3]]
            if not xs:
                item.setVisible(False)
                continue
            if self._line_data.get(kind) != (xs, ys):  # dragging one point moves two or three of the lines
                self._line_data[kind] = (xs, ys)
                item.setData(xs, ys)
            if not item.isVisible():
                item.setVisible(True)

    def _line_clip_rect(self) -> tuple[float, float, float, float] | None:
        """The view rect grown by half its size each side (image pixels), or ``None`` before layout."""
        try:
            r = self.vb.viewRect()
        except Exception:  # noqa: BLE001 - before the view is laid out
            return None
        w, h = r.width(), r.height()
        if not (w > 0 and h > 0):
            return None
        return (r.left() - w / 2, r.top() - h / 2, r.right() + w / 2, r.bottom() + h / 2)

    def image_px_per_screen_px(self) -> float:
        """How many image pixels one screen pixel spans (large when zoomed out)."""
        try:
            sx, _sy = self.vb.viewPixelSize()
        except Exception:  # noqa: BLE001 - before the view is laid out
            return 1.0
        return float(abs(sx)) or 1.0

    def is_zoomed_out(self) -> bool:
        """Whether the view is an overview (level of detail: small markers, no codes, the HKA only)."""
        scale = self.image_px_per_screen_px()
        spacing = self.doc.pixel_spacing_mm
        return scale * float(spacing[1]) > ZOOMED_OUT_MM if spacing else scale > ZOOMED_OUT_PX

    def on_view_changed(self) -> None:
        """Zoom changed: label spacing follows the screen, and the overview shows fewer labels."""
        zoomed_out = self.is_zoomed_out()
        if zoomed_out != self._zoomed_out:
            self._zoomed_out = zoomed_out
            self._style_targets()
        pts = self.doc.points(self.side) if self.doc.case else {}
        for lm in self.targets:  # a ring is shown only when larger than its marker: that depends on the zoom
            self._update_ring(lm, pts.get(lm))
        self._update_lines(pts)  # lines are cut to the view
        self.refresh_labels()
        self._request_layout()

    def refresh_labels(self) -> None:
        """Angle (and MAD) labels from core's measurement, wanted at core's label positions.

        Zoomed out (the whole film on screen), only the HKA and its class are written beside each knee, on
        the lateral side, so the two legs' labels do not pile up; zoom in for every angle at its vertex.
        Where each label finally goes is decided by the canvas (:meth:`label_requests`).
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
        wanted: dict[str, tuple[float, float, float, float]] = {}
        ankle = None
        if "malleolus_lateral" in (leg.landmarks if leg else {}) and "malleolus_medial" in leg.landmarks:
            a, b = leg.landmarks["malleolus_lateral"], leg.landmarks["malleolus_medial"]
            ankle = ((a.x + b.x) / 2.0, (a.y + b.y) / 2.0)
        for lab in labels:
            ti = self.angle_labels.get(lab.key)
            if ti is None:
                continue
            x, y = lab.x, lab.y
            text = lab.text
            if lab.key == "hka_deg" and leg.metrics.alignment is not None:
                text += f" {leg.metrics.alignment}"
            k = leg.landmarks.get("knee_center")
            vertex = ankle if lab.key == "mldta_deg" else ((k.x, k.y) if k is not None else (x, y))
            if self._zoomed_out:
                if lab.key != "hka_deg":
                    continue
                lateral = -1.0 if self.side == "right" else 1.0  # image x of the patient's lateral side
                x, y = k.x + lateral * offset * 0.6, k.y
            if ti.toPlainText() != text:
                ti.setText(text, color=self.color)
            wanted[lab.key] = (x, y, vertex[0], vertex[1]) if vertex else (x, y, x, y)
        self._angle_wanted = wanted
        self._request_layout()

    # ------------------------------------------------------------------ label placement (by the canvas)
    def label_requests(self, to_screen) -> list[tuple[LabelRequest, pg.TextItem]]:
        """This leg's labels to place: ``to_screen(x, y)`` maps image pixels to screen pixels.

        Zoomed out, the HKA label is the one that must show (the others are optional there); zoomed in every
        angle must show and a landmark's code is left out when there is no free place for it.
        """
        out: list[tuple[LabelRequest, pg.TextItem]] = []
        for key, (x, y, vx, vy) in self._angle_wanted.items():
            ti = self.angle_labels[key]
            size = _text_size(ti)
            anchor = to_screen(vx, vy)
            pref = to_screen(x, y)
            if self._zoomed_out:  # beside the knee on the lateral side: the label's inner edge at the point
                lateral = -1.0 if self.side == "right" else 1.0
                pref = (pref[0] + lateral * size[0] / 2.0, pref[1])
            out.append((LabelRequest((self.side, key), anchor, pref, size, ANGLE_PRIORITY.get(key, 9),
                                     optional=False), ti))
        pts = self.doc.points(self.side) if self.doc.case else {}
        for i, lm in enumerate(self.targets):
            p = pts.get(lm)
            if p is None or not self.wants_name(lm):
                continue
            ti = self.name_labels[lm]
            w, h = _text_size(ti)
            ax, ay = to_screen(p.x, p.y)
            gap = self.targets[lm].scale / 2.0 + 2.0
            selected = lm == self.selected
            out.append((LabelRequest((self.side, lm), (ax, ay), (ax + gap + w / 2.0, ay - gap - h / 2.0), (w, h),
                                     0.0 if selected else 10.0 + i, optional=not selected), ti))
        return out

    def label_items(self) -> list[pg.TextItem]:
        return [*self.angle_labels.values(), *self.name_labels.values()]

    def marker_points(self) -> list[tuple[float, float, float]]:
        """``(x, y, radius in screen px)`` of every marker drawn (obstacles for labels)."""
        pts = self.doc.points(self.side) if self.doc.case else {}
        return [(pts[lm].x, pts[lm].y, t.scale / 2.0 + 1.0) for lm, t in self.targets.items()
                if t.isVisible() and lm in pts]

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


def _cache_text(ti: pg.TextItem) -> None:
    """Draw a label from a pixmap of it (re-rendered only when its text or the zoom changes): a label that
    only moves, as they all do on a drag step, is copied, not typeset again on each repaint."""
    mode = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
    ti.setCacheMode(mode)
    ti.textItem.setCacheMode(mode)


def _text_size(ti: pg.TextItem) -> tuple[float, float]:
    """Width and height of a text label in screen pixels (it is drawn unscaled)."""
    r = ti.textItem.boundingRect()
    return (math.ceil(r.width()), math.ceil(r.height()))
