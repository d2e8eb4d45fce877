"""The ``expected-error`` strategy: rank images by the expected error of their clinical metrics, and keep the
top of the queue diverse.

Score of an image (degrees; higher = more informative), from what ``llm-viewer analyze`` reports:

* for each leg found, for each of HKA, mLDFA and mMPTA (:data:`SCORED_METRICS`), the half-width of the
  metric's calibrated 90 % interval (:func:`llm_viewer.core.uncertainty.metric_intervals` over the landmarks'
  conformal radii, which already grow with the image's and the landmark's out-of-distribution score and with
  the pixel size);
* a metric the leg cannot give because a region was **not detected** counts :data:`MISSING_METRIC_DEG`
  (a region the engine places beyond the image edge, "not in the image", is a partial view, not a mistake,
  and the metric is left out); a found landmark without a calibrated radius counts its raw uncertainty
  (twice ``uncertainty_px``) instead;
* the leg's value is the mean over its metrics (or, when it allows none, :data:`DEG_PER_MM` degrees per mm of
  its mean landmark radius); the image's is the mean over the legs it should have: two when the image is
  at least :data:`BILATERAL_MIN_ASPECT` as wide as tall, else one; a leg expected and not found counts
  :data:`MISSING_METRIC_DEG`;
* no leg at all scores :data:`~llm_viewer.pipeline.active.strategies.NO_LEG_SCORE`. There is no extra term for
  the image's out-of-distribution flag: the radii already grow with it, and a bonus on top lowered Spearman
  from 0.70 to 0.63 on the mixed pool of docs/ACTIVE_LEARNING.md (the flag also fires on some clean images).

Diversity (:func:`diverse_order`): the queue is built greedily; each next image maximises
``score × (1 − λ · s)`` where ``s`` is its largest similarity (``exp(−d² / τ)`` between image descriptors:
a 12×36 thumbnail of the normalised image, its aspect ratio and which legs were found) to an image already
queued, so that five near-identical studies do not fill the top five.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...core.landmarks import LANDMARK_REGION
from ...core.metrics import METRIC_LANDMARKS
from ...core.uncertainty import DEFAULT_COVERAGE, metric_intervals
from ..legs import NOT_IN_IMAGE
from .strategies import NO_LEG_SCORE, ImageEvidence, register_strategy

SCORED_METRICS: tuple[str, ...] = ("hka_deg", "mldfa_deg", "mmpta_deg")
MISSING_METRIC_DEG = 10.0
"""Expected error of a metric the model could not measure because a region was missed."""
DEG_PER_MM = 0.2
"""For a leg that allows no angle (a knee alone): degrees per mm of mean landmark radius."""
BILATERAL_MIN_ASPECT = 0.25
"""Width / height from which an image is expected to hold both legs (a long-leg film of both legs is about
0.33–0.5 wide per unit height; a one-leg crop 0.1–0.2)."""


def _leg_expected_error(leg, spacing, factors: dict[str, float], coverage: float) -> float:
    pts = {lm: (p.x_px, p.y_px) for lm, p in leg.landmarks.items()}
    radii = {lm: (p.radius90_px if p.radius90_px is not None else 2.0 * float(p.uncertainty_px))
             for lm, p in leg.landmarks.items()}
    try:
        iv = metric_intervals(pts, radii, leg.side, spacing, coverage=coverage, factors=factors,
                              keys=SCORED_METRICS)
    except (ValueError, TypeError):
        iv = {}
    absent = dict(leg.absent_regions or {})
    values = []
    for key in SCORED_METRICS:
        if key in iv:
            values.append(min(float(iv[key].half_width), 4.0 * MISSING_METRIC_DEG))
            continue
        lacking = [lm for lm in METRIC_LANDMARKS[key] if lm not in pts]
        if lacking and all(absent.get(LANDMARK_REGION[lm]) == NOT_IN_IMAGE for lm in lacking):
            continue  # a partial view: this metric is not the model's to get right
        values.append(MISSING_METRIC_DEG)
    if values:
        return float(np.mean(values))
    if not radii:
        return MISSING_METRIC_DEG
    px_mm = math.sqrt(spacing[0] * spacing[1]) if spacing else 1.0
    return DEG_PER_MM * float(np.mean(list(radii.values()))) * px_mm


def expected_error_deg(ev: ImageEvidence) -> float:
    """The score of the module docstring for one image (degrees)."""
    result = ev.final if ev.final is not None else ev.result
    if not result.legs:
        return NO_LEG_SCORE
    unc = result.uncertainty
    factors = dict(getattr(unc, "metric_factors", None) or {})
    coverage = float(getattr(unc, "coverage", None) or DEFAULT_COVERAGE)
    legs = [_leg_expected_error(leg, ev.pixel_spacing_mm, factors, coverage) for leg in result.legs.values()]
    w, h = ev.image_size_px or result.image_size_px or (0, 0)
    expected = 2 if h > 0 and w / h >= BILATERAL_MIN_ASPECT else 1
    legs += [MISSING_METRIC_DEG] * max(0, expected - len(legs))
    return float(np.mean(legs))


@dataclass
class ExpectedErrorStrategy:
    """Expected error of the clinical metrics from the calibrated radii (module docstring); no extra runs."""

    name: str = "expected-error"
    needs_tta: bool = False

    def score(self, evidence: ImageEvidence) -> float:
        return expected_error_deg(evidence)


register_strategy("expected-error", ExpectedErrorStrategy)


# ---------------------------------------------------------------------------------------------- diversity
THUMB_WH = (12, 36)


def image_descriptor(norm: np.ndarray, legs_found: Sequence[str]) -> np.ndarray:
    """A small vector that is nearly equal for near-identical studies: a ``12×36`` z-scored thumbnail of the
    normalised image, its log aspect ratio and which legs were found."""
    import cv2

    a = np.asarray(norm, dtype=np.float32)
    thumb = cv2.resize(a, THUMB_WH, interpolation=cv2.INTER_AREA).ravel()
    thumb = (thumb - thumb.mean()) / max(float(thumb.std()), 1e-6)
    aspect = math.log(max(a.shape[1], 1) / max(a.shape[0], 1))
    legs = [1.0 if s in legs_found else 0.0 for s in ("right", "left")]
    return np.concatenate([thumb / math.sqrt(thumb.size), [aspect], legs]).astype(np.float64)


def diverse_order(scores: Sequence[float], descriptors: Sequence[np.ndarray], *, lam: float = 0.5,
                  tau: float = 0.05, top: int | None = None) -> list[int]:
    """Indices in queue order: greedy ``score × (1 − lam · max similarity to the queued ones)``.

    Parameters
    ----------
    scores : sequence of float
        Higher = more informative (non-negative).
    descriptors : sequence of ndarray
        One :func:`image_descriptor` per image.
    lam : float
        0 keeps the plain score order; 1 lets a duplicate of a queued image score nothing.
    tau : float
        Squared descriptor distance at which similarity falls to ``1/e``.
    top : int, optional
        Diversify only the first ``top`` places (the rest follows by score).

    Raises
    ------
    ValueError
        Lengths differ or ``lam`` is outside ``[0, 1]``.
    """
    if len(scores) != len(descriptors):
        raise ValueError(f"{len(scores)} scores but {len(descriptors)} descriptors")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"diversity must be between 0 and 1, got {lam}")
    n = len(scores)
    s = np.asarray(scores, dtype=np.float64)
    if n == 0:
        return []
    d = np.stack([np.asarray(x, dtype=np.float64) for x in descriptors])
    limit = n if top is None else min(n, top)
    max_sim = np.zeros(n)
    left = list(range(n))
    order: list[int] = []
    while left and len(order) < limit:
        # ties: argmax takes the first, and `left` is in index order
        best = left[int(np.argmax([s[i] * (1.0 - lam * max_sim[i]) for i in left]))]
        order.append(best)
        left.remove(best)
        sim = np.exp(-((d - d[best]) ** 2).sum(axis=1) / tau)
        max_sim = np.maximum(max_sim, sim)
    order += sorted(left, key=lambda i: (-s[i], i))
    return order
