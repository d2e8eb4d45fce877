"""What an analysis returns: landmarks with their trust measures, ROI boxes, legs, the whole result, and the
flags a person must check (:func:`flag_landmarks`, used by the engine and the refinement stage alike)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..core.landmarks import REGION_LANDMARKS
from .sidecue import SideEvidence


@dataclass(frozen=True)
class LandmarkPrediction:
    """One landmark in original pixels with its trust measure (see :mod:`llm_viewer.pipeline.decode`)."""

    x_px: float
    y_px: float
    score: float
    uncertainty_px: float
    seg_peak_xy_px: tuple[float, float] | None
    flagged: bool = False
    tta_spread_px: float = 0.0
    """Test-time spread of the first stage (0 unless ``tta=True``)."""
    radius90_px: float | None = None
    """Calibrated radius (original px) that holds the true point with the calibration's probability (90 %);
    ``None`` when the bundle has no calibration (:mod:`llm_viewer.pipeline.calibration`)."""
    ood_score: float | None = None
    """Distance from the calibration (training) distribution, 1 = threshold; ``None`` when uncalibrated."""
    ood: bool = False
    """The landmark (or its image) is unlike the calibration data: check it."""


@dataclass(frozen=True)
class RoiBox:
    """A detected region assigned to a leg; edges in original pixels (pixel-centre convention)."""

    side: str
    region: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float


@dataclass
class LegPrediction:
    side: str
    landmarks: dict[str, LandmarkPrediction]
    missing_regions: list[str]
    absent_regions: dict[str, str] = field(default_factory=dict)
    """Each missing region -> why: ``"not in the image"`` (it would lie beyond the image edge) or
    ``"not detected"`` (:func:`llm_viewer.pipeline.legs.absent_reasons`)."""
    side_evidence: SideEvidence | None = None
    """How the side was decided: by position (two legs) or which anatomical cues (one leg), every cue's vote."""
    resolution_limited: dict[str, float] = field(default_factory=dict)
    """Regions whose ROI box (larger side, original px) is under half the model's input size, and the size:
    the image resolution, not the model, limits their landmarks' accuracy."""


@dataclass
class AnalysisResult:
    legs: dict[str, LegPrediction]
    rois: list[RoiBox]
    warnings: list[str]
    timings_s: dict[str, float]
    model_id: str
    device: str
    image_size_px: tuple[int, int] = (0, 0)  # (width, height)
    unassigned_rois: list[RoiBox] = field(default_factory=list)
    review_regions: list[tuple[str, str]] = field(default_factory=list)
    """``(side, region)`` whose ROI box is a guess (one detected box over both legs, split in two, or a box of
    another class taken for this region: :func:`llm_viewer.pipeline.legs.knee_aliases`): their
    landmarks stay flagged whatever the maps say (see :func:`flag_landmarks`)."""
    mirrored_suspect: bool = False
    """Two legs whose anatomy both contradict their left/right positions (lateral sides towards the midline):
    panels mirrored one by one, or failed cues (see :class:`llm_viewer.pipeline.legs.LegAssignment`); or a
    lead side marker that reads mirrored (:mod:`llm_viewer.pipeline.marker`)."""
    side_markers: list = field(default_factory=list)
    """Lead side markers read in the image (:class:`llm_viewer.pipeline.marker.MarkerReading`, best first)."""
    stage1_xy_px: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    """``(side, landmark) -> (x, y)`` of the first stage, before refinement (what the calibration reads)."""
    uncertainty: object | None = None
    """:class:`llm_viewer.pipeline.calibration.UncertaintyReport`: calibration status and OOD flag."""
    detection_zoom_out: float = 1.0
    """1.0, or the factor the image was zoomed out by for the detector (a view without a whole leg: a knee or
    an ankle alone; :mod:`llm_viewer.pipeline.multiscale`)."""
    detection_box_px: tuple[int, int, int, int] | None = None
    """``(x0, y0, x1, y1)`` of the part of the image the detector ran on (inside padding bars:
    :func:`llm_viewer.pipeline.crop.detection_crop`), or ``None`` for the whole image."""


def flag_landmarks(result: AnalysisResult) -> None:
    """Flag for review what a person must look at, in place, and say why in ``result.warnings``.

    * every landmark of ``result.review_regions`` (a guessed ROI box);
    * the landmarks of every implausible relation found by :func:`llm_viewer.core.plausibility.check_leg`
      (a landmark that jumped to a look-alike, e.g. the other leg's malleolus).

    The engine calls it after its landmark stage when it does not refine; :meth:`Refiner.apply`, which
    recomputes ``flagged`` from its own maps, calls it at its end. Idempotent (a warning is added once).
    """
    from ..core.plausibility import check_leg

    marks: list[tuple[str, str]] = []
    for side, region in result.review_regions:
        marks += [(side, lm) for lm in REGION_LANDMARKS.get(region, ())]
    for side, leg in result.legs.items():
        for issue in check_leg(side, {k: (p.x_px, p.y_px) for k, p in leg.landmarks.items()}):
            marks += [(side, lm) for lm in issue.landmarks]
            message = f"{issue.message}: these landmarks are flagged for review"
            if message not in result.warnings:
                result.warnings.append(message)
    for side, lm in marks:
        leg = result.legs.get(side)
        if leg is not None and lm in leg.landmarks and not leg.landmarks[lm].flagged:
            leg.landmarks[lm] = replace(leg.landmarks[lm], flagged=True)


class AnalysisCancelled(Exception):
    """Raised by :meth:`InferenceEngine.analyze` when its ``cancel`` callback returns true."""
