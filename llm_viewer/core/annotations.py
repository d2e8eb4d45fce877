"""Free measurements ("annotations"): a ruler between two points and angles, for anything the alignment
metrics do not cover (as the ruler and angle tools of TraumaCad or mediCAD).

Pure Python (no Qt): the viewer draws them and the PDF report lists them, both with the numbers computed
here. They are stored in the case file as an optional top-level list (old case files have none)::

    "annotations": [{"id": "a1b2c3d4", "kind": "ruler", "points_px": [[x, y], [x, y]],
                     "created_by": "Dr. A", "created_at": "2026-12-01T12:00:00Z"}, ...]

Kinds and their points (image pixels, ``[x, y]``, x = column):

- ``ruler``: two points; the distance, in mm with the pixel spacing ``[row, col]`` (non-square pixels
  included), in pixels when the image is uncalibrated.
- ``angle``: three points, the vertex in the middle; the angle at the vertex, 0–180°.
- ``line_angle``: four points, two lines (first two points, last two); the acute angle between them, 0–90°.

Angles are measured in physical space (each axis scaled by its spacing), so non-square pixels give the true
angle; without a calibration the pixels are taken as square. Free measurements are not part of what an
approval covers (the landmarks and the calibration): adding one never withdraws an approval.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ANNOTATION_KINDS: dict[str, int] = {"ruler": 2, "angle": 3, "line_angle": 4}
"""Kind -> number of points."""
ANNOTATION_LABELS: dict[str, str] = {"ruler": "Distance", "angle": "Angle (3 points)",
                                     "line_angle": "Angle between two lines"}
MAX_ANNOTATIONS = 500
MAX_COORD_PX = 1e6


class AnnotationError(ValueError):
    """A free measurement is malformed (unknown kind, wrong number of points, a coordinate not a number)."""


@dataclass(frozen=True)
class Annotation:
    """One free measurement as stored in the case file."""

    id: str  # noqa: A003 - the stored key
    kind: str
    points_px: tuple[tuple[float, float], ...]
    created_by: str | None = None
    created_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "points_px": [[x, y] for x, y in self.points_px],
                "created_by": self.created_by, "created_at": self.created_at}

    def with_points(self, points_px: Sequence[Sequence[float]]) -> Annotation:
        """The same measurement with its points moved (validated)."""
        return Annotation(self.id, self.kind, _points(points_px, self.kind, self.id), self.created_by,
                          self.created_at)


@dataclass(frozen=True)
class AnnotationValue:
    """What a measurement measures: ``value`` in ``unit`` ("mm", "px" or "deg") and a label for display."""

    kind: str
    value: float
    unit: str
    calibrated: bool

    @property
    def text(self) -> str:
        """``"42.3 mm"``, ``"296 px (uncalibrated)"``, ``"37.5°"``."""
        if self.unit == "deg":
            return f"{self.value:.1f}°"
        if self.unit == "mm":
            return f"{self.value:.1f} mm"
        return f"{self.value:.0f} px (uncalibrated)"


def new_annotation(kind: str, points_px: Sequence[Sequence[float]], *, created_by: str | None,
                   created_at: str | None, annotation_id: str | None = None) -> Annotation:
    """A new measurement with a fresh id (validated; raises :class:`AnnotationError`)."""
    if kind not in ANNOTATION_KINDS:
        raise AnnotationError(f"unknown measurement kind {kind!r}; expected one of {', '.join(ANNOTATION_KINDS)}")
    aid = annotation_id or uuid.uuid4().hex[:8]
    return Annotation(aid, kind, _points(points_px, kind, aid), created_by, created_at)


def _points(raw: Any, kind: str, where: str) -> tuple[tuple[float, float], ...]:
    n = ANNOTATION_KINDS[kind]
    if not isinstance(raw, (list, tuple)) or len(raw) != n:
        raise AnnotationError(f"measurement {where}: a {kind} needs {n} points [x, y], got {raw!r:.60}")
    out = []
    for p in raw:
        if not isinstance(p, (list, tuple)) or len(p) != 2 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in p):
            raise AnnotationError(f"measurement {where}: a point must be [x, y] numbers, got {p!r:.60}")
        x, y = float(p[0]), float(p[1])
        if not (math.isfinite(x) and math.isfinite(y)) or max(abs(x), abs(y)) > MAX_COORD_PX:
            raise AnnotationError(f"measurement {where}: point {p!r:.60} is not a finite pixel position")
        out.append((x, y))
    return tuple(out)


def parse_annotation(raw: Any, index: int = 0) -> Annotation:
    """One stored measurement (a dict) -> :class:`Annotation`; raises :class:`AnnotationError` naming it."""
    where = f"annotations[{index}]"
    if not isinstance(raw, Mapping):
        raise AnnotationError(f"{where} must be an object, got {raw!r:.60}")
    kind = raw.get("kind")
    if kind not in ANNOTATION_KINDS:
        raise AnnotationError(f"{where}: unknown kind {kind!r}; expected one of {', '.join(ANNOTATION_KINDS)}")
    aid = raw.get("id")
    if not isinstance(aid, str) or not aid or len(aid) > 64:
        aid = f"{index}"
    by, at = raw.get("created_by"), raw.get("created_at")
    return Annotation(aid, kind, _points(raw.get("points_px"), kind, where),
                      by if isinstance(by, str) else None, at if isinstance(at, str) else None)


def parse_annotations(raw: Any) -> list[Annotation]:
    """The case file's ``annotations`` list (``None`` or absent: none). Raises :class:`AnnotationError`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AnnotationError(f"'annotations' must be a list of measurements, got {raw!r:.60}")
    if len(raw) > MAX_ANNOTATIONS:
        raise AnnotationError(f"'annotations' holds {len(raw)} measurements; at most {MAX_ANNOTATIONS}")
    out = [parse_annotation(r, i) for i, r in enumerate(raw)]
    ids = [a.id for a in out]
    if len(set(ids)) != len(ids):
        raise AnnotationError("'annotations': two measurements have the same id")
    return out


# ---------------------------------------------------------------------------------------------- geometry
def _scale(pixel_spacing_mm: Sequence[float] | None) -> tuple[float, float, bool]:
    """(mm per pixel along x, along y, calibrated); square unit pixels when uncalibrated."""
    if pixel_spacing_mm is None:
        return 1.0, 1.0, False
    row, col = float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1])
    if not (math.isfinite(row) and math.isfinite(col) and row > 0 and col > 0):
        raise AnnotationError(f"pixel spacing must be two positive numbers [row, col], got {pixel_spacing_mm!r}")
    return col, row, True


def distance(p: Sequence[float], q: Sequence[float], pixel_spacing_mm: Sequence[float] | None) -> AnnotationValue:
    """Distance from ``p`` to ``q``: mm with the spacing ``[row, col]`` (dx scaled by col, dy by row), else px."""
    sx, sy, calibrated = _scale(pixel_spacing_mm)
    d = math.hypot((q[0] - p[0]) * sx, (q[1] - p[1]) * sy)
    return AnnotationValue("ruler", d, "mm" if calibrated else "px", calibrated)


def _angle_between(u: tuple[float, float], v: tuple[float, float]) -> float:
    nu, nv = math.hypot(*u), math.hypot(*v)
    if nu < 1e-9 or nv < 1e-9:
        raise AnnotationError("an angle needs two lines of non-zero length: the points coincide")
    c = max(-1.0, min(1.0, (u[0] * v[0] + u[1] * v[1]) / (nu * nv)))
    return math.degrees(math.acos(c))


def vertex_angle(a: Sequence[float], vertex: Sequence[float], b: Sequence[float],
                 pixel_spacing_mm: Sequence[float] | None = None) -> AnnotationValue:
    """The angle a–vertex–b in degrees (0–180), in physical space when the spacing is known."""
    sx, sy, calibrated = _scale(pixel_spacing_mm)
    u = ((a[0] - vertex[0]) * sx, (a[1] - vertex[1]) * sy)
    v = ((b[0] - vertex[0]) * sx, (b[1] - vertex[1]) * sy)
    return AnnotationValue("angle", _angle_between(u, v), "deg", calibrated)


def line_angle(p0: Sequence[float], p1: Sequence[float], q0: Sequence[float], q1: Sequence[float],
               pixel_spacing_mm: Sequence[float] | None = None) -> AnnotationValue:
    """The acute angle (0–90°) between line p0–p1 and line q0–q1, in physical space when the spacing is known."""
    sx, sy, calibrated = _scale(pixel_spacing_mm)
    u = ((p1[0] - p0[0]) * sx, (p1[1] - p0[1]) * sy)
    v = ((q1[0] - q0[0]) * sx, (q1[1] - q0[1]) * sy)
    a = _angle_between(u, v)
    return AnnotationValue("line_angle", min(a, 180.0 - a), "deg", calibrated)


def measure_annotation(annotation: Annotation, pixel_spacing_mm: Sequence[float] | None) -> AnnotationValue:
    """The value of a stored measurement. Raises :class:`AnnotationError` for a degenerate angle."""
    pts = annotation.points_px
    if annotation.kind == "ruler":
        return distance(pts[0], pts[1], pixel_spacing_mm)
    if annotation.kind == "angle":
        return vertex_angle(pts[0], pts[1], pts[2], pixel_spacing_mm)
    return line_angle(pts[0], pts[1], pts[2], pts[3], pixel_spacing_mm)


def annotation_text(annotation: Annotation, pixel_spacing_mm: Sequence[float] | None) -> str:
    """The value as shown on the canvas and in the report, never raising (``"undefined: ..."``)."""
    try:
        return measure_annotation(annotation, pixel_spacing_mm).text
    except AnnotationError as exc:
        return f"undefined ({exc})"


def radius_mm(radius_px: float, pixel_spacing_mm: Sequence[float] | None) -> float | None:
    """A radius given in pixels (a circle in the image) in mm: its larger semi-axis (``None`` uncalibrated)."""
    if pixel_spacing_mm is None:
        return None
    sx, sy, _ = _scale(pixel_spacing_mm)
    return float(radius_px) * max(sx, sy)
