"""How much each angle moves when one landmark moves by 1 mm (a small Jacobian).

The viewer shows it so a reviewer knows which points matter; active learning can weight errors by it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .landmarks import LANDMARK_IDS, Point
from .metrics import ANGLE_KEYS, compute_leg_metrics, validate_spacing

SENSITIVITY_KEYS: tuple[str, ...] = ANGLE_KEYS + ("mad_mm",)


@dataclass(frozen=True)
class Sensitivity:
    """Partial derivatives of metrics with respect to landmark positions in mm.

    ``gradient[metric][landmark]`` is ``(d metric / d X_mm, d metric / d Y_mm)``; ``per_mm`` is its norm:
    the largest change of the metric (degrees, or mm for ``mad_mm``) for a 1 mm move of the landmark in
    the worst direction.
    """

    gradient: dict[str, dict[str, tuple[float, float]]]

    def per_mm(self, metric: str, landmark: str) -> float:
        gx, gy = self.gradient[metric][landmark]
        return float(np.hypot(gx, gy))

    def as_dict(self) -> dict[str, dict[str, float]]:
        """``{metric: {landmark: worst-case change per mm}}``."""
        return {m: {lm: self.per_mm(m, lm) for lm in g} for m, g in self.gradient.items()}


def metric_sensitivity(
    landmarks: Mapping[str, Point | Sequence[float]],
    side: str,
    pixel_spacing_mm: Sequence[float] | None,
    step_mm: float = 0.01,
    keys: Sequence[str] | None = None,
) -> Sensitivity:
    """Central-difference Jacobian of the angle metrics (and MAD) with respect to each landmark.

    Parameters
    ----------
    landmarks : Mapping
        The landmarks in pixels (all nine, or some: only those present get a gradient, and only the
        metrics those allow, see ``core.metrics.METRIC_LANDMARKS``).
    side : str
        ``"right"`` or ``"left"``.
    pixel_spacing_mm : sequence of float or None
        ``[row_mm, column_mm]``; with unknown spacing derivatives are per pixel and ``mad_mm`` is omitted.
    step_mm : float
        Finite-difference step in mm.
    keys : sequence of str, optional
        Numeric metric keys to differentiate (default :data:`SENSITIVITY_KEYS`, ``mad_mm`` only with a
        known spacing); a metric the landmarks do not allow is left out.

    Returns
    -------
    Sensitivity
    """
    spacing = validate_spacing(pixel_spacing_mm)
    row, col = spacing if spacing is not None else (1.0, 1.0)
    base = {lm: (p.x, p.y) if isinstance(p, Point) else (float(p[0]), float(p[1]))
            for lm, p in landmarks.items() if p is not None}
    wanted = tuple(keys) if keys is not None else SENSITIVITY_KEYS
    if spacing is None:
        wanted = tuple(k for k in wanted if not k.endswith("_mm"))
    values = compute_leg_metrics(base, side, spacing).as_dict()
    keys = tuple(k for k in wanted if isinstance(values.get(k), (int, float)) and not isinstance(values.get(k), bool))
    grad: dict[str, dict[str, tuple[float, float]]] = {k: {} for k in keys}
    for lm in LANDMARK_IDS:
        if lm not in base:
            continue
        x0, y0 = base[lm]
        d_px = ((step_mm / col, 0.0), (0.0, step_mm / row))
        partial: list[dict[str, float]] = []
        for dx, dy in d_px:
            plus = dict(base, **{lm: (x0 + dx, y0 + dy)})
            minus = dict(base, **{lm: (x0 - dx, y0 - dy)})
            mp = compute_leg_metrics(plus, side, spacing).as_dict()
            mm = compute_leg_metrics(minus, side, spacing).as_dict()
            partial.append({k: (float(mp[k]) - float(mm[k])) / (2 * step_mm) for k in keys})
        for k in keys:
            grad[k][lm] = (partial[0][k], partial[1][k])
    return Sensitivity(gradient=grad)


SUMMARY_KEYS: tuple[str, ...] = ("hka_deg", "mldfa_deg", "mmpta_deg")
"""The angles whose most sensitive point the viewer names."""


@dataclass(frozen=True)
class MostSensitive:
    """The landmark that moves one angle most: ``per_mm`` degrees for a 1 mm move in the worst direction
    (degrees per pixel when ``per_px``: the image has no spacing)."""

    metric: str
    landmark: str
    per_mm: float
    per_px: bool = False


def most_sensitive_points(
    landmarks: Mapping[str, Point | Sequence[float]],
    side: str,
    pixel_spacing_mm: Sequence[float] | None,
    keys: Sequence[str] = SUMMARY_KEYS,
) -> dict[str, MostSensitive]:
    """For each angle of ``keys`` the leg allows, the landmark whose move changes it most.

    Parameters
    ----------
    landmarks : Mapping
        The leg's landmarks in pixels (partial legs give the angles they allow).
    side : str
    pixel_spacing_mm : sequence of float or None
        Without it, sensitivities are per pixel (``MostSensitive.per_px``).
    keys : sequence of str
        Angle keys (default :data:`SUMMARY_KEYS`).

    Returns
    -------
    dict
        ``metric -> MostSensitive``; an angle the landmarks do not allow is absent.
    """
    sens = metric_sensitivity(landmarks, side, pixel_spacing_mm, keys=keys)
    out: dict[str, MostSensitive] = {}
    for metric, grads in sens.gradient.items():
        if not grads:
            continue
        lm = max(grads, key=lambda k: (sens.per_mm(metric, k), k))
        out[metric] = MostSensitive(metric, lm, sens.per_mm(metric, lm), pixel_spacing_mm is None)
    return out
