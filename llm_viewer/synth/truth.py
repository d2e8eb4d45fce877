"""Ground truth that comes from the model, never from pixels: the femoral diaphysis mask and ROI boxes.

Diaphysis mask rule (the paper's definition made exact): the mask covers the femoral shaft from the
lesser trochanter down to a horizontal cut through the diaphysis landmark D. Its most distal row is
``D.y`` (an integer) and the mask's pixels in that row run from ``x0`` to ``x1`` with
``(x0 + x1) / 2 = D.x``. So "midpoint of the most distal cross-section" recovers D exactly:

    y = max row with any mask pixel;  xs = columns set in row y;  D = ((xs.min() + xs.max()) / 2, y)
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .anatomy import FemurFrame
from .geometry import LegGeometry


def diaphysis_mask(g: LegGeometry, fr: FemurFrame, width_px: int, height_px: int, spacing_mm: float) -> np.ndarray:
    """Full-resolution ``uint8`` mask (0/255) of the femoral diaphysis of one leg.

    Parameters
    ----------
    g, fr : LegGeometry, FemurFrame
        The leg and its femur frame (the same shapes the renderer draws).
    width_px, height_px : int
    spacing_mm : float

    Returns
    -------
    numpy.ndarray
        ``(height_px, width_px)`` uint8; see the module docstring for the rule tying it to D.
    """
    Dx, Dy = float(g.D_px[0]), int(g.D_px[1])
    hw = fr.shaft_half_width_mm
    t_top = max(0.0, 55.0 * g.params.bone_scale - fr.shaft_start_t)  # just below the lesser trochanter
    ts = np.linspace(t_top, fr.d_t_mm + 3.0 * hw, 40)

    def half_width(t: np.ndarray) -> np.ndarray:
        return hw * (1.0 - 0.06 * np.sin(math.pi * np.clip(t / fr.d_t_mm, 0, 1)))

    centre = np.array([fr.axis_point(float(t)) for t in ts]) + np.outer(fr.bow(ts), fr.lat)
    hwt = half_width(ts)
    left = centre - np.outer(hwt, fr.lat)
    right = centre + np.outer(hwt, fr.lat)
    poly_mm = np.vstack([left, right[::-1]])
    poly = np.round(poly_mm / spacing_mm * 16.0).astype(np.int32)
    mask = np.zeros((height_px, width_px), dtype=np.uint8)
    cv2.fillPoly(mask, [poly], 255, lineType=cv2.LINE_8, shift=4)
    mask[max(0, Dy):, :] = 0
    # the distal row: symmetric about D.x (a multiple of 0.5), as wide as the shaft cut by that row
    tilt = abs(fr.up[0])
    w = hw / math.sqrt(max(1e-6, 1.0 - tilt * tilt)) / spacing_mm
    if Dx == math.floor(Dx):
        k = max(1, int(round(w)))
        x0, x1 = int(Dx) - k, int(Dx) + k
    else:
        k = max(1, int(round(w - 0.5)))
        x0, x1 = int(math.floor(Dx)) - k, int(math.ceil(Dx)) + k
    if 0 <= Dy < height_px and x0 >= 0 and x1 < width_px:
        mask[Dy, x0:x1 + 1] = 255
    return mask


def mask_landmark(mask: np.ndarray) -> tuple[float, float] | None:
    """Midpoint of the most distal row of a mask (the paper's diaphysis landmark); ``None`` when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    y = int(rows[-1])
    xs = np.flatnonzero(mask[y])
    return (float(xs[0] + xs[-1]) / 2.0, float(y))


def _box(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> list[float]:
    return [float(max(0.0, x0)), float(max(0.0, y0)), float(min(w - 1.0, x1)), float(min(h - 1.0, y1))]


def roi_boxes(g: LegGeometry, mask: np.ndarray, width_px: int, height_px: int, spacing_mm: float
              ) -> list[dict]:
    """The four boxes an annotator draws on one leg (hip, diaphysis, knee, ankle), in pixels.

    Returns
    -------
    list of dict
        ``{"side", "region", "box_px": [x0, y0, x1, y1], "score": 1.0}``, clipped to the image.
    """
    px = 1.0 / spacing_mm
    r = g.params.head_radius_mm
    H = g.H * px
    hip_half = 2.0 * r * px
    lat_shift = 0.5 * r * px * g.lat[0]
    boxes = {"hip": _box(H[0] - hip_half + lat_shift, H[1] - hip_half, H[0] + hip_half + lat_shift,
                         H[1] + hip_half + 0.4 * r * px, width_px, height_px)}
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size:
        cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
        m = 8.0 * px
        boxes["diaphysis"] = _box(cols[0] - m, rows[0] - m, cols[-1] + m, rows[-1] + m, width_px, height_px)
    knee = np.array([g.CL, g.CM, g.PL, g.PM, g.K]) * px
    boxes["knee"] = _box(knee[:, 0].min() - 14 * px, g.K[1] * px - 38 * px, knee[:, 0].max() + 14 * px,
                         knee[:, 1].max() + 32 * px, width_px, height_px)
    ank = np.array([g.ML, g.MM]) * px
    A = g.A * px
    boxes["ankle"] = _box(ank[:, 0].min() - 16 * px, A[1] - 42 * px, ank[:, 0].max() + 16 * px, A[1] + 26 * px,
                          width_px, height_px)
    return [{"side": g.side, "region": reg, "box_px": boxes[reg], "score": 1.0}
            for reg in ("hip", "diaphysis", "knee", "ankle") if reg in boxes]
