"""Measure a spec-shaped JSON document (a case file, the output of ``analyze``, or the spec's minimal form).

``measure_document`` is what ``llm-viewer measure`` prints, and what the viewer, the reports and the
CSV export call: one function, so every consumer shows the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .landmarks import SIDES, LandmarkError, Point, parse_leg_landmarks
from .metrics import (
    GeometryError,
    LegMetrics,
    StudyMetrics,
    compute_leg_metrics,
    compute_study_metrics,
    validate_spacing,
)
from .schema import DocumentError, validate_landmark_document


class MeasurementError(ValueError):
    """The document cannot be measured; the message names the leg and landmark or the malformed key."""


@dataclass(frozen=True)
class LegMeasurement:
    """Landmarks and metrics of one leg (metrics it lacks landmarks for are ``None``, see ``unmeasured``)."""

    side: str
    landmarks: dict[str, Point]
    metrics: LegMetrics


@dataclass(frozen=True)
class StudyMeasurement:
    """Every leg of a study plus study-level metrics."""

    pixel_spacing_mm: tuple[float, float] | None
    legs: dict[str, LegMeasurement] = field(default_factory=dict)
    study: StudyMetrics = field(default_factory=lambda: StudyMetrics(None))

    @property
    def lld_mm(self) -> float | None:
        """Study-level leg-length discrepancy (right − left), ``None`` when not computable."""
        return self.study.lld_mm

    def as_dict(self) -> dict[str, Any]:
        """The spec's output shape.

        Returns
        -------
        dict
            ``{"pixel_spacing_mm", "legs": {side: {"landmarks", "metrics", "unmeasured"}},
            "study": {"lld_mm", "unmeasured"}}``; ``unmeasured`` maps each ``None`` metric lacking
            landmarks to the sorted ids it lacks (``{}`` when everything was computed).
        """
        return {
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "legs": {
                side: {
                    "landmarks": {lm: p.as_list() for lm, p in leg.landmarks.items()},
                    "metrics": leg.metrics.as_dict(),
                    "unmeasured": leg.metrics.unmeasured_dict(),
                }
                for side, leg in self.legs.items()
            },
            "study": self.study.as_dict(),
        }


def measure_landmarks(
    legs: Mapping[str, Mapping[str, Point | list[float] | tuple[float, float]]],
    pixel_spacing_mm: Any,
) -> StudyMeasurement:
    """Measure legs given as ``{side: {landmark: point}}``; a leg may lack landmarks.

    Parameters
    ----------
    legs : Mapping
        ``{side: {landmark id: Point or [x, y]}}``; a missing landmark only nulls the metrics that need it.
    pixel_spacing_mm : object
        ``[row_mm, column_mm]`` or ``None``.

    Returns
    -------
    StudyMeasurement

    Raises
    ------
    MeasurementError
        A leg has no landmarks, an unknown landmark id or a malformed point, the geometry of a line whose
        landmarks are present is degenerate, or the spacing is invalid.
    """
    try:
        spacing = validate_spacing(pixel_spacing_mm)
    except ValueError as exc:
        raise MeasurementError(str(exc)) from None
    out: dict[str, LegMeasurement] = {}
    for side in SIDES:
        if side not in legs:
            continue
        raw = {lm: (p.as_list() if isinstance(p, Point) else p) for lm, p in legs[side].items()}
        try:
            for lm, value in raw.items():
                if value is None:  # an absent landmark is left out; null is not a point
                    raise LandmarkError(f"{side} leg: landmark {lm!r} must be [x, y], got null")
            pts = parse_leg_landmarks(raw, side=side, require_all=False)
            if not pts:
                raise LandmarkError(f"{side} leg: no landmarks")
            metrics = compute_leg_metrics(pts, side, spacing)
        except (LandmarkError, GeometryError) as exc:
            raise MeasurementError(str(exc)) from None
        out[side] = LegMeasurement(side=side, landmarks=pts, metrics=metrics)
    return StudyMeasurement(
        pixel_spacing_mm=spacing,
        legs=out,
        study=compute_study_metrics({s: m.metrics for s, m in out.items()}),
    )


def measure_document(doc: Mapping[str, Any]) -> StudyMeasurement:
    """Measure a spec-shaped document.

    Parameters
    ----------
    doc : Mapping
        ``{"pixel_spacing_mm": [row, col] | null, "legs": {side: {"landmarks": {id: [x, y]}}}}``; other keys
        (a case file's provenance, history, ...) are ignored.

    Returns
    -------
    StudyMeasurement

    Raises
    ------
    MeasurementError
        Naming the problem: no legs, unknown side, a leg without landmarks, a malformed landmark (with leg
        and landmark), bad spacing.
    """
    if not isinstance(doc, Mapping):
        raise MeasurementError("expected a JSON object with 'pixel_spacing_mm' and 'legs'")
    try:  # the same schema as the case loader: string coordinates, bad versions, bad provenance ...
        validate_landmark_document(doc)
    except DocumentError as exc:
        raise MeasurementError(str(exc)) from None
    if "pixel_spacing_mm" not in doc:
        raise MeasurementError("'pixel_spacing_mm' is missing (use null when the spacing is unknown)")
    legs = doc.get("legs")
    if not isinstance(legs, Mapping) or not legs:
        raise MeasurementError("'legs' is missing or empty: expected {'right': {...}, 'left': {...}}")
    unknown = [s for s in legs if s not in SIDES]
    if unknown:
        raise MeasurementError(f"unknown leg {unknown[0]!r} in 'legs'; expected 'right' or 'left'")
    parsed: dict[str, Mapping[str, Any]] = {}
    for side, leg in legs.items():
        if not isinstance(leg, Mapping) or "landmarks" not in leg:
            raise MeasurementError(f"{side} leg: 'landmarks' is missing")
        lms = leg["landmarks"]
        if not isinstance(lms, Mapping):
            raise MeasurementError(f"{side} leg: 'landmarks' must be an object of landmark id -> [x, y]")
        parsed[side] = lms
    return measure_landmarks(parsed, doc["pixel_spacing_mm"])
