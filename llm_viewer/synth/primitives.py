"""Projected attenuation of simple solids: the building blocks of the synthetic anatomy.

Every primitive adds ``∫ μ dz`` (dimensionless) along the AP ray through each pixel of a coarse grid,
computed in closed form: the chord of an ellipse of in-plane half-width ``a`` and depth half-width ``b``
at lateral offset ``s`` is ``2 b sqrt(1 − (s/a)²)``. A bone piece has a cortical shell of thickness
``c`` around a trabecular or medullary interior, so cortices come out bright and canals darker, as on a
radiograph. Work is limited to each primitive's bounding box, in float32.

Pieces of one bone are combined with ``max`` in a :class:`Layer` (a union, no double counting where they
overlap); different bones and soft tissue add on the :class:`Canvas`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

F32 = np.float32


class Canvas:
    """A coarse grid over the image, in image millimetres.

    Coarse pixel ``(i, j)`` has its centre at full-resolution pixel ``(f·j + (f−1)/2, f·i + (f−1)/2)``,
    which is what ``cv2.resize`` (linear) assumes when it upsamples by ``f``.
    """

    def __init__(self, width_px: int, height_px: int, spacing_mm: float, scale: int) -> None:
        self.width_px, self.height_px, self.spacing_mm, self.scale = width_px, height_px, spacing_mm, scale
        self.wc = -(-width_px // scale)
        self.hc = -(-height_px // scale)
        self.step_mm = scale * spacing_mm
        self.origin_mm = spacing_mm * (scale - 1) / 2.0
        self.xs = (self.origin_mm + self.step_mm * np.arange(self.wc)).astype(np.float64)
        self.ys = (self.origin_mm + self.step_mm * np.arange(self.hc)).astype(np.float64)
        self.att = np.zeros((self.hc, self.wc), dtype=F32)
        self.bone = np.zeros((self.hc, self.wc), dtype=F32)
        """Bone-only attenuation (for the trabecular texture)."""
        self.shafts: list[tuple[np.ndarray, np.ndarray, float]] = []
        """Diaphyses as ``(start_mm, end_mm, half_width_mm)``: compact bone, so the trabecular grain fades there."""
        self._spare: list[np.ndarray] = []
        """Zeroed full-size buffers returned by committed layers (reused: no page faults per layer)."""

    def take_buffer(self) -> np.ndarray:
        """A zeroed float32 array of the canvas's shape (reused when a layer gave one back)."""
        return self._spare.pop() if self._spare else np.zeros(self.att.shape, dtype=F32)

    def give_back(self, buf: np.ndarray, box: list[int] | None) -> None:
        """Return a layer buffer whose only non-zero values lie inside ``box`` (zeroed here)."""
        if box is not None:
            buf[box[0]:box[1], box[2]:box[3]] = 0.0
        self._spare.append(buf)

    def window(self, xmin: float, xmax: float, ymin: float, ymax: float
               ) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        """Rows/cols slices covering an mm box, with the 2-D broadcastable coordinates (X row, Y column)."""
        j0 = max(0, int(math.floor((xmin - self.origin_mm) / self.step_mm)))
        j1 = min(self.wc, int(math.ceil((xmax - self.origin_mm) / self.step_mm)) + 1)
        i0 = max(0, int(math.floor((ymin - self.origin_mm) / self.step_mm)))
        i1 = min(self.hc, int(math.ceil((ymax - self.origin_mm) / self.step_mm)) + 1)
        if j1 <= j0 or i1 <= i0:
            return None
        X = self.xs[j0:j1].astype(F32)[None, :]
        Y = self.ys[i0:i1].astype(F32)[:, None]
        return slice(i0, i1), slice(j0, j1), X, Y

    def to_px(self, pts_mm: np.ndarray) -> np.ndarray:
        """mm -> coarse pixel coordinates (float)."""
        return (np.asarray(pts_mm, dtype=np.float64) - self.origin_mm) / self.step_mm


class Layer:
    """One bone (or one body): a union of pieces, then :meth:`commit` adds it to the canvas.

    Each piece contributes an outer term (``μ_cortex ×`` chord of its outer surface) and an inner term
    (``(μ_cortex − μ_inner) ×`` chord of its inner surface). The layer keeps the maximum of each and
    returns their difference: where pieces overlap, a shell buried inside another piece's interior does
    not show, as in a real bone whose cortex only lines its outside.
    """

    def __init__(self, canvas: Canvas, *, bone: bool = False, denser_core: bool = False) -> None:
        self.canvas = canvas
        self.bone = bone
        self.sign = F32(-1.0) if denser_core else F32(1.0)
        """``denser_core``: interiors attenuate more than shells (muscle inside fat): inner terms add."""
        self.outer = canvas.take_buffer()
        self.inner = canvas.take_buffer()
        self.box: list[int] | None = None  # i0, i1, j0, j1

    def put(self, rows: slice, cols: slice, outer: np.ndarray, inner: np.ndarray | None = None,
            mode: str = "max") -> None:
        view = self.outer[rows, cols]
        if mode == "max":
            np.maximum(view, outer, out=view)
            if inner is not None:
                iv = self.inner[rows, cols]
                np.maximum(iv, inner * self.sign, out=iv)
        elif mode == "add":
            view += outer
        else:  # pragma: no cover - programming error
            raise ValueError(mode)
        b = [rows.start, rows.stop, cols.start, cols.stop]
        if self.box is None:
            self.box = b
        else:
            self.box = [min(self.box[0], b[0]), max(self.box[1], b[1]), min(self.box[2], b[2]),
                        max(self.box[3], b[3])]

    def commit(self, weight: float = 1.0) -> None:
        """Add the layer to the canvas (once) and give its buffers back to the canvas for reuse."""
        if self.box is not None:
            i0, i1, j0, j1 = self.box
            val = self.outer[i0:i1, j0:j1] - self.sign * self.inner[i0:i1, j0:j1]
            if weight != 1.0:
                val *= F32(weight)
            self.canvas.att[i0:i1, j0:j1] += val
            if self.bone:
                self.canvas.bone[i0:i1, j0:j1] += val
        self.canvas.give_back(self.outer, self.box)
        self.canvas.give_back(self.inner, self.box)
        self.outer = self.inner = None  # type: ignore[assignment]
        self.box = None


def _chord(s2_over_a2: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(F32(1.0) - s2_over_a2, F32(0.0)))


def tube(layer: Layer, p0: Sequence[float], axis: Sequence[float], t_knots: Sequence[float],
         a_knots: Sequence[float], c_knots: Sequence[float], *, depth: float, mu_cortex: float,
         mu_inner: float, bow_knots: Sequence[float] | None = None, clip: tuple | None = None,
         mode: str = "max", canal_shift_knots: Sequence[float] | None = None) -> None:
    """A solid of revolution-like piece along a straight axis, with elliptical cross-sections.

    Parameters
    ----------
    p0, axis : 2-vectors (mm)
        Origin and direction of the axis (normalised here).
    t_knots, a_knots, c_knots : sequences
        Along-axis positions (mm from ``p0``, increasing), in-plane half-width and cortical thickness there.
        Outside ``[t_knots[0], t_knots[-1]]`` the piece is empty; let ``a`` fall to 0 for rounded ends.
    depth : float
        Depth half-width as a multiple of ``a`` (elliptical cross-section).
    mu_cortex, mu_inner : float
        Linear attenuation (1/mm) of the shell and of the interior.
    bow_knots : sequence, optional
        Sideways offset of the centre line (mm, along the axis's left normal) at each knot.
    clip : (point, normal), optional
        Keep only pixels with ``(p − point)·normal >= 0`` (a flat cut such as the tibial plateau).
    canal_shift_knots : sequence, optional
        Sideways offset of the interior (mm, along the left normal) at each knot: an eccentric canal,
        so one cortex is thicker than the other (keep it below the cortical thickness).
    """
    u = np.asarray(axis, dtype=np.float64)
    u = u / float(np.hypot(u[0], u[1]))
    n = np.array([-u[1], u[0]])
    tk = np.asarray(t_knots, dtype=F32)
    ak = np.asarray(a_knots, dtype=F32)
    ck = np.asarray(c_knots, dtype=F32)
    bk = None if bow_knots is None else np.asarray(bow_knots, dtype=F32)
    amax = float(ak.max()) + (0.0 if bk is None else float(np.abs(bk).max())) + 1.0
    p0 = np.asarray(p0, dtype=np.float64)
    ends = [p0 + u * tk[0], p0 + u * tk[-1]]
    xs = [e[0] + k * n[0] * amax for e in ends for k in (-1, 1)]
    ys = [e[1] + k * n[1] * amax for e in ends for k in (-1, 1)]
    win = layer.canvas.window(min(xs), max(xs), min(ys), max(ys))
    if win is None:
        return
    rows, cols, X, Y = win
    dx = X - F32(p0[0])
    dy = Y - F32(p0[1])
    t = dx * F32(u[0]) + dy * F32(u[1])
    s = dx * F32(n[0]) + dy * F32(n[1])
    a = np.interp(t, tk, ak, left=0.0, right=0.0).astype(F32)
    if bk is not None:
        s = s - np.interp(t, tk, bk).astype(F32)
    c = np.interp(t, tk, ck).astype(F32)
    s2 = s * s
    inv = F32(1.0) / np.maximum(a, F32(1e-3))
    out = (F32(2.0 * depth * mu_cortex) * a) * _chord(s2 * inv * inv)
    ai = np.maximum(a - c, F32(0.0))
    bi = np.maximum(F32(depth) * a - c, F32(0.0))
    inv_i = F32(1.0) / np.maximum(ai, F32(1e-3))
    if canal_shift_knots is not None:
        si = s - np.interp(t, tk, np.asarray(canal_shift_knots, dtype=F32)).astype(F32)
        s2 = si * si
    inner = (F32(2.0 * (mu_cortex - mu_inner)) * bi) * _chord(s2 * inv_i * inv_i) * (ai > 0)
    if clip is not None:
        cp, cn = clip
        keep = (X - F32(cp[0])) * F32(cn[0]) + (Y - F32(cp[1])) * F32(cn[1]) >= 0
        out *= keep
        inner *= keep
    layer.put(rows, cols, out, inner, mode)


def ellipsoid(layer: Layer, centre: Sequence[float], axis: Sequence[float], a1: float, a2: float, a3: float,
              *, cortex: float, mu_cortex: float, mu_inner: float, clip: tuple | None = None,
              mode: str = "max") -> None:
    """An ellipsoid with semi-axes ``a1`` along ``axis``, ``a2`` across it (in plane) and ``a3`` in depth."""
    u = np.asarray(axis, dtype=np.float64)
    u = u / float(np.hypot(u[0], u[1]))
    n = np.array([-u[1], u[0]])
    c0 = np.asarray(centre, dtype=np.float64)
    r = max(a1, a2) + 1.0
    win = layer.canvas.window(c0[0] - r, c0[0] + r, c0[1] - r, c0[1] + r)
    if win is None:
        return
    rows, cols, X, Y = win
    dx = X - F32(c0[0])
    dy = Y - F32(c0[1])
    t = dx * F32(u[0]) + dy * F32(u[1])
    s = dx * F32(n[0]) + dy * F32(n[1])
    tt, ss = t * t, s * s
    out = F32(2.0 * a3 * mu_cortex) * _chord(tt * F32(1.0 / a1 ** 2) + ss * F32(1.0 / a2 ** 2))
    i1, i2, i3 = a1 - cortex, a2 - cortex, a3 - cortex
    inner = None
    if min(i1, i2, i3) > 0:
        inner = F32(2.0 * i3 * (mu_cortex - mu_inner)) * _chord(tt * F32(1.0 / i1 ** 2) + ss * F32(1.0 / i2 ** 2))
    if clip is not None:
        cp, cn = clip
        keep = (X - F32(cp[0])) * F32(cn[0]) + (Y - F32(cp[1])) * F32(cn[1]) >= 0
        out *= keep
        if inner is not None:
            inner *= keep
    layer.put(rows, cols, out, inner, mode)


def curve(layer: Layer, points: Sequence[Sequence[float]], radius: float, *, mu: float, depth: float = 1.0,
          closed: bool = False, mode: str = "max") -> None:
    """A solid tube of constant radius along a polyline (rims, rami, rings): exact distance to segments."""
    pts = np.asarray(points, dtype=np.float64)
    if closed:
        pts = np.vstack([pts, pts[:1]])
    r = float(radius)
    win = layer.canvas.window(pts[:, 0].min() - r, pts[:, 0].max() + r, pts[:, 1].min() - r, pts[:, 1].max() + r)
    if win is None:
        return
    rows, cols, X, Y = win
    d2 = np.full((Y.shape[0], X.shape[1]), np.inf, dtype=F32)
    canvas = layer.canvas
    for p, q in zip(pts[:-1], pts[1:]):
        sub = canvas.window(min(p[0], q[0]) - r, max(p[0], q[0]) + r, min(p[1], q[1]) - r, max(p[1], q[1]) + r)
        if sub is None:
            continue
        srow, scol, SX, SY = sub
        v = q - p
        ll = float(v @ v) or 1e-9
        dx = SX - F32(p[0])
        dy = SY - F32(p[1])
        t = np.clip((dx * F32(v[0]) + dy * F32(v[1])) * F32(1.0 / ll), 0.0, 1.0)
        ex = dx - t * F32(v[0])
        ey = dy - t * F32(v[1])
        view = d2[srow.start - rows.start:srow.stop - rows.start, scol.start - cols.start:scol.stop - cols.start]
        np.minimum(view, ex * ex + ey * ey, out=view)
    out = F32(2.0 * r * depth * mu) * _chord(d2 * F32(1.0 / (r * r)))
    layer.put(rows, cols, out, None, mode)


def polygon(layer: Layer, points: Sequence[Sequence[float]], *, value: float, soften_mm: float = 1.0,
            holes: Sequence[Sequence[Sequence[float]]] = (), mode: str = "max") -> None:
    """A flat plate: constant ``value`` (``μ × thickness``) inside a polygon, edges softened by a blur."""
    canvas = layer.canvas
    pts = np.asarray(points, dtype=np.float64)
    pad = 3.0 * soften_mm + 2 * canvas.step_mm
    win = canvas.window(pts[:, 0].min() - pad, pts[:, 0].max() + pad, pts[:, 1].min() - pad, pts[:, 1].max() + pad)
    if win is None:
        return
    rows, cols, X, Y = win
    buf = np.zeros((Y.shape[0], X.shape[1]), dtype=F32)
    off = np.array([cols.start, rows.start], dtype=np.float64)

    def _poly(p: np.ndarray) -> np.ndarray:
        return np.round((canvas.to_px(p) - off) * 16.0).astype(np.int32)

    cv2.fillPoly(buf, [_poly(pts)], float(value), lineType=cv2.LINE_AA, shift=4)
    for h in holes:
        cv2.fillPoly(buf, [_poly(np.asarray(h, dtype=np.float64))], 0.0, lineType=cv2.LINE_AA, shift=4)
    sigma = soften_mm / canvas.step_mm
    if sigma > 0.3:
        buf = cv2.GaussianBlur(buf, (0, 0), sigma)
    layer.put(rows, cols, buf, None, mode)


def ellipse_points(centre: Sequence[float], axis: Sequence[float], a1: float, a2: float, n: int = 40,
                   start_deg: float = 0.0, stop_deg: float = 360.0) -> np.ndarray:
    """Points on an in-plane ellipse (``a1`` along ``axis``), angles measured from ``axis``."""
    u = np.asarray(axis, dtype=np.float64)
    u = u / float(np.hypot(u[0], u[1]))
    nrm = np.array([-u[1], u[0]])
    th = np.radians(np.linspace(start_deg, stop_deg, n))
    c = np.asarray(centre, dtype=np.float64)
    return c + np.outer(a1 * np.cos(th), u) + np.outer(a2 * np.sin(th), nrm)


def cap_profile(t0: float, t1: float, a: float, cap0: float, cap1: float, n: int = 6
                ) -> tuple[np.ndarray, np.ndarray]:
    """Knots of a constant half-width ``a`` between ``t0`` and ``t1`` with elliptical end caps."""
    phi = np.linspace(0.0, math.pi / 2, n)
    head_t = t0 + cap0 * (1 - np.cos(phi))      # a: 0 -> a
    head_a = a * np.sin(phi)
    tail_t = t1 - cap1 + cap1 * np.sin(phi)     # a: a -> 0
    tail_a = a * np.cos(phi)
    return np.concatenate([head_t, tail_t]), np.concatenate([head_a, tail_a])


def smooth_closed(points: Sequence[Sequence[float]], per_segment: int = 6) -> np.ndarray:
    """A closed Catmull-Rom spline through ``points`` (rounded outlines from a few control points)."""
    p = np.asarray(points, dtype=np.float64)
    return _catmull_rom(np.roll(p, 1, axis=0), p, np.roll(p, -1, axis=0), np.roll(p, -2, axis=0), per_segment)


def smooth_open(points: Sequence[Sequence[float]], per_segment: int = 8) -> np.ndarray:
    """An open Catmull-Rom spline through ``points`` (end points repeated): a polyline without corners."""
    p = np.asarray(points, dtype=np.float64)
    q = np.vstack([p[:1], p, p[-1:]])
    seg = _catmull_rom(q[:-3], q[1:-2], q[2:-1], q[3:], per_segment)
    return np.vstack([seg, p[-1:]])


def _catmull_rom(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, per_segment: int) -> np.ndarray:
    """Points of the Catmull-Rom segments from ``p1[i]`` to ``p2[i]`` (``per_segment`` each, end excluded)."""
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[None, :, None]
    seg = 0.5 * ((2 * p1)[:, None] + (-p0 + p2)[:, None] * t + (2 * p0 - 5 * p1 + 4 * p2 - p3)[:, None] * t ** 2
                 + (-p0 + 3 * p1 - 3 * p2 + p3)[:, None] * t ** 3)
    return seg.reshape(-1, 2)
