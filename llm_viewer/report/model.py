"""Everything a report shows about one case, gathered once (no drawing here).

The PDF report and the CSV export both read this, so a number in the PDF, in the CSV and from
``llm-viewer measure`` is the same number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.annotations import Annotation, AnnotationError, annotation_text
from ..core.approval import ApprovalCheck, check_approval
from ..core.casefile import Case, load_case, sha256_file
from ..core.landmarks import LANDMARK_IDS, SIDES, Point
from ..core.measurement import MeasurementError, measure_landmarks
from ..core.metrics import LegMetrics, StudyMetrics, compute_study_metrics
from ..core.uncertainty import case_radii_px, case_uncertainty, leg_intervals

SPACING_MEANING: dict[str, str] = {
    "PixelSpacing": "DICOM Pixel Spacing: calibrated at the patient plane by the modality.",
    "ImagerPixelSpacing": "DICOM Imager Pixel Spacing: detector plane, not corrected for magnification "
    "(mm values may be overestimated by the geometric magnification, typically 5-15%).",
    "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor": "Imager Pixel Spacing corrected by the "
    "estimated radiographic magnification factor from the DICOM header.",
    "manual-ruler": "Manual calibration on the radiopaque ruler.",
    "manual-ball": "Manual calibration on the calibration ball.",
    "manual-entry": "Spacing entered by hand.",
    "synthetic": "Synthetic image: exact spacing known by construction.",
    "case-file": "Spacing as stored in the case file.",
    "unknown": "Unknown spacing: angles are valid, lengths and distances in mm cannot be given.",
}


@dataclass(frozen=True)
class LegReport:
    """One leg: its landmarks, its metrics (or why there are none) and its trust summary.

    A leg missing landmarks has every metric the others allow; ``metrics.reason(key)`` says what a
    ``None`` metric needs. ``error`` is set only when the leg cannot be measured at all.
    """

    side: str
    landmarks: dict[str, Point]
    metrics: LegMetrics | None
    error: str | None
    uncertainty_px: dict[str, float]
    manual: list[str]
    flagged: list[str] = field(default_factory=list)
    intervals: dict = field(default_factory=dict)
    """``metric -> core.uncertainty.Interval`` (90 %) when the case holds calibrated radii; else empty."""
    borderline: dict = field(default_factory=dict)
    """``{"alignment": bool | None, "cpak_type": bool | None}`` (core.uncertainty.borderline_classes)."""

    @property
    def mean_uncertainty_px(self) -> float | None:
        vals = list(self.uncertainty_px.values())
        return sum(vals) / len(vals) if vals else None

    @property
    def max_uncertainty_px(self) -> float | None:
        return max(self.uncertainty_px.values()) if self.uncertainty_px else None


@dataclass(frozen=True)
class CaseReport:
    """A case ready to be reported."""

    case_path: Path
    case: Case
    image_path: Path | None
    image_problem: str | None
    pixel_spacing_mm: tuple[float, float] | None
    spacing_source: str
    legs: dict[str, LegReport]
    study: StudyMetrics
    model_ids: list[str]
    review: dict[str, Any]
    corrections: list[dict[str, Any]]
    synthetic: bool
    warnings: list[str] = field(default_factory=list)
    approval: ApprovalCheck = field(default_factory=lambda: ApprovalCheck("not_approved"))
    """Whether the approval still holds (:func:`llm_viewer.core.approval.check_approval`)."""
    annotations: list[tuple[Annotation, str]] = field(default_factory=list)
    """Free measurements (ruler, angles) with their value as text (:mod:`llm_viewer.core.annotations`)."""

    @property
    def lld_mm(self) -> float | None:
        """Study-level leg-length discrepancy (right − left); ``None`` with ``study.reason()`` saying why."""
        return self.study.lld_mm

    @property
    def case_id(self) -> str:
        name = self.case_path.name
        return name[: -len(".case.json")] if name.endswith(".case.json") else self.case_path.stem


def build_case_report(case_path: str | Path, *, check_image: bool = True) -> CaseReport:
    """Load a case file and gather what a report shows.

    Parameters
    ----------
    case_path : path-like
        The case file.
    check_image : bool
        Verify that the image exists and still has the recorded sha256.

    Raises
    ------
    llm_viewer.core.casefile.CaseFileError
        When the case file cannot be read.
    """
    case_path = Path(case_path)
    case = load_case(case_path)
    spacing = case.pixel_spacing_mm
    legs: dict[str, LegReport] = {}
    warnings: list[str] = []
    model_ids: list[str] = []
    for side in case.sides:
        lms = case.landmarks(side)
        unc: dict[str, float] = {}
        manual: list[str] = []
        flagged: list[str] = []
        for lm in LANDMARK_IDS:
            prov = case.provenance(side, lm)
            if prov.get("uncertainty_px") is not None:
                unc[lm] = float(prov["uncertainty_px"])
            if prov.get("source") == "manual":
                manual.append(lm)
            elif prov.get("flagged"):
                flagged.append(lm)
            mid = prov.get("model_id")
            if mid and mid not in model_ids:
                model_ids.append(mid)
        metrics: LegMetrics | None = None
        error: str | None = None
        try:
            metrics = measure_landmarks({side: lms}, spacing).legs[side].metrics
        except MeasurementError as exc:
            error = str(exc)
            warnings.append(f"{side} leg not measured: {exc}")
        intervals, borderline = ({}, {})
        info = case_uncertainty(case)
        if metrics is not None and info:
            intervals, borderline = leg_intervals({k: (p.x, p.y) for k, p in lms.items()}, case_radii_px(case, side),
                                                  side, spacing, info)
        legs[side] = LegReport(side, lms, metrics, error, unc, manual, flagged, intervals, borderline)
    study = compute_study_metrics({s: leg.metrics for s, leg in legs.items()})

    image_path: Path | None = None
    problem: str | None = None
    if case.image is None:
        problem = "the case names no image"
    else:
        image_path = case.resolve_image_path(case_path)
        if not image_path.exists():
            problem = f"image not found: {image_path}"
        elif check_image and case.image.sha256 and sha256_file(image_path) != case.image.sha256:
            problem = "the image file has changed since the case was made (sha256 differs)"
    if problem:
        warnings.append(problem)
    approval = check_approval(case)
    if approval.problem:
        warnings.insert(0, approval.message or approval.state)
    try:
        annotations = [(a, annotation_text(a, spacing)) for a in case.annotations]
    except AnnotationError as exc:  # load_case validated them; kept for cases built in memory
        annotations = []
        warnings.append(f"free measurements not shown: {exc}")
    synthetic = case.get("synthetic") is not None or str(case.study.get("patient_name") or "").startswith("SYNTH")
    return CaseReport(
        case_path=case_path, case=case, image_path=image_path, image_problem=problem,
        pixel_spacing_mm=spacing, spacing_source=case.spacing_source, legs=legs, study=study,
        model_ids=model_ids, review=case.review, corrections=case.manual_moves(), synthetic=synthetic,
        warnings=warnings, approval=approval, annotations=annotations,
    )


def ordered_sides(report: CaseReport) -> list[str]:
    """Sides present, right first."""
    return [s for s in SIDES if s in report.legs]
