"""Active learning: how unsure the pipeline is about an image, and strategies that rank images by it.

Evidence per image (:class:`ImageEvidence`) comes from the engine's own outputs, never from new maths on
the landmarks:

* **SGR disagreement** — for every SGR landmark the distance between the regressed point and its own
  segmentation map's estimate (``LandmarkPrediction.seg_peak_xy_px``), in mm when the spacing is known;
  landmarks without a map (the diaphysis, the regression ablation) contribute their ``uncertainty_px``.
* **Spread under test-time augmentation** (:class:`TTAResult`) — the engine is re-run on the same image with
  deterministic perturbations of the detected ROI boxes (shift / scale, one view also with a gamma change of
  the normalised intensities; :data:`VIEWS`) through ``InferenceEngine.analyze(detections=...)``, which maps
  every landmark back to original pixels exactly. Per landmark: RMS distance of the views' points from
  their mean (mm).
* **Metric spread** — HKA, mLDFA and mMPTA of every view, computed by
  :func:`llm_viewer.core.metrics.compute_leg_metrics`; per metric the standard deviation over the views
  (degrees).

Aggregation to one number per image (documented in ``docs/ACTIVE_LEARNING.md``): the **mean** over the
landmarks of :data:`SCORED_LANDMARKS` of every leg of the per-landmark value (mm), a landmark the pipeline did
not find (the diaphysis centre included) counting :data:`MISSING_PENALTY_MM`; metric spread: the mean over
legs of the mean SD of the three angles (degrees). An image with no leg at all gets :data:`NO_LEG_SCORE`
(most informative). Higher = more informative.

Strategies (:data:`STRATEGIES`, extend with :func:`register_strategy`): ``random``, ``sgr-disagreement``,
``tta``, ``metric-spread`` and ``combined`` (``sqrt((w · mean disagreement)² + mean TTA spread²)`` in mm plus
:data:`COMBINED_MM_PER_DEG` mm per degree of metric spread; ``w`` = :data:`COMBINED_DISAGREEMENT_WEIGHT`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ...core.landmarks import LANDMARK_IDS
from ..results import AnalysisResult, LandmarkPrediction

MISSING_PENALTY_MM = 50.0
"""Value of a landmark the pipeline did not place (a missing region is the most useful label there is)."""
NO_LEG_SCORE = 1000.0
"""Score of an image in which no leg was found."""
COMBINED_MM_PER_DEG = 2.0
"""Weight of the metric spread in the combined score (a degree of HKA spread counts like 2 mm of points)."""
COMBINED_DISAGREEMENT_WEIGHT = 0.0
"""Weight of the SGR disagreement in the combined score. 0 for the bundled model, chosen on a validation
store (seed 3): its first-stage maps do not localise (the map estimate is ~30 mm from the regressed point
whatever the image), so the disagreement ranks images at rho ≈ −0.07 and only adds noise. A bundle whose maps
localise (the paper preset) should use 1: ``get_strategy("combined", disagreement_weight=1.0)``."""
SCORED_LANDMARKS: tuple[str, ...] = tuple(lm for lm in LANDMARK_IDS if lm != "diaphysis_center")
"""Landmarks whose disagreement and spread enter the scores: the paper's eight (its Table 3). The diaphysis
centre is a construction (midpoint of the distal cross-section of the segmented shaft): its position along the
shaft follows where the mask ends, so its spread and error (≈ 10 mm) swamp the others without saying how hard
the image is. It still counts :data:`MISSING_PENALTY_MM` when missing."""
TTA_METRICS: tuple[str, ...] = ("hka_deg", "mldfa_deg", "mmpta_deg")
VIEWS: tuple[tuple[float, float, float, float], ...] = (
    (0.04, 0.04, 1.00, 1.0),
    (-0.04, -0.04, 1.08, 1.0),
    (0.04, -0.04, 0.94, 1.0),
    (-0.04, 0.04, 1.04, 0.8),
)
"""Test-time views: (dx, dy as a fraction of the box's larger side, scale of the box, gamma of the intensities)."""


@dataclass(frozen=True)
class TTAResult:
    """Landmarks and metrics of one image under the views of :data:`VIEWS` (view 0 = the unperturbed run).

    Attributes
    ----------
    points_px : dict
        ``{side: {landmark: array (n_views_found, 2)}}`` in original pixels.
    metrics : dict
        ``{side: {metric: array of values over the views where all nine landmarks were found}}``.
    n_views : int
        Number of views including the unperturbed one.
    """

    points_px: dict[str, dict[str, np.ndarray]]
    metrics: dict[str, dict[str, np.ndarray]]
    n_views: int


@dataclass(frozen=True)
class ImageEvidence:
    """Everything a strategy may look at for one image.

    ``result`` is the engine's result (SGR disagreement lives there); ``key`` identifies the image (its
    path: ``random`` hashes it, so its scores do not depend on the order of the pool).
    """

    result: AnalysisResult
    tta: TTAResult | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    key: str = ""
    final: AnalysisResult | None = None
    """The refined, calibrated result (what ``llm-viewer analyze`` reports); ``None``: same as ``result``."""
    image_size_px: tuple[int, int] | None = None
    """``(width, height)`` of the image; ``None``: ``result.image_size_px``."""


@dataclass(frozen=True)
class ScoreBreakdown:
    """The three uncertainty measures of an image (see the module docstring for units and aggregation)."""

    sgr_disagreement_mm: float
    tta_spread_mm: float | None
    metric_spread_deg: float | None
    n_landmarks: int
    n_missing: int
    units: str  # "mm" or "px" (no spacing)

    def as_dict(self) -> dict[str, Any]:
        return {"sgr_disagreement": _round(self.sgr_disagreement_mm), "tta_spread": _round(self.tta_spread_mm),
                "metric_spread_deg": _round(self.metric_spread_deg), "n_landmarks": self.n_landmarks,
                "n_missing": self.n_missing, "units": self.units}


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)


@runtime_checkable
class Strategy(Protocol):
    """A way to score images; higher = more informative. ``needs_tta``: the score uses :class:`TTAResult`."""

    name: str
    needs_tta: bool

    def score(self, evidence: ImageEvidence) -> float: ...


# ---------------------------------------------------------------------------------------------- measures
def _mm(dx_px: float, dy_px: float, spacing: tuple[float, float] | None) -> float:
    if spacing is None:
        return float(math.hypot(dx_px, dy_px))
    return float(math.hypot(dx_px * spacing[1], dy_px * spacing[0]))


def _px_to_mm(spacing: tuple[float, float] | None) -> float:
    return 1.0 if spacing is None else float(math.sqrt(spacing[0] * spacing[1]))


def landmark_disagreement(p: LandmarkPrediction, spacing: tuple[float, float] | None) -> float:
    """``|regressed point − map estimate|`` (mm, or px without spacing); ``uncertainty_px`` when there is no map."""
    if p.seg_peak_xy_px is None:
        return float(p.uncertainty_px) * _px_to_mm(spacing)
    return _mm(p.x_px - p.seg_peak_xy_px[0], p.y_px - p.seg_peak_xy_px[1], spacing)


def _expected(result: AnalysisResult) -> list[tuple[str, str]]:
    return [(side, lm) for side in result.legs for lm in LANDMARK_IDS]


def breakdown(ev: ImageEvidence) -> ScoreBreakdown:
    """The SGR disagreement, TTA spread and metric spread of an image (aggregated as documented above)."""
    spacing = ev.pixel_spacing_mm
    expected = _expected(ev.result)
    dis, spread, missing = [], [], 0
    for side, lm in expected:
        p = ev.result.legs[side].landmarks.get(lm)
        if p is None:
            missing += 1
            dis.append(MISSING_PENALTY_MM)
            spread.append(MISSING_PENALTY_MM)
            continue
        if lm not in SCORED_LANDMARKS:
            continue
        dis.append(landmark_disagreement(p, spacing))
        if ev.tta is not None:
            pts = ev.tta.points_px.get(side, {}).get(lm)
            if pts is None or len(pts) < 2:
                spread.append(MISSING_PENALTY_MM)
            else:
                d = pts - pts.mean(axis=0)
                if spacing is not None:
                    d = d * np.array([spacing[1], spacing[0]])
                spread.append(float(np.sqrt((d ** 2).sum(axis=1).mean())))
    units = "mm" if spacing is not None else "px"
    if not expected:
        return ScoreBreakdown(NO_LEG_SCORE, NO_LEG_SCORE if ev.tta else None, NO_LEG_SCORE if ev.tta else None,
                              0, 0, units)
    metric = None
    if ev.tta is not None:
        per_leg = []
        for side in ev.result.legs:
            vals = ev.tta.metrics.get(side, {})
            sds = [float(np.std(vals[k])) if k in vals and len(vals[k]) >= 2 else MISSING_PENALTY_MM
                   for k in TTA_METRICS]
            per_leg.append(float(np.mean(sds)))
        metric = float(np.mean(per_leg))
    return ScoreBreakdown(float(np.mean(dis)), float(np.mean(spread)) if ev.tta is not None else None, metric,
                          len(expected) - missing, missing, units)


# ---------------------------------------------------------------------------------------------- strategies
@dataclass
class RandomStrategy:
    """Uniform random scores in [0, 1), a pure function of ``(seed, image key)``: the baseline."""

    seed: int = 0
    name: str = "random"
    needs_tta: bool = False

    def score(self, evidence: ImageEvidence) -> float:
        h = hashlib.sha256(f"{self.seed}|{evidence.key}".encode()).hexdigest()
        return int(h[:13], 16) / float(1 << 52)


@dataclass
class SGRDisagreementStrategy:
    """Mean distance between SGR's regressed points and their segmentation maps' estimates (no extra runs)."""

    name: str = "sgr-disagreement"
    needs_tta: bool = False

    def score(self, evidence: ImageEvidence) -> float:
        return breakdown(evidence).sgr_disagreement_mm


def _tta_breakdown(evidence: ImageEvidence, strategy: str) -> ScoreBreakdown:
    """:func:`breakdown` of evidence that must carry test-time views (a ``needs_tta`` strategy)."""
    if evidence.tta is None:
        raise ValueError(f"the {strategy} strategy needs test-time augmentation results (ImageEvidence.tta)")
    return breakdown(evidence)


@dataclass
class TTAStrategy:
    """Mean spread of the landmarks under the test-time views."""

    name: str = "tta"
    needs_tta: bool = True

    def score(self, evidence: ImageEvidence) -> float:
        return _tta_breakdown(evidence, self.name).tta_spread_mm


@dataclass
class MetricSpreadStrategy:
    """Mean standard deviation of HKA, mLDFA and mMPTA under the test-time views (degrees)."""

    name: str = "metric-spread"
    needs_tta: bool = True

    def score(self, evidence: ImageEvidence) -> float:
        return _tta_breakdown(evidence, self.name).metric_spread_deg


@dataclass
class CombinedStrategy:
    """``sqrt((w · disagreement)² + tta_spread²) + mm_per_deg · metric_spread`` (mm)."""

    mm_per_deg: float = COMBINED_MM_PER_DEG
    disagreement_weight: float = COMBINED_DISAGREEMENT_WEIGHT
    name: str = "combined"
    needs_tta: bool = True

    def score(self, evidence: ImageEvidence) -> float:
        b = _tta_breakdown(evidence, self.name)
        return float(math.hypot(self.disagreement_weight * b.sgr_disagreement_mm, b.tta_spread_mm)
                     + self.mm_per_deg * b.metric_spread_deg)


STRATEGIES: dict[str, Callable[..., Strategy]] = {
    "random": RandomStrategy,
    "sgr-disagreement": SGRDisagreementStrategy,
    "tta": TTAStrategy,
    "metric-spread": MetricSpreadStrategy,
    "combined": CombinedStrategy,
}


def register_strategy(name: str, factory: Callable[..., Strategy]) -> None:
    """Make ``factory()`` available as strategy ``name`` (``llm-viewer rank --strategy name``).

    Raises
    ------
    ValueError
        The name is empty or already taken.
    """
    if not name or not isinstance(name, str):
        raise ValueError("a strategy needs a non-empty name")
    if name in STRATEGIES:
        raise ValueError(f"strategy {name!r} is already registered")
    STRATEGIES[name] = factory


def get_strategy(name: str, **kwargs: Any) -> Strategy:
    """An instance of a registered strategy (``random`` accepts ``seed=``).

    Raises
    ------
    ValueError
        Unknown name.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(sorted(STRATEGIES))}")
    factory = STRATEGIES[name]
    try:
        return factory(**kwargs)
    except TypeError:
        return factory()


# ---------------------------------------------------------------------------------------------- ranking
@dataclass(frozen=True)
class RankedImage:
    """One line of a relabel queue."""

    image: str
    score: float
    strategy: str
    rank: int
    case: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"image": self.image, "score": self.score, "strategy": self.strategy, "rank": self.rank}
        if self.case is not None:
            d["case"] = self.case
        d["details"] = self.details
        return d


def rank_scores(items: list[tuple[str, float, Mapping[str, Any]]], strategy: str, *, top: int | None = None,
                cases: Mapping[str, str] | None = None) -> list[RankedImage]:
    """Sort ``(image, score, details)`` by descending score (ties: by image path), number them from 1.

    Raises
    ------
    ValueError
        A score is not finite, or ``top`` < 1.
    """
    if top is not None and top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    for image, s, _ in items:
        if not math.isfinite(s):
            raise ValueError(f"{image}: score {s} is not finite")
    ordered = sorted(items, key=lambda t: (-t[1], t[0]))
    if top is not None:
        ordered = ordered[:top]
    cases = cases or {}
    return [RankedImage(image, float(s), strategy, i + 1, cases.get(image), dict(det))
            for i, (image, s, det) in enumerate(ordered)]
