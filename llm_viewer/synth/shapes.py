"""Bones with anatomical outlines: projected thickness of a solid from a smooth closed outline.

A bone seen in AP projection is described by its outline (a closed Catmull-Rom spline through a few
anatomical control points, so condyles, trochanters and malleoli are continuous curves, not unions of
ellipses). Its projected thickness follows from the signed distance ``d`` to that outline: a solid whose
cross-section is rounded with local radius ``R`` has chord ``2 k R sqrt(1 − (1 − d/R)²)`` at distance
``d`` inside the edge (exactly the elliptical tube when ``R`` is the half-width), flat beyond ``d = R``.
The local radius is the medial-axis distance nearby (a grey dilation of ``d``), capped by the caller.
A cortical shell of thickness ``c`` is the same law applied to ``d − c``, so cortices come out bright
and the interior (trabecular or medullary) darker, as on a radiograph.

The outline is rasterised at twice the coarse resolution for the distance transform, so edges are placed
to about a quarter of a coarse pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .primitives import F32, Layer, smooth_closed


def smooth_profile(t_knots: Sequence[float], v_knots: Sequence[float], n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Dense knots of a monotone cubic (PCHIP-like) interpolant, for ``tube`` profiles without corners.

    Parameters
    ----------
    t_knots, v_knots : sequences
        Increasing positions and values.
    n : int
        Number of output knots.

    Returns
    -------
    (t, v) : numpy.ndarray
    """
    tk = np.asarray(t_knots, dtype=np.float64)
    vk = np.asarray(v_knots, dtype=np.float64)
    h = np.diff(tk)
    delta = np.diff(vk) / h
    m = np.zeros_like(vk)
    for i in range(1, len(vk) - 1):
        if delta[i - 1] * delta[i] > 0:
            w1, w2 = 2 * h[i] + h[i - 1], h[i] + 2 * h[i - 1]
            m[i] = (w1 + w2) / (w1 / delta[i - 1] + w2 / delta[i])
    m[0], m[-1] = delta[0], delta[-1]
    t = np.linspace(tk[0], tk[-1], n)
    idx = np.clip(np.searchsorted(tk, t, side="right") - 1, 0, len(tk) - 2)
    hh = h[idx]
    x = (t - tk[idx]) / hh
    h00, h10, h01, h11 = 2 * x**3 - 3 * x**2 + 1, x**3 - 2 * x**2 + x, -2 * x**3 + 3 * x**2, x**3 - x**2
    v = h00 * vk[idx] + h10 * hh * m[idx] + h01 * vk[idx + 1] + h11 * hh * m[idx + 1]
    return t, v


def signed_distance(layer: Layer, outline_mm: np.ndarray, pad_mm: float
                    ) -> tuple[slice, slice, np.ndarray] | None:
    """Signed distance (mm, positive inside) to a closed outline on the layer's coarse grid."""
    canvas = layer.canvas
    pts = np.asarray(outline_mm, dtype=np.float64)
    win = canvas.window(pts[:, 0].min() - pad_mm, pts[:, 0].max() + pad_mm, pts[:, 1].min() - pad_mm,
                        pts[:, 1].max() + pad_mm)
    if win is None:
        return None
    rows, cols, X, Y = win
    h, w = Y.shape[0], X.shape[1]
    # fine grid: 2x, its pixel (2i + 1/2 ± 1/2) averages back onto coarse pixel i
    off = np.array([cols.start, rows.start], dtype=np.float64)
    fine = (canvas.to_px(pts) - off) * 2.0 + 0.5
    cov = np.zeros((2 * h, 2 * w), dtype=np.uint8)
    cv2.fillPoly(cov, [np.round(fine * 16.0).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    mask = (cov >= 128).astype(np.uint8)
    # An image with no zero pixel gets FLT_MAX everywhere from distanceTransform (e.g. the outline lies
    # outside a window clipped at the canvas edge, so the mask is empty); averaged by the resize below
    # that overflows to -inf and the blur in outline_solid turns it into NaN. No true distance inside
    # the window exceeds its diagonal, so capping there changes nothing else.
    cap = F32(2.0 * (h + w) + 2.0)
    d_in = np.minimum(cv2.distanceTransform(mask, cv2.DIST_L2, 5), cap)
    d_out = np.minimum(cv2.distanceTransform(1 - mask, cv2.DIST_L2, 5), cap)
    sd = np.where(mask > 0, d_in - 0.5, 0.5 - d_out).astype(F32)
    # sub-pixel edge: the anti-aliased coverage of edge pixels gives their distance to the outline
    edge = (cov > 0) & (cov < 255)
    sd[edge] = cov[edge].astype(F32) * F32(1.0 / 255.0) - F32(0.5)
    sd = cv2.resize(sd, (w, h), interpolation=cv2.INTER_AREA) * F32(canvas.step_mm / 2.0)
    return rows, cols, sd


def _rounded(sd: np.ndarray, R: np.ndarray) -> np.ndarray:
    x = np.clip(sd / R, F32(0.0), F32(1.0))
    return np.sqrt(x * (F32(2.0) - x))


def outline_solid(layer: Layer, control_mm: Sequence[Sequence[float]], *, radius_mm: float, depth: float,
                  cortex_mm: float, mu_cortex: float, mu_inner: float, per_segment: int = 8,
                  smooth: bool = True, mode: str = "max") -> np.ndarray:
    """A bone piece whose AP outline is a smooth closed curve through ``control_mm``.

    Parameters
    ----------
    control_mm : (N, 2) sequence
        Control points of the outline (image mm), in order around it.
    radius_mm : float
        Largest rounding radius of the cross-section (the half-width where the bone is wide).
    depth : float
        Depth half-width as a multiple of the local radius.
    cortex_mm : float
        Thickness of the cortical shell.
    mu_cortex, mu_inner : float
        Attenuation (1/mm) of the shell and of the interior.
    smooth : bool
        Pass a Catmull-Rom spline through the control points (else use them as a polygon).

    Returns
    -------
    numpy.ndarray
        The outline actually drawn (dense points, mm).
    """
    pts = smooth_closed(control_mm, per_segment) if smooth else np.asarray(control_mm, dtype=np.float64)
    got = signed_distance(layer, pts, 2.0 * layer.canvas.step_mm)
    if got is None:
        return pts
    rows, cols, sd = got
    step = layer.canvas.step_mm
    k = max(3, int(round(2.0 * radius_mm / step)) | 1)
    local = cv2.dilate(sd, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    local = cv2.blur(local, (max(3, k // 2 | 1),) * 2)
    R = np.clip(local, F32(0.5), F32(radius_mm))
    outer = (F32(2.0 * depth * mu_cortex) * R) * _rounded(sd, R)
    Ri = np.maximum(R - F32(cortex_mm), F32(0.3))
    bi = np.maximum(F32(depth) * R - F32(cortex_mm), F32(0.0))
    inner = (F32(2.0 * (mu_cortex - mu_inner)) * bi) * _rounded(sd - F32(cortex_mm), Ri)
    layer.put(rows, cols, outer, inner, mode)
    return pts
