"""From model outputs to points with a trust measure (numpy/OpenCV only, per crop, in crop pixels).

Uncertainty (all in original pixels; ``k`` = original pixels per crop pixel, ``r = mask_radius_px · k``,
``L`` = crop side in original pixels):

* **SGR** — the regressed point ``p_reg`` and the map's own estimate ``p_map`` (probability-weighted centroid
  of the map within ``2 · mask_radius`` of its arg-max) are two readings of one landmark; their distance
  ``d = |p_reg − p_map|`` is what SGR uniquely offers. With ``peak`` the map's maximum probability and
  ``t`` the test-time-augmentation spread (RMS distance of the augmented predictions from their mean, 0 when
  off)::

      uncertainty_px = sqrt(d² + t²) + max(0, 1 − peak / 0.5) · L / 4
      score          = peak · exp(−d / r)

  A map that never reaches 0.5 adds up to a quarter of the crop: the point is a guess.
* **segmentation** (ablation) — point = centroid of the largest component of ``map > 0.5`` (falls back to
  ``p_map`` with a warning when nothing passes); ``d`` = distance between the two; same formula, score = peak.
* **regression** (ablation) — no map: ``uncertainty_px = t`` (TTA is always run for this method),
  ``score = exp(−t / r)``.
* **diaphysis** — see :func:`diaphysis_point`.

A landmark is *flagged* (shown as uncertain downstream) when ``peak < 0.5`` or ``uncertainty_px > 2 r``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def map_peak(prob: np.ndarray, radius_px: float) -> tuple[float, np.ndarray]:
    """Peak probability and the weighted centroid of ``prob`` within ``radius_px`` of the arg-max (crop px)."""
    s = prob.shape[0]
    iy, ix = np.unravel_index(int(np.argmax(prob)), prob.shape)
    peak = float(prob[iy, ix])
    r = max(1.0, float(radius_px))
    ri = int(np.ceil(r))
    y0, y1 = max(0, iy - ri), min(s, iy + ri + 1)
    x0, x1 = max(0, ix - ri), min(prob.shape[1], ix + ri + 1)
    win = prob[y0:y1, x0:x1].astype(np.float64)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    w = win * (((xx - ix) ** 2 + (yy - iy) ** 2) <= r * r)
    total = w.sum()
    if total <= 0:
        return peak, np.array([float(ix), float(iy)])
    return peak, np.array([(w * xx).sum() / total, (w * yy).sum() / total])


def threshold_centroid(prob: np.ndarray, threshold: float = 0.5) -> tuple[np.ndarray | None, int]:
    """Centroid of the largest connected component of ``prob > threshold`` and the number of components."""
    mask = (prob > threshold).astype(np.uint8)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return None, 0
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    ys, xs = np.nonzero(labels == best)
    return np.array([xs.mean(), ys.mean()]), n - 1


def sgr_uncertainty(d_px: float, spread_px: float, peak: float, crop_side_px: float) -> float:
    """``sqrt(d² + t²) + max(0, 1 − peak/0.5) · L/4`` (see the module docstring)."""
    return float(np.hypot(d_px, spread_px) + max(0.0, 1.0 - peak / 0.5) * crop_side_px / 4.0)


RES_FLOOR_PX = 0.5  # uncertainty floor: half a pixel of the coarser of the image and the model's input


def resolution_floor(uncertainty_px: float, k: float) -> float:
    """Add, in quadrature, half a pixel of the coarser grid: the image's (1 px) or the crop's (``k`` px).

    ``k`` = original px per crop px. A landmark is never placed better than half a pixel of what the model
    saw: for a downsampled crop (``k > 1``) that is ``k/2`` original px, for a small region upsampled into the
    crop (``k < 1``) half an original pixel, so in mm the floor grows with the pixel size.
    """
    return float(np.hypot(uncertainty_px, RES_FLOOR_PX * max(1.0, float(k))))


@dataclass(frozen=True)
class DiaphysisPoint:
    """Result of the diaphysis geometry in crop pixels."""

    point_xy: np.ndarray | None
    score: float
    width_px: float
    touches_border: bool
    message: str | None


def diaphysis_point(prob: np.ndarray, threshold: float = 0.5) -> DiaphysisPoint:
    """Midpoint of the most distal cross-section of the cleaned diaphysis mask.

    Steps (paper, Sec. II-E, made explicit): threshold at 0.5; morphological opening with an elliptical
    kernel of ``max(3, S/32)`` px (odd); keep the largest 8-connected component; its principal axis (PCA of
    the pixel coordinates, oriented downwards; vertical when the mask is not elongated) defines the
    shaft direction; the *cross-section* is perpendicular to it. The band of pixels within
    ``max(1, S/64)`` px of the most distal axial position is the distal cross-section; the landmark is the
    midpoint between its two extreme pixels across the axis, at the band's mean axial position.

    ``score`` is the mean probability over the component. Uncertainty (engine, original px):
    ``k · (band_width + width · (1 − score)) + (L/4 if the component touches the crop border)``.
    """
    s = prob.shape[0]
    mask = (prob > threshold).astype(np.uint8)
    ks = max(3, int(round(s / 32)) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ks, ks)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return DiaphysisPoint(None, float(prob.max()), 0.0, False, "no diaphysis segmented above 0.5")
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    ys, xs = np.nonzero(labels == best)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    score = float(prob[ys, xs].mean())
    mean = pts.mean(axis=0)
    if len(pts) >= 3:
        evals, evecs = np.linalg.eigh(np.cov((pts - mean).T))
        axis = evecs[:, 1] if evals[1] > 1.5 * max(evals[0], 1e-9) else np.array([0.0, 1.0])
    else:
        axis = np.array([0.0, 1.0])
    if axis[1] < 0:
        axis = -axis
    perp = np.array([-axis[1], axis[0]])
    t = (pts - mean) @ axis
    u = (pts - mean) @ perp
    band_px = max(1.0, s / 64)
    sel = t >= t.max() - band_px
    u_mid = 0.5 * (u[sel].min() + u[sel].max())
    point = mean + axis * t[sel].mean() + perp * u_mid
    width = float(u[sel].max() - u[sel].min() + 1.0)
    border = bool(xs.min() == 0 or ys.min() == 0 or xs.max() == s - 1 or ys.max() == s - 1)
    return DiaphysisPoint(point, score, width, border, None)
