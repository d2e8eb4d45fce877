"""The radiograph canvas: full-resolution image, zoom/pan, window/level, and the per-leg overlays.

Mouse: wheel zooms, left-drag pans (or moves a landmark when it starts on one), right-drag changes
window (horizontal) and level (vertical), a left click places the selected missing landmark.
Keys: arrows nudge the selected landmark (Shift ×10), Tab / Shift+Tab select the next / previous one (the
main window handles these keys wherever the focus is in the window, except in a text field).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.labels import marker_rect, place_labels
from ..core.landmarks import REGION_LANDMARKS, SIDES
from .document import Document
from .overlays import LegOverlay
from .proposals import ProposalLayer
from .state import dragged_window
from .targets import GRAB_RADIUS_PX

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

ZOOM_REGIONS: tuple[str, ...] = ("hip", "knee", "ankle")
MAGNIFIER_PX = 160
"""Side of the magnifier shown under the cursor while placing a point (screen pixels)."""
MAGNIFIER_ZOOM = 4.0
LIVE_LAYOUT_MS = 45
"""While a point is dragged the labels are laid out again (no overlaps, leader lines) at most this often; in
between they follow the points they name. The layout after the drag is exact, as for any other change."""
_REGION_FRACTIONS = {"hip": (0.0, 0.25), "diaphysis": (0.2, 0.42), "knee": (0.4, 0.62), "ankle": (0.8, 1.0)}


class RadiographViewBox(pg.ViewBox):
    """ViewBox with window/level on right-drag and click reporting in image coordinates."""

    sigWindowDrag = QtCore.Signal(float, float)
    sigImageClicked = QtCore.Signal(float, float)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - Qt API
        if ev.button() == QtCore.Qt.MouseButton.RightButton:
            ev.accept()
            d = ev.screenPos() - ev.lastScreenPos()
            self.sigWindowDrag.emit(float(d.x()), float(d.y()))
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802 - Qt API
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self.sigImageClicked.emit(float(p.x()), float(p.y()))
            return
        ev.ignore()


class Canvas(pg.GraphicsView):
    """Image + overlays of one document.

    Signals
    -------
    sigNudge(dx, dy)
        Arrow key on the canvas, in image pixels.
    sigCycle(step)
        Tab (+1) / Shift+Tab (-1).
    sigWindowChanged(center, width)
        The display window changed (mouse or preset).
    """

    sigNudge = QtCore.Signal(float, float)
    sigCycle = QtCore.Signal(int)
    sigWindowChanged = QtCore.Signal(float, float)

    def __init__(self, doc: Document, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, background="#101010")
        self.doc = doc
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.vb = RadiographViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(autoDownsample=True)
        # The image is re-rendered only when the view or the levels change: during a drag Qt blits the cached
        # device pixmap instead of re-scaling a 22-megapixel image on every repaint.
        self.image_item.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # Landmarks are at pixel centres, pixel (0, 0) centred on [0, 0] (the spec): the image's top-left corner is
        # at (-0.5, -0.5), so a point drawn at [x, y] sits on the centre of pixel x, y (and a click there gives x, y).
        self.image_item.setPos(-0.5, -0.5)
        self.vb.addItem(self.image_item)
        self.overlays = {side: LegOverlay(doc, side, self.vb) for side in SIDES}
        self._layout_timer = QtCore.QTimer(self)
        self._layout_timer.setSingleShot(True)
        self._layout_timer.setInterval(0)  # once per pass of the event loop, however many changes came
        self._layout_timer.timeout.connect(self._layout_pass)
        self._full_layout_timer = QtCore.QTimer(self)
        self._full_layout_timer.setSingleShot(True)
        self._full_layout_timer.setInterval(LIVE_LAYOUT_MS)
        self._full_layout_timer.timeout.connect(self.layout_labels)
        self._placed: dict | None = None
        """Key -> (preferred, anchor, centre, leader) of the last layout (screen px): what a drag step follows."""
        self.magnifier = self._build_magnifier()
        self.placing = lambda: False
        """Set by the window: True while a click places a point (a missing one selected, a tool active); a
        click on a marker then goes to the image."""
        for ov in self.overlays.values():
            ov.layout_hook = self._layout_timer.start
            for t in ov.targets.values():
                t.click_through = lambda: self.placing()
        self.placements: dict = {}
        """The last label placement: ``(side, key) -> labels.Placement`` (screen pixels)."""
        self.proposals = ProposalLayer(doc, self.vb)
        self.center = 0.5
        self.width = 1.0
        self.value_range: tuple[float, float] | None = None
        self.default_window: tuple[float, float] = (0.5, 1.0)
        self.inverted = False
        self._shape: tuple[int, int] | None = None
        self.vb.sigWindowDrag.connect(self._on_window_drag)
        self.vb.sigRangeChanged.connect(self._on_range_changed)

    def _on_range_changed(self, *_args) -> None:
        self._placed = None  # screen positions of the last layout are stale: the next pass lays out again
        for ov in self.overlays.values():
            ov.on_view_changed()

    # ------------------------------------------------------------------ labels
    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        """Image pixels -> screen (scene) pixels."""
        p = self.vb.mapViewToScene(QtCore.QPointF(x, y))
        return (p.x(), p.y())

    def _view_scene_maps(self):
        """``(view -> scene, scene -> view)`` point functions from one snapshot of the view's transform.

        The same mapping as ``vb.mapViewToScene`` / ``mapSceneToView``, without their per-call matrix checks
        and ``QPointF`` round trips (a label layout maps ~60 points on every drag step)."""
        self.vb.updateMatrix()
        fwd = self.vb.childGroup.sceneTransform()
        inv, ok = fwd.inverted()
        if not ok:  # degenerate view (not laid out yet): the ViewBox's own mapping copes
            return self.to_screen, lambda x, y: (lambda p: (p.x(), p.y()))(
                self.vb.mapSceneToView(QtCore.QPointF(x, y)))
        m = (fwd.m11(), fwd.m12(), fwd.m21(), fwd.m22(), fwd.dx(), fwd.dy())
        n = (inv.m11(), inv.m12(), inv.m21(), inv.m22(), inv.dx(), inv.dy())

        def to_scene(x: float, y: float) -> tuple[float, float]:
            return (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])

        def to_view(x: float, y: float) -> tuple[float, float]:
            return (n[0] * x + n[2] * y + n[4], n[1] * x + n[3] * y + n[5])

        return to_scene, to_view

    def layout_labels(self) -> dict:
        """Place the labels of both legs together: none covers another label or any marker; a moved label
        gets a leader line to what it names; a landmark code with no free place is left out.

        Runs once per pass of the event loop after a change (at most every LIVE_LAYOUT_MS while a point is
        dragged, :meth:`follow_labels` in between) and touches only what changed: a label is moved only when
        its place changed, the leader lines are re-set only when they changed."""
        self._layout_timer.stop()
        self._full_layout_timer.stop()
        to_screen, to_view = self._view_scene_maps()
        requests, items = [], {}
        obstacles = []
        for ov in self.overlays.values():
            for req, ti in ov.label_requests(to_screen):
                requests.append(req)
                items[req.key] = (ov, ti)
            for x, y, r in ov.marker_points():
                sx, sy = to_screen(x, y)
                obstacles.append(marker_rect(sx, sy, r))
        area = self.vb.sceneBoundingRect()
        placements = place_labels(requests, obstacles, (area.left(), area.top(), area.right(), area.bottom()))
        shown = set()
        for ov in self.overlays.values():
            ov.name_fits.clear()
        wanted = {req.key: (req.preferred, req.anchor) for req in requests}
        self._placed = {}
        for key, pl in placements.items():
            ov, ti = items[key]
            if key[1] in ov.name_labels:
                ov.name_fits[key[1]] = pl.visible
            if pl.visible:
                shown.add(id(ti))
                self._placed[key] = (*wanted[key], pl.center, pl.leader)
        self._show_placed(items, to_view)
        for ov in self.overlays.values():
            for ti in ov.label_items():
                on = id(ti) in shown
                if ti.isVisible() != on:
                    ti.setVisible(on)
        self.placements = placements
        return placements

    def _layout_pass(self) -> None:
        """A drag step moves the labels with what they name (a full layout follows within LIVE_LAYOUT_MS);
        any other change lays them out at once."""
        if self.doc.previewing and self._placed is not None:
            self.follow_labels()
            if not self._full_layout_timer.isActive():
                self._full_layout_timer.start()
            return
        self.layout_labels()

    def follow_labels(self) -> None:
        """Move each label of the last layout (and its leader line) by how far its preferred place (and what
        it names) moved since: no new layout, so a drag step costs a few setPos calls."""
        self._layout_timer.stop()
        to_screen, to_view = self._view_scene_maps()
        items, placed = {}, {}
        for ov in self.overlays.values():
            for req, ti in ov.label_requests(to_screen):
                items[req.key] = (ov, ti)
                old = (self._placed or {}).get(req.key)
                if old is None:
                    continue
                (px, py), (ax, ay), (cx, cy), leader = old
                dx, dy = req.preferred[0] - px, req.preferred[1] - py
                if leader is not None:
                    ex, ey = req.anchor[0] - ax, req.anchor[1] - ay
                    leader = (leader[0] + ex, leader[1] + ey, leader[2] + dx, leader[3] + dy)
                placed[req.key] = (req.preferred, req.anchor, (cx + dx, cy + dy), leader)
        self._placed = placed
        self._show_placed(items, to_view)

    def _show_placed(self, items: dict, to_view) -> None:
        """Put the labels of ``self._placed`` where it says and draw their leader lines (only what changed)."""
        leaders: dict[str, tuple[list[float], list[float]]] = {s: ([], []) for s in self.overlays}
        for key, (_pref, _anchor, center, leader) in (self._placed or {}).items():
            ov, ti = items[key]
            vx, vy = to_view(*center)
            pos = ti.pos()
            if abs(pos.x() - vx) > 1e-9 or abs(pos.y() - vy) > 1e-9:
                ti.setPos(vx, vy)
            if leader is not None:
                ax, ay = to_view(leader[0], leader[1])
                bx, by = to_view(leader[2], leader[3])
                xs, ys = leaders[ov.side]
                xs += [ax, bx]
                ys += [ay, by]
        for side, ov in self.overlays.items():
            xs, ys = leaders[side]
            if getattr(ov, "_leader_xy", None) != (xs, ys):
                ov._leader_xy = (xs, ys)
                ov.leaders.setData(xs, ys)
            if ov.leaders.isVisible() != bool(xs):
                ov.leaders.setVisible(bool(xs))

    # ------------------------------------------------------------------ grabbing
    def grab_candidate(self, sx: float, sy: float) -> tuple[str, str] | None:
        """The landmark a press at screen ``(sx, sy)`` grabs: the nearest of the selected leg's markers within
        the grab radius, else the nearest of any leg's (``None`` when no marker is that close)."""
        best: dict[bool, tuple[float, tuple[str, str]]] = {}
        for side, ov in self.overlays.items():
            pts = self.doc.points(side) if self.doc.case else {}
            for lm, t in ov.targets.items():
                p = pts.get(lm)
                if p is None or not t.isVisible():
                    continue
                tx, ty = self.to_screen(p.x, p.y)
                d = float(np.hypot(tx - sx, ty - sy))
                if d > max(GRAB_RADIUS_PX, t.scale / 2.0):
                    continue
                own = ov.selected is not None
                if own not in best or d < best[own][0]:
                    best[own] = (d, (side, lm))
        choice = best.get(True) or best.get(False)
        return None if choice is None else choice[1]

    # ------------------------------------------------------------------ magnifier (placing by hand)
    def _build_magnifier(self) -> QtWidgets.QLabel:
        lab = QtWidgets.QLabel(self.viewport())
        lab.setFixedSize(MAGNIFIER_PX, MAGNIFIER_PX)
        lab.setStyleSheet("border: 1px solid #7CFC00; background: black;")
        lab.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        lab.hide()
        return lab

    def update_magnifier(self, pos: QtCore.QPoint | None) -> bool:
        """While placing a point: the image around the cursor, enlarged MAGNIFIER_ZOOM times from the image's
        own pixels (windowed as displayed), beside the cursor. Hidden otherwise; True when shown."""
        img = self.image_item.image
        if pos is None or img is None or not self.placing():
            self.magnifier.hide()
            return False
        p = self.vb.mapSceneToView(self.mapToScene(pos))
        scale = max(float(abs(self.vb.viewPixelSize()[0])), 1e-6)  # image px per screen px
        half = max(2, int(round(MAGNIFIER_PX / (2.0 * MAGNIFIER_ZOOM) * scale)))
        x, y = int(round(p.x())), int(round(p.y()))
        h, w = img.shape[:2]
        x0, y0 = max(x - half, 0), max(y - half, 0)
        crop = np.asarray(img[y0:min(y + half, h), x0:min(x + half, w)], dtype=np.float32)
        if crop.size == 0:
            self.magnifier.hide()
            return False
        lo, hi = self._levels()
        u8 = np.clip((crop - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)
        if self.inverted:
            u8 = 255 - u8
        canvas = np.zeros((2 * half, 2 * half), np.uint8)
        canvas[y0 - (y - half):y0 - (y - half) + u8.shape[0], x0 - (x - half):x0 - (x - half) + u8.shape[1]] = u8
        canvas = np.ascontiguousarray(canvas)
        qimg = QtGui.QImage(canvas.data, canvas.shape[1], canvas.shape[0], canvas.shape[1],
                            QtGui.QImage.Format.Format_Grayscale8).copy()
        pix = QtGui.QPixmap.fromImage(qimg).scaled(MAGNIFIER_PX, MAGNIFIER_PX,
                                                  QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
                                                  QtCore.Qt.TransformationMode.FastTransformation)
        painter = QtGui.QPainter(pix)
        painter.setPen(QtGui.QPen(QtGui.QColor("#7CFC00"), 1))
        c = MAGNIFIER_PX // 2
        painter.drawLine(c - 12, c, c - 3, c)
        painter.drawLine(c + 3, c, c + 12, c)
        painter.drawLine(c, c - 12, c, c - 3)
        painter.drawLine(c, c + 3, c, c + 12)
        painter.end()
        self.magnifier.setPixmap(pix)
        vp = self.viewport().rect()
        mx = pos.x() + 24 if pos.x() + 24 + MAGNIFIER_PX < vp.width() else pos.x() - 24 - MAGNIFIER_PX
        my = pos.y() - 24 - MAGNIFIER_PX if pos.y() - 24 - MAGNIFIER_PX > 0 else pos.y() + 24
        self.magnifier.move(mx, my)
        self.magnifier.show()
        self.magnifier.raise_()
        return True

    def mouseMoveEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt API
        self.update_magnifier(ev.position().toPoint())
        super().mouseMoveEvent(ev)

    def leaveEvent(self, ev: QtCore.QEvent) -> None:  # noqa: N802 - Qt API
        self.magnifier.hide()
        super().leaveEvent(ev)

    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt API
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            scene = self.mapToScene(ev.position().toPoint())
            choice = self.grab_candidate(scene.x(), scene.y())
            for side, ov in self.overlays.items():  # the one to grab is on top, where grab areas overlap
                for lm, t in ov.targets.items():
                    t.setZValue(21 if (side, lm) == choice else 20)
        super().mousePressEvent(ev)

    # ------------------------------------------------------------------ image
    def show_image(self, pixels: np.ndarray, spacing_mm: tuple[float, float] | None, center: float,
                   width: float, value_range: tuple[float, float] | None = None) -> None:
        """Upload the image once; later window changes only touch the levels.

        ``value_range`` (the image's lowest and highest value, from the loading worker) sets the right-drag's
        sensitivity; without it the current window's levels stand in.
        """
        self.center, self.width = float(center), max(float(width), 1e-6)
        self.default_window = (self.center, self.width)
        self.value_range = (float(value_range[0]), float(value_range[1])) if value_range else None
        self.image_item.setImage(pixels, autoLevels=False, levels=self._levels())
        self._shape = (int(pixels.shape[0]), int(pixels.shape[1]))
        self.set_spacing(spacing_mm)
        self.fit()

    def clear_image(self) -> None:
        self.image_item.clear()
        self._shape = None

    def set_spacing(self, spacing_mm: tuple[float, float] | None) -> None:
        """Lock the aspect ratio so that non-square pixels look right (x scale / y scale = col / row)."""
        ratio = 1.0 if not spacing_mm else float(spacing_mm[1]) / float(spacing_mm[0])
        self.vb.setAspectLocked(True, ratio=ratio)

    def _levels(self) -> tuple[float, float]:
        lo, hi = self.center - self.width / 2.0, self.center + self.width / 2.0
        return (lo, hi)

    def set_window(self, center: float, width: float) -> None:
        self.center, self.width = float(center), max(float(width), 1e-6)
        self.image_item.setLevels(self._levels())
        self.sigWindowChanged.emit(self.center, self.width)

    def set_inverted(self, inverted: bool) -> None:
        self.inverted = bool(inverted)
        lut = np.arange(255, -1, -1, dtype=np.uint8) if inverted else None
        self.image_item.setLookupTable(lut)

    def _on_window_drag(self, dx: float, dy: float) -> None:
        # Linear in the image's value range (1000 px sweep it): no compounding, no black-out.
        self.set_window(*dragged_window(self.center, self.width, dx, dy, self.value_range or self._levels()))

    def reset_window(self) -> None:
        """Back to the image's default window (the DICOM VOI, else its full range)."""
        self.set_window(*self.default_window)

    # ------------------------------------------------------------------ navigation
    def fit(self) -> None:
        if self._shape is None:
            return
        h, w = self._shape
        self.vb.setRange(QtCore.QRectF(-0.5, -0.5, w, h), padding=0.01)

    def is_visible(self, x: float, y: float, margin: float = 0.03) -> bool:
        """Whether image point ``(x, y)`` is on screen (at least ``margin`` of the view inside its edge)."""
        r = self.vb.viewRect()
        mx, my = r.width() * margin, r.height() * margin
        return r.left() + mx <= x <= r.right() - mx and r.top() + my <= y <= r.bottom() - my

    def ensure_visible(self, x: float, y: float) -> bool:
        """Pan (keeping the zoom) so that ``(x, y)`` is in the centre when it is off screen; True if it panned."""
        if self._shape is None or self.is_visible(x, y):
            return False
        r = self.vb.viewRect()
        self.vb.setRange(QtCore.QRectF(x - r.width() / 2, y - r.height() / 2, r.width(), r.height()), padding=0.0)
        return True

    def zoom(self, factor: float) -> None:
        self.vb.scaleBy((1.0 / factor, 1.0 / factor))

    def zoom_to(self, side: str, region: str, context: float = 1.0) -> None:
        """Zoom to the hip, knee or ankle of one leg (landmarks if placed, else the ROI, else a guess);
        ``context`` > 1 shows that much more around the placed points (placing a missing one beside them)."""
        if self._shape is None:
            return
        h, w = self._shape
        pts = [p for lm, p in self.doc.points(side).items() if lm in REGION_LANDMARKS.get(region, ())]
        rois = [r["box_px"] for r in (self.doc.case.rois if self.doc.case else [])
                if r.get("side") == side and r.get("region") == region]
        if pts:
            xs, ys = [p.x for p in pts], [p.y for p in pts]
            cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
            half = max(max(xs) - min(xs), max(ys) - min(ys)) / 2
        elif rois:
            x0, y0, x1, y1 = rois[0]
            cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2
        else:
            f0, f1 = _REGION_FRACTIONS.get(region, (0.0, 1.0))
            cx = w * (0.25 if side == "right" else 0.75)
            cy = h * (f0 + f1) / 2
            half = h * (f1 - f0) / 2
        spacing = self.doc.pixel_spacing_mm
        # at least 12 cm across (uncalibrated: about as much of a full-length film, 12 % of its height)
        min_half = (60.0 / spacing[1]) if spacing else max(w * 0.1, h * 0.06)
        half = max(half * 1.6, min_half) * (max(float(context), 1.0) if pts else 1.0)
        self.vb.setRange(QtCore.QRectF(cx - half, cy - half, 2 * half, 2 * half), padding=0.0)

    # ------------------------------------------------------------------ keys
    def event(self, ev: QtCore.QEvent) -> bool:  # noqa: D401 - Tab must not move the focus away
        if ev.type() == QtCore.QEvent.Type.KeyPress and ev.key() in (QtCore.Qt.Key.Key_Tab,
                                                                     QtCore.Qt.Key.Key_Backtab):
            back = ev.key() == QtCore.Qt.Key.Key_Backtab or bool(
                ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier)
            self.sigCycle.emit(-1 if back else 1)
            return True
        return super().event(ev)

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802 - Qt API
        steps = {QtCore.Qt.Key.Key_Left: (-1, 0), QtCore.Qt.Key.Key_Right: (1, 0),
                 QtCore.Qt.Key.Key_Up: (0, -1), QtCore.Qt.Key.Key_Down: (0, 1)}
        if ev.key() in steps:
            k = 10.0 if ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier else 1.0
            dx, dy = steps[ev.key()]
            self.sigNudge.emit(dx * k, dy * k)
            ev.accept()
            return
        super().keyPressEvent(ev)
