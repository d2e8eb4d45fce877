"""Things in the beam that are not the patient: implants (coarse canvas) and, at full resolution, the
radiopaque ruler, the 25 mm calibration ball and the lead L/R marker.

Implants occlude bone but never move a landmark: the femoral head landmark of a hip replacement is the
centre of the prosthetic head (placed on H), a knee replacement sits on the same joint lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .anatomy import FemurFrame, perp_towards
from .geometry import LegGeometry
from .primitives import F32, Canvas, Layer, curve, ellipse_points, ellipsoid, polygon, smooth_closed, tube

MU_STEEL = 0.42
MU_COCR = 0.55
MU_TITANIUM = 0.14
MU_LEAD = 2.5


def render_knee_implant(canvas: Canvas, g: LegGeometry) -> None:
    """Total knee: femoral component over the condyles (with its notch box) and tibial tray with keel."""
    s = g.params.bone_scale
    L = Layer(canvas)
    J = g.K - g.notch_height_mm * g.n_c
    wl, wm = 40.0 * s, 41.0 * s

    def C(x: float, y: float) -> np.ndarray:
        return J + x * s * g.e_c + y * s * g.n_c

    # femoral component: runners that follow the rounded condyles, the intercondylar box with straight
    # walls, and the straight proximal edge of the anterior flange with rounded corners
    outer = [C(0.0, 34.0), C(30.0, 33.5), C(37.5, 31.5), C(wl / s, 26.0), C(wl / s + 0.5, 14.0), C(38.0, 6.0),
             C(33.0, 1.5), C(26.0, -0.3), C(19.0, 0.6), C(14.0, 3.0), C(12.0, 5.0),
             C(10.5, 17.0), C(9.0, 18.0), C(-9.0, 18.0), C(-10.5, 17.0),
             C(-12.0, 5.0), C(-14.0, 3.0), C(-19.0, 0.6), C(-26.0, -0.3), C(-33.0, 1.5), C(-38.5, 6.0),
             C(-wm / s - 0.5, 14.0), C(-wm / s, 26.0), C(-38.0, 31.5), C(-30.0, 33.5)]
    polygon(L, smooth_closed(outer, 4), value=MU_COCR * 9.0, soften_mm=0.6)
    Pc = (g.PL + g.PM) / 2.0
    half = float(np.hypot(*(g.PM - g.PL))) / 2.0 - 1.5
    tray = [Pc - half * g.e_p + 0.5 * g.n_p, Pc + half * g.e_p + 0.5 * g.n_p, Pc + half * g.e_p + 4.5 * g.n_p,
            Pc - half * g.e_p + 4.5 * g.n_p]
    polygon(L, tray, value=MU_TITANIUM * 30.0, soften_mm=0.5)
    tube(L, Pc + 4.0 * g.n_p, g.d_t, [0.0, 35.0 * s, 42.0 * s], [8.0 * s, 5.5 * s, 0.0], [8.0, 8.0, 8.0],
         depth=1.0, mu_cortex=MU_TITANIUM, mu_inner=MU_TITANIUM)
    L.commit()


def render_hip_implant(canvas: Canvas, g: LegGeometry, fr: FemurFrame) -> None:
    """Total hip: acetabular cup, metal head centred on H, neck and a tapered stem down the canal."""
    p = g.params
    L = Layer(canvas)
    r = p.head_radius_mm
    inc = math.radians(42.0)
    # cup: hemispherical shell open infero-laterally
    opening = np.array([g.lat[0] * math.sin(inc), math.cos(inc)])  # infero-lateral, 42 deg inclination
    ellipsoid(L, g.H, [1.0, 0.0], r + 5.0, r + 5.0, r + 5.0, cortex=4.0, mu_cortex=MU_TITANIUM, mu_inner=0.0,
              clip=(g.H, -opening))
    ellipsoid(L, g.H, [1.0, 0.0], 14.0, 14.0, 14.0, cortex=0.5, mu_cortex=MU_COCR, mu_inner=MU_COCR)
    tube(L, g.H, fr.junction - g.H, [0.0, float(np.hypot(*(fr.junction - g.H))) + 10.0], [6.5, 9.0], [6.5, 9.0],
         depth=1.0, mu_cortex=MU_TITANIUM, mu_inner=MU_TITANIUM)
    tube(L, fr.junction + 15.0 * fr.up, -fr.up, [0.0, 20.0, 120.0, 138.0], [12.0, 11.0, 5.0, 0.0],
         [12.0, 11.0, 5.0, 1.0], depth=0.6, mu_cortex=MU_TITANIUM, mu_inner=MU_TITANIUM)
    L.commit()


def render_plate(canvas: Canvas, g: LegGeometry, fr: FemurFrame, rng: np.random.Generator) -> None:
    """A lateral plate with screws across the femoral or tibial shaft."""
    L = Layer(canvas)
    if g.params.plate == "femur":
        axis = -fr.up
        lat = fr.lat
        centre = g.D + rng.uniform(20.0, 90.0) * fr.up
        hw = fr.shaft_half_width_mm
    else:
        axis = g.d_t
        lat = perp_towards(g.d_t, g.lat)
        centre = (g.PL + g.PM) / 2.0 + rng.uniform(110.0, 220.0) * g.d_t
        hw = 14.0 * g.params.bone_scale
    length = float(rng.uniform(120.0, 220.0))
    start = centre - axis * length / 2.0 + (hw + 2.5) * lat
    tube(L, start, axis, [0.0, 2.0, length - 2.0, length], [0.0, 7.0, 7.0, 0.0], [7.0] * 4, depth=0.35,
         mu_cortex=MU_STEEL, mu_inner=MU_STEEL)
    n = int(rng.integers(5, 9))
    for i in range(n):
        at = start + axis * (12.0 + (length - 24.0) * i / max(1, n - 1))
        tip = at - lat * (2 * hw + 4.0)
        tube(L, at + lat * 3.0, tip - at, [0.0, 3.0, 4.0, float(np.hypot(*(tip - at))) + 3.0],
             [3.8, 3.8, 2.4, 1.0], [3.8, 3.8, 2.4, 1.0], depth=1.0, mu_cortex=MU_STEEL, mu_inner=MU_STEEL)
    L.commit()


def render_bracelet(canvas: Canvas, g: LegGeometry, rng: np.random.Generator) -> None:
    """An ankle bracelet: a metal ring seen obliquely around the lower calf."""
    L = Layer(canvas)
    c = g.A - float(rng.uniform(40.0, 80.0)) * g.d_t
    ring = ellipse_points(c, perp_towards(g.d_t, g.lat), 40.0, float(rng.uniform(4.0, 12.0)), n=48)
    curve(L, ring, 1.2, mu=MU_STEEL, closed=True)
    L.commit()


# ---------------------------------------------------------------------------------------- full resolution
@dataclass(frozen=True)
class OverlayBox:
    """Where an overlay was drawn (full-resolution pixels), reported in the case's ``synthetic`` block."""

    kind: str
    box_px: tuple[int, int, int, int]


def _add_patch(img: np.ndarray, x0: int, y0: int, patch: np.ndarray) -> tuple[int, int, int, int] | None:
    H, W = img.shape
    x1, y1 = x0 + patch.shape[1], y0 + patch.shape[0]
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    img[cy0:cy1, cx0:cx1] += patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    return (cx0, cy0, cx1, cy1)


def draw_ruler(img: np.ndarray, spacing_mm: float, x_px: float, y0_px: float, y1_px: float) -> OverlayBox | None:
    """A vertical radiopaque ruler: plastic strip, mm / 5 mm / cm ticks, numbers every 5 cm."""
    px = 1.0 / spacing_mm
    width = int(round(24.0 * px))
    h = int(y1_px - y0_px)
    if h <= 10 or width < 4:
        return None
    patch = np.full((h, width), F32(0.15), dtype=F32)  # plastic body
    tick = np.zeros((h, width), dtype=np.uint8)
    n_mm = int(h / px)
    for mm in range(n_mm + 1):
        y = int(round(mm * px))
        length = 14.0 if mm % 10 == 0 else (9.0 if mm % 5 == 0 else 5.0)
        thick = max(1, int(round(0.35 * px)))
        cv2.line(tick, (0, y), (int(round(length * px)), y), 255, thick, lineType=cv2.LINE_AA)
        if mm % 50 == 0 and mm > 0 and px >= 1.5:
            cv2.putText(tick, str(mm // 10), (int(round(10.0 * px)), y + int(3 * px)), cv2.FONT_HERSHEY_SIMPLEX,
                        6.0 * px / 22.0, 255, max(1, int(0.6 * px)), cv2.LINE_AA)
    patch += tick.astype(F32) * F32(MU_LEAD * 0.6 / 255.0)
    if px > 2:
        patch = cv2.GaussianBlur(patch, (0, 0), 0.6)
    box = _add_patch(img, int(round(x_px - width / 2)), int(round(y0_px)), patch)
    return None if box is None else OverlayBox("ruler", box)


def draw_ball(img: np.ndarray, spacing_mm: float, cx_px: float, cy_px: float, diameter_mm: float = 25.0
              ) -> OverlayBox | None:
    """A steel calibration sphere: projected chord length, crisp edge."""
    r = diameter_mm / 2.0 / spacing_mm
    n = int(math.ceil(r)) + 2
    ys, xs = np.mgrid[-n:n + 1, -n:n + 1].astype(F32)
    fx, fy = cx_px - round(cx_px), cy_px - round(cy_px)
    d2 = (xs - F32(fx)) ** 2 + (ys - F32(fy)) ** 2
    chord = 2.0 * np.sqrt(np.maximum(F32(r * r) - d2, F32(0.0))) * F32(spacing_mm)
    patch = np.minimum(chord * F32(MU_STEEL), F32(6.0))
    box = _add_patch(img, int(round(cx_px)) - n, int(round(cy_px)) - n, patch)
    return None if box is None else OverlayBox("calibration_ball", box)


def draw_marker(img: np.ndarray, spacing_mm: float, letter: str, cx_px: float, cy_px: float
                ) -> OverlayBox | None:
    """A lead letter in a square frame, about 20 mm tall."""
    px = 1.0 / spacing_mm
    size = int(round(26.0 * px))
    if size < 6:
        return None
    tile = np.zeros((size, size), dtype=np.uint8)
    th = max(1, int(round(1.2 * px)))
    cv2.rectangle(tile, (th, th), (size - 1 - th, size - 1 - th), 120, th)
    scale = 16.0 * px / 22.0
    thick = max(1, int(round(2.2 * px)))
    (tw, tht), _ = cv2.getTextSize(letter, cv2.FONT_HERSHEY_DUPLEX, scale, thick)
    cv2.putText(tile, letter, ((size - tw) // 2, (size + tht) // 2), cv2.FONT_HERSHEY_DUPLEX, scale, 255,
                thick, cv2.LINE_AA)
    patch = tile.astype(F32) * F32(MU_LEAD * 0.8 / 255.0)
    box = _add_patch(img, int(round(cx_px - size / 2)), int(round(cy_px - size / 2)), patch)
    return None if box is None else OverlayBox("marker", box)
