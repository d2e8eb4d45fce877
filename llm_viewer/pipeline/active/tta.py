"""Evidence for active learning: the engine's result plus its landmarks and metrics under test-time views.

The engine's own ``tta=True`` folds the spread into ``uncertainty_px`` and does not expose the augmented
landmark sets, which the metric spread needs. So each view of :data:`~.strategies.VIEWS` re-runs
``InferenceEngine.analyze`` on the same image with the detected ROI boxes shifted / scaled (and, for one
view, the normalised intensities raised to a gamma) passed as ``detections``: the engine maps every
landmark back to original pixels itself, exactly. The detector runs once per image.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ...core.landmarks import LANDMARK_IDS
from ...core.metrics import GeometryError, compute_leg_metrics
from ..calibration import apply_calibration
from ..crop import Box, normalize_intensity
from ..engine import AnalysisResult, InferenceEngine
from ..legs import Detection
from .strategies import TTA_METRICS, VIEWS, ImageEvidence, TTAResult

__all__ = ["UncertaintyAnalyzer", "collect_views", "perturbed_detections", "leg_metrics_or_none"]


def perturbed_detections(result: AnalysisResult, dx: float, dy: float, scale: float) -> list[Detection]:
    """The result's ROI boxes moved by ``(dx, dy)`` × their larger side and scaled by ``scale`` about the centre."""
    out = []
    for r in result.rois:
        box = Box(r.x0, r.y0, r.x1, r.y1)
        side = max(box.width, box.height)
        cx, cy = box.cx + dx * side, box.cy + dy * side
        hw, hh = box.width * scale / 2, box.height * scale / 2
        out.append(Detection(r.region, Box(cx - hw, cy - hh, cx + hw, cy + hh), r.score))
    return out


def leg_metrics_or_none(points: Mapping[str, tuple[float, float]], side: str,
                        spacing: tuple[float, float] | None) -> dict[str, float] | None:
    """HKA, mLDFA, mMPTA of a leg from :func:`compute_leg_metrics`, or ``None`` if a landmark is missing or
    the geometry is degenerate."""
    if any(lm not in points for lm in LANDMARK_IDS):
        return None
    try:
        m = compute_leg_metrics({lm: points[lm] for lm in LANDMARK_IDS}, side, spacing).as_dict()
    except (GeometryError, ValueError):
        return None
    vals = {k: m.get(k) for k in TTA_METRICS}
    return {k: float(v) for k, v in vals.items() if v is not None}


def _points(result: AnalysisResult) -> dict[str, dict[str, tuple[float, float]]]:
    return {side: {lm: (p.x_px, p.y_px) for lm, p in leg.landmarks.items()} for side, leg in result.legs.items()}


class UncertaintyAnalyzer:
    """Runs the engine (and the bundle's refinement stage, if any) on an image and collects the evidence.

    Parameters
    ----------
    engine : InferenceEngine
        Used as is (its own ``tta`` should be off, so that ``uncertainty_px`` is SGR's disagreement term).
    refiner : Refiner, optional
        Applied to every view, as :mod:`training.evaluate` does; the SGR disagreement is read before it.
    views : sequence
        ``(dx, dy, scale, gamma)`` per extra view.
    """

    def __init__(self, engine: InferenceEngine, refiner=None,
                 views: Sequence[tuple[float, float, float, float]] = VIEWS) -> None:
        self.engine = engine
        self.refiner = refiner
        self.views = tuple(views)

    @classmethod
    def from_bundle(cls, path: str | Path | None, device: str = "cpu", *, refine: bool = True
                    ) -> UncertaintyAnalyzer:
        """Load a bundle (``None``: the demo bundle) and its refinement stage.

        Raises
        ------
        BundleError, ValueError
            As :meth:`InferenceEngine.from_bundle` / ``Refiner.from_bundle_dir``.
        """
        from ..bundle import default_bundle_path
        from ..refine import Refiner

        engine = InferenceEngine.from_bundle(path, device=device)
        refiner = Refiner.from_bundle_dir(path or default_bundle_path(), device=engine.device) if refine else None
        return cls(engine, refiner)

    def _run(self, image: np.ndarray, norm: np.ndarray, detections: list[Detection] | None
             ) -> tuple[AnalysisResult, AnalysisResult]:
        raw = self.engine.analyze(image, detections=detections, refine=False)
        if self.refiner is None:
            return raw, raw
        final = copy.deepcopy(raw)
        self.refiner.apply(norm, final, self.engine.config.regions)
        # the radii and OOD scores of the points a reviewer sees, exactly as ``engine.analyze`` gives them
        apply_calibration(self.engine.calibration, norm, final, self.engine.config.regions, tta=self.engine.tta)
        return raw, final

    def evidence(self, pixels: np.ndarray, *, tta: bool = True, pixel_spacing_mm: tuple[float, float] | None = None,
                 key: str = "", fill_landmarks: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
                 detections: list[Detection] | None = None) -> tuple[ImageEvidence, AnalysisResult]:
        """Analyse ``pixels`` and gather the evidence of every strategy.

        Parameters
        ----------
        pixels : ndarray
            The image (``RadiographImage.pixels``).
        tta : bool
            Also run the test-time views (needed by ``tta``, ``metric-spread``, ``combined``).
        pixel_spacing_mm : tuple, optional
            ``[row, col]``; scores are in mm with it, in px without.
        key : str
            Image identifier (path).
        fill_landmarks : mapping, optional
            ``{side: {landmark: (x, y)}}`` used for landmarks the models do not predict when computing metrics
            (the simulation trains only the knee model and takes the other landmarks from the ground truth).
        detections : list of Detection, optional
            ROI boxes instead of running the detector.

        Returns
        -------
        (ImageEvidence, AnalysisResult)
            The evidence (its ``result`` is the engine's unrefined output) and the final result (refined
            when the bundle has a refinement stage): the landmarks a reviewer would see.
        """
        img = np.asarray(pixels)
        norm = normalize_intensity(img, self.engine.config.intensity) if (
            self.refiner is not None or any(v[3] != 1.0 for v in self.views)) else img
        raw, final = self._run(img, norm, detections)
        tta_res = None
        if tta:
            views_pts = [_points(final)]
            for dx, dy, scale, gamma in self.views:
                dets = perturbed_detections(raw, dx, dy, scale)
                if not dets:
                    break
                view_img, view_norm = (img, norm) if gamma == 1.0 else ((norm ** gamma).astype(np.float32),) * 2
                views_pts.append(_points(self._run(view_img, view_norm, dets)[1]))
            tta_res = collect_views(views_pts, pixel_spacing_mm, fill_landmarks)
        return ImageEvidence(raw, tta_res, pixel_spacing_mm, key, final=final,
                             image_size_px=(int(img.shape[1]), int(img.shape[0]))), final


def collect_views(views_pts: list[dict[str, dict[str, tuple[float, float]]]], spacing: tuple[float, float] | None,
                  fill: Mapping[str, Mapping[str, tuple[float, float]]] | None = None) -> TTAResult:
    """Stack the landmarks of every view (``[{side: {landmark: (x, y)}}, ...]``, view 0 unperturbed) and the
    HKA / mLDFA / mMPTA of every view whose leg is complete (``fill`` supplies landmarks no model predicts)."""
    points: dict[str, dict[str, list[tuple[float, float]]]] = {}
    metrics: dict[str, dict[str, list[float]]] = {}
    for view in views_pts:
        for side, pts in view.items():
            for lm, xy in pts.items():
                points.setdefault(side, {}).setdefault(lm, []).append(xy)
            full = dict((fill or {}).get(side, {}))
            full.update(pts)
            m = leg_metrics_or_none(full, side, spacing)
            if m is not None:
                for k, v in m.items():
                    metrics.setdefault(side, {}).setdefault(k, []).append(v)
    return TTAResult({s: {lm: np.asarray(v, dtype=np.float64) for lm, v in d.items()} for s, d in points.items()},
                     {s: {k: np.asarray(v, dtype=np.float64) for k, v in d.items()} for s, d in metrics.items()},
                     len(views_pts))
