"""Measure a spec-shaped JSON document (a case file, the output of ``analyze``, or the spec's minimal form).

``measure_document`` is what ``llm-viewer measure`` prints, and what the viewer, the reports and the
CSV export call: one function, so every consumer shows the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .landmarks import SIDES, LandmarkError, Point, parse_leg_landmarks
from .metrics import GeometryError, LegMetrics, compute_leg_metrics, leg_length_discrepancy_mm, validate_spacing
from .schema import DocumentError, validate_landmark_document


class MeasurementError(ValueError):
    """The document cannot be measured; the message names the leg and landmark or the malformed key."""


@dataclass(frozen=True)
class LegMeasurement:
    """Landmarks and metrics of one leg."""

    side: str
    landmarks: dict[str, Point]
    metrics: LegMetrics


@dataclass(frozen=True)
class StudyMeasurement:
    """Every leg of a study plus study-level metrics."""

    pixel_spacing_mm: tuple[float, float] | None
    legs: dict[str, LegMeasurement] = field(default_factory=dict)
    lld_mm: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The spec's output shape: ``{"pixel_spacing_mm", "legs": {side: {"landmarks", "metrics"}}, "study"}``."""
        return {
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "legs": {
                side: {
                    "landmarks": {lm: p.as_list() for lm, p in leg.landmarks.items()},
                    "metrics": leg.metrics.as_dict(),
                }
                for side, leg in self.legs.items()
            },
            "study": {"lld_mm": self.lld_mm},
        }


def measure_landmarks(
    legs: Mapping[str, Mapping[str, Point | list[float] | tuple[float, float]]],
    pixel_spacing_mm: Any,
) -> StudyMeasurement:
    """Measure legs given as ``{side: {landmark: point}}``.

    Raises
    ------
    MeasurementError
        A leg misses a landmark, a point is malformed, the geometry is degenerate or the spacing is invalid.
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
            pts = parse_leg_landmarks(raw, side=side, require_all=True)
            metrics = compute_leg_metrics(pts, side, spacing)
        except (LandmarkError, GeometryError) as exc:
            raise MeasurementError(str(exc)) from None
        out[side] = LegMeasurement(side=side, landmarks=pts, metrics=metrics)
    return StudyMeasurement(
        pixel_spacing_mm=spacing,
        legs=out,
        lld_mm=leg_length_discrepancy_mm({s: m.metrics for s, m in out.items()}),
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
        Naming the problem: no legs, unknown side, a missing landmark (with leg and landmark), bad spacing.
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
