"""The live preview of an osteotomy plan: the distal fragment of the image turned about the hinge.

A downsampled, display-windowed, tinted copy of the leg below the osteotomy line (masked to a corridor around
the knee-ankle line, so the other leg and the image border stay out of it), shown semi-transparent with the
plan's affine transform from :func:`llm_viewer.core.planning.simulate`. It computes no measurement.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

from ..core.planning import OsteotomyPlan, PlanResult, bone

PREVIEW_OPACITY = 0.6
PREVIEW_TINT = np.array([0.55, 1.0, 0.8])
PREVIEW_MAX_PIXELS = 600_000
"""The preview of the distal fragment is a copy of the image downsampled to at most this many pixels."""


class FragmentPreview:
    """The preview's image item on ``canvas`` (its view box) for the document ``doc``."""

    def __init__(self, doc, canvas) -> None:
        self.doc, self.canvas = doc, canvas
        self.item = pg.ImageItem()
        self.item.setOpacity(PREVIEW_OPACITY)
        self.item.setZValue(5)
        canvas.vb.addItem(self.item)
        self.step = 1
        """Downsampling step of the last crop (image pixels per preview pixel)."""
        self._preview_key = None
        self._preview_gray: np.ndarray | None = None
        self._crop_cache: tuple[np.ndarray, int, int, int] | None = None

    def invalidate(self) -> None:
        """Forget the cached crop (the display window or the image changed)."""
        self._preview_key = None
        self._preview_gray = None

    def _crop(self, side: str, which: str) -> tuple[np.ndarray, int, int, int] | None:
        """The display-windowed (uint8) downsampled crop of the leg below the joint (cached)."""
        pts = self.doc.points(side)
        key = (side, which, self.canvas.center, self.canvas.width, self.canvas.inverted,
               tuple(sorted((k, round(p.x), round(p.y)) for k, p in pts.items())))
        if key == self._preview_key and self._preview_gray is not None:
            return self._crop_cache
        pixels = getattr(self.doc.image, "pixels", None)
        if pixels is None or not pts:
            return None
        h, w = pixels.shape[:2]
        spacing = self.doc.pixel_spacing_mm
        mm = 1.0 / spacing[1] if spacing else max(w, h) / 1000.0
        ids = ("femoral_condyle_lateral", "femoral_condyle_medial", "knee_center", "tibial_plateau_lateral",
               "tibial_plateau_medial", "malleolus_lateral", "malleolus_medial")
        xs = [pts[k].x for k in ids if k in pts]
        ys = [pts[k].y for k in ids if k in pts]
        top = min(ys) - (150 if which == "dfo" else 40) * mm
        x0, x1 = int(max(min(xs) - 70 * mm, 0)), int(min(max(xs) + 70 * mm, w))
        y0, y1 = int(max(top, 0)), int(min(max(ys) + 40 * mm, h))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        k = max(1, math.ceil(math.sqrt((x1 - x0) * (y1 - y0) / PREVIEW_MAX_PIXELS)))
        sub = np.asarray(pixels[y0:y1:k, x0:x1:k], dtype=np.float32)
        if sub.ndim == 3:
            sub = sub.mean(axis=2)
        lo = self.canvas.center - self.canvas.width / 2
        gray = np.clip((sub - lo) * (255.0 / max(self.canvas.width, 1e-6)), 0, 255).astype(np.uint8)
        if self.canvas.inverted:
            gray = 255 - gray
        self._preview_key, self._preview_gray = key, gray
        self._crop_cache = (gray, x0, y0, k)
        self.step = k
        return self._crop_cache

    def update(self, plan: OsteotomyPlan, res: PlanResult) -> None:
        """Show the distal fragment of ``plan`` turned by ``res`` (hidden when there is nothing to show)."""
        crop = self._crop(plan.side, bone(plan.method)) if res.affine_px else None
        if crop is None:
            self.item.setVisible(False)
            return
        gray, ix0, iy0, k = crop
        # cell i shows pixel ix0 + k·i, whose centre is at ix0 + k·i (the spec's pixel-centre convention): the
        # cells' edges start half a cell before it
        x0, y0 = ix0 - 0.5 * k, iy0 - 0.5 * k
        gh, gw = gray.shape
        (hx, hy), (px, py) = res.distal_cut_px
        pts = self.doc.points(plan.side)
        ax = (pts["malleolus_lateral"].x + pts["malleolus_medial"].x) / 2
        ay = (pts["malleolus_lateral"].y + pts["malleolus_medial"].y) / 2
        nx, ny = -(py - hy), px - hx
        if nx * (ax - hx) + ny * (ay - hy) < 0:
            nx, ny = -nx, -ny
        xs = x0 + k * (np.arange(gw) + 0.5)
        ys = y0 + k * (np.arange(gh) + 0.5)
        distal = (nx * (xs[None, :] - hx) + ny * (ys[:, None] - hy)) > 0
        distal &= self._corridor(pts, xs, ys, bone(plan.method))
        rgba = np.empty((gh, gw, 4), np.uint8)
        rgba[..., :3] = (gray[..., None] * PREVIEW_TINT).astype(np.uint8)  # tinted: the moved bone stands out
        rgba[..., 3] = np.where(distal, 255, 0).astype(np.uint8)
        self.item.setImage(rgba, autoLevels=False, levels=(0, 255))
        a = res.affine_px
        self.item.setTransform(QtGui.QTransform(
            a[0][0] * k, a[1][0] * k, a[0][1] * k, a[1][1] * k,
            a[0][0] * x0 + a[0][1] * y0 + a[0][2], a[1][0] * x0 + a[1][1] * y0 + a[1][2]))
        self.item.setVisible(True)

    def _corridor(self, pts, xs: np.ndarray, ys: np.ndarray, which: str) -> np.ndarray:
        """Pixels near the bone that moves (knee -> ankle; a DFO from above the cut): the preview shows the
        leg, not the neighbouring leg or the image border."""
        k, a0, a1 = pts.get("knee_center"), pts.get("malleolus_lateral"), pts.get("malleolus_medial")
        pl, pm = pts.get("tibial_plateau_lateral"), pts.get("tibial_plateau_medial")
        if k is None or a0 is None or a1 is None or pl is None or pm is None:
            return np.ones((len(ys), len(xs)), bool)
        half = 0.75 * math.hypot(pl.x - pm.x, pl.y - pm.y)
        start = np.array([k.x, k.y])
        end = np.array([(a0.x + a1.x) / 2, (a0.y + a1.y) / 2])
        head = pts.get("femoral_head")
        if which == "dfo" and head is not None:
            up = np.array([head.x, head.y]) - start
            start = start + up * min(1.0, 2.0 * half / max(float(np.hypot(*up)), 1e-6))
        seg = end - start
        t = ((xs[None, :] - start[0]) * seg[0] + (ys[:, None] - start[1]) * seg[1]) / max(float(seg @ seg), 1e-9)
        t = np.clip(t, 0.0, 1.0)
        dx = xs[None, :] - (start[0] + t * seg[0])
        dy = ys[:, None] - (start[1] + t * seg[1])
        return dx * dx + dy * dy <= half * half
