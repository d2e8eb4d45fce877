"""Metric intervals from per-landmark radii: "HKA 183.9° ± 0.4°", and which classes are borderline.

Pure (numpy only; no torch, no Qt). Every metric value comes from :mod:`llm_viewer.core.metrics`; every
derivative from :func:`llm_viewer.core.sensitivity.metric_sensitivity`.

Propagation (first order, in quadrature). Each landmark's calibrated radius ``r`` (it holds the true point
with probability ``p``, 90 % by default) is read as an isotropic 2-D Gaussian error whose 90 % circle has that
radius: ``σ = r / sqrt(-2 ln(1 - p))`` per axis (``r = 2.146 σ`` at 90 %). Landmark errors are taken as
independent, so a metric ``m`` with gradient ``g_i = (∂m/∂X_i, ∂m/∂Y_i)`` (per mm, or per pixel when the
spacing is unknown) has

    σ_m² = Σ_i |g_i|² σ_i²        half-width = z · σ_m · c_m,   z = Φ⁻¹((1 + p) / 2)  (1.645 at 90 %)

where ``c_m`` is an optional per-metric conformal factor measured on a calibration set (1 when none; see
``training/calibrate.py``): it absorbs what the Gaussian/independence reading gets wrong.

Borderline: an alignment class or CPAK type is borderline when its interval reaches across one of the class
boundaries of :func:`llm_viewer.core.metrics.alignment_class` / :func:`~llm_viewer.core.metrics.cpak_type`;
this is tested by evaluating those functions at the interval ends (both are monotone step functions of
their inputs), so the boundaries live in one place only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from .casefile import Case
from .landmarks import Point
from .metrics import alignment_class, compute_leg_metrics, cpak_type, validate_spacing
from .sensitivity import metric_sensitivity

INTERVAL_KEYS: tuple[str, ...] = ("hka_deg", "mldfa_deg", "mmpta_deg", "mldta_deg", "fva_deg", "jlca_deg",
                                  "ahka_deg", "jlo_deg")
"""Metrics that get an interval (the angles; ``ahka``/``jlo`` are what the CPAK type is made of)."""

DEFAULT_COVERAGE = 0.9


def sigma_from_radius(radius: float, coverage: float = DEFAULT_COVERAGE) -> float:
    """Per-axis σ of the isotropic 2-D Gaussian whose ``coverage`` circle has ``radius``."""
    return float(radius) / math.sqrt(-2.0 * math.log(1.0 - coverage))


def z_two_sided(coverage: float = DEFAULT_COVERAGE) -> float:
    """``Φ⁻¹((1 + coverage) / 2)``: 1.645 at 90 %."""
    return NormalDist().inv_cdf(0.5 + coverage / 2.0)


@dataclass(frozen=True)
class Interval:
    """``value ± half_width`` at ``coverage``; ``units`` is ``"deg"`` for the angles."""

    value: float
    half_width: float
    coverage: float = DEFAULT_COVERAGE

    @property
    def low(self) -> float:
        return self.value - self.half_width

    @property
    def high(self) -> float:
        return self.value + self.half_width

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "half_width": self.half_width, "low": self.low, "high": self.high,
                "coverage": self.coverage}

    def text(self, unit: str = "°", digits: int = 1) -> str:
        return f"{self.value:.{digits}f}{unit} ± {self.half_width:.{digits}f}{unit}"


def metric_intervals(
    landmarks: Mapping[str, Point | Sequence[float]],
    radii_px: Mapping[str, float | None],
    side: str,
    pixel_spacing_mm: Sequence[float] | None,
    *,
    coverage: float = DEFAULT_COVERAGE,
    factors: Mapping[str, float] | None = None,
    keys: Sequence[str] = INTERVAL_KEYS,
) -> dict[str, Interval]:
    """Intervals of the angle metrics of one leg from per-landmark radii (original pixels).

    Parameters
    ----------
    landmarks : Mapping
        The leg's landmarks in pixels (some may be missing: a metric they do not allow has no interval).
    radii_px : Mapping
        ``landmark -> radius`` in original pixels holding the true point with probability ``coverage``;
        a landmark without a radius (``None`` or absent) makes every metric that moves with it interval-less.
    side : str
        ``"right"`` or ``"left"``.
    pixel_spacing_mm : sequence of float or None
        ``[row_mm, column_mm]``; radii are turned into mm with the geometric mean of the two.
    coverage : float
        Probability the radii stand for (and the intervals get).
    factors : Mapping, optional
        Per-metric conformal factors ``c_m`` (default 1).
    keys : sequence of str
        Metrics to give an interval.
    """
    spacing = validate_spacing(pixel_spacing_mm)
    px_mm = math.sqrt(spacing[0] * spacing[1]) if spacing is not None else 1.0
    sens = metric_sensitivity(landmarks, side, spacing, keys=keys)
    values = compute_leg_metrics(dict(landmarks), side, spacing).as_dict()
    z = z_two_sided(coverage)
    out: dict[str, Interval] = {}
    for key, grads in sens.gradient.items():
        var = 0.0
        ok = True
        for lm, (gx, gy) in grads.items():
            g2 = gx * gx + gy * gy
            if g2 < 1e-18:
                continue
            r = radii_px.get(lm)
            if r is None or not math.isfinite(float(r)):
                ok = False
                break
            var += g2 * sigma_from_radius(float(r) * px_mm, coverage) ** 2
        if not ok:
            continue
        c = float((factors or {}).get(key, 1.0))
        out[key] = Interval(float(values[key]), z * math.sqrt(var) * c, coverage)
    return out


def borderline_classes(metrics: Mapping[str, object], intervals: Mapping[str, Interval]) -> dict[str, bool | None]:
    """``{"alignment": bool, "cpak_type": bool}``: does the interval cross a class boundary?

    ``None`` where the class or its intervals are unknown. The alignment class is borderline when
    ``alignment_class`` differs between ``hka ± h``; the CPAK type when ``cpak_type`` differs between any
    two corners of the box ``(ahka ± h) × (jlo ± h)``.
    """
    out: dict[str, bool | None] = {"alignment": None, "cpak_type": None}
    hka = intervals.get("hka_deg")
    if metrics.get("alignment") is not None and hka is not None:
        out["alignment"] = len({alignment_class(hka.low), alignment_class(hka.high),
                                str(metrics["alignment"])}) > 1
    ahka, jlo = intervals.get("ahka_deg"), intervals.get("jlo_deg")
    if metrics.get("cpak_type") is not None and ahka is not None and jlo is not None:
        types = {cpak_type(a, j) for a in (ahka.low, ahka.high) for j in (jlo.low, jlo.high)}
        out["cpak_type"] = len(types | {int(metrics["cpak_type"])}) > 1
    return out


def case_uncertainty(case: Case) -> dict | None:
    """The calibration summary a case file holds (``analysis.uncertainty``, written by the viewer's analysis):
    ``{"calibrated", "coverage", "metric_factors", "radius90_px": {side: {landmark: r}}, "ood", ...}``, or
    ``None`` when the case has none or it is uncalibrated."""
    analysis = case.get("analysis")
    unc = analysis.get("uncertainty") if isinstance(analysis, dict) else None
    return unc if isinstance(unc, dict) and unc.get("calibrated") else None


def case_radii_px(case: Case, side: str) -> dict[str, float | None]:
    """Per landmark of ``side``: the model's 90 % radius (px) while the point is the model's, 0 for a point a
    person placed or moved (their placement is taken as exact), ``None`` when unknown."""
    unc = case_uncertainty(case)
    stored = ((unc or {}).get("radius90_px") or {}).get(side) or {}
    out: dict[str, float | None] = {}
    for lm in case.landmarks(side):
        if (case.provenance(side, lm) or {}).get("source") == "manual":
            out[lm] = 0.0
        else:
            r = stored.get(lm)
            out[lm] = float(r) if isinstance(r, (int, float)) and math.isfinite(float(r)) else None
    return out


def leg_intervals(
    landmarks: Mapping[str, Point | Sequence[float]],
    radii_px: Mapping[str, float | None],
    side: str,
    pixel_spacing_mm: Sequence[float] | None,
    info: Mapping[str, object] | None,
) -> tuple[dict[str, Interval], dict[str, bool | None]]:
    """Intervals and borderline classes of one leg for display (viewer panel, PDF), never raising.

    ``info`` is :func:`case_uncertainty`'s dict (coverage, metric factors); ``({}, {})`` without it or when the
    geometry is degenerate.
    """
    if not info:
        return {}, {}
    try:
        coverage = float(info.get("coverage") or DEFAULT_COVERAGE)
        factors = {k: float(v) for k, v in dict(info.get("metric_factors") or {}).items()}
        iv = metric_intervals(landmarks, radii_px, side, pixel_spacing_mm, coverage=coverage, factors=factors)
        metrics = compute_leg_metrics(dict(landmarks), side, pixel_spacing_mm).as_dict()
    except (ValueError, TypeError):
        return {}, {}
    return iv, borderline_classes(metrics, iv)
