"""Qt-free helpers of the review application: per-leg measurement, case file location, display presets.

Nothing here imports Qt, so the logic is testable without a display and reusable by scripts. No metric is
computed here either: every number comes from :mod:`llm_viewer.core.measurement` / :mod:`llm_viewer.core.metrics`.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.casefile import CASE_SUFFIX
from ..core.landmarks import LANDMARK_IDS, SIDES, Point
from ..core.measurement import MeasurementError, measure_landmarks
from ..core.metrics import LegMetrics, StudyMetrics, compute_study_metrics
from ..core.plausibility import check_leg
from ..core.uncertainty import leg_intervals


@dataclass(frozen=True)
class LegState:
    """What the viewer shows for one leg: its points, and either its metrics or why there are none.

    With landmarks missing, ``metrics`` still holds every metric the others allow (the rest are ``None``
    and ``metrics.reason(key)`` says what they need); ``error`` is set only when the leg cannot be
    measured at all (no landmark, degenerate geometry).
    """

    side: str
    landmarks: dict[str, Point]
    metrics: LegMetrics | None
    error: str | None
    implausible: tuple[str, ...] = ()
    """Messages of :func:`llm_viewer.core.plausibility.check_leg` (a point on the wrong structure?)."""
    intervals: dict = field(default_factory=dict)
    """``metric -> core.uncertainty.Interval`` (90 %) when the case has calibrated radii; else empty."""
    borderline: dict = field(default_factory=dict)
    """``{"alignment": bool | None, "cpak_type": bool | None}`` from :func:`core.uncertainty.leg_intervals`."""

    @property
    def missing(self) -> list[str]:
        return [lm for lm in LANDMARK_IDS if lm not in self.landmarks]


@dataclass(frozen=True)
class CaseMeasurement:
    """Measurement of every leg present, with per-leg errors instead of one failure for the whole study."""

    pixel_spacing_mm: tuple[float, float] | None
    spacing_source: str
    legs: dict[str, LegState] = field(default_factory=dict)
    study: StudyMetrics = field(default_factory=lambda: StudyMetrics(None))

    @property
    def lld_mm(self) -> float | None:
        """Study-level leg-length discrepancy (right − left); ``None`` with ``study.reason()`` saying why."""
        return self.study.lld_mm

    @property
    def calibrated(self) -> bool:
        return self.pixel_spacing_mm is not None


def measure_case_legs(
    landmarks_by_side: Mapping[str, Mapping[str, Point]],
    pixel_spacing_mm: tuple[float, float] | None,
    spacing_source: str = "unknown",
    cache: dict | None = None,
    radii_by_side: Mapping[str, Mapping[str, float | None]] | None = None,
    uncertainty_info: Mapping[str, Any] | None = None,
) -> CaseMeasurement:
    """Measure each leg on its own so that one incomplete leg does not hide the other.

    Parameters
    ----------
    landmarks_by_side : Mapping
        ``{side: {landmark: Point}}``; legs may hold fewer than nine points.
    pixel_spacing_mm : tuple or None
        ``(row_mm, column_mm)``.
    spacing_source : str
        Where the spacing came from, shown in the panel.
    cache : dict, optional
        Reused between calls: a leg whose points and spacing did not change is not measured again (while
        one leg is dragged, the other costs nothing).
    radii_by_side, uncertainty_info : Mapping, optional
        Calibrated 90 % radii per landmark (px) and the case's calibration summary
        (:func:`llm_viewer.core.uncertainty.case_radii_px` / ``case_uncertainty``): each leg then gets its
        metric intervals and borderline classes from :func:`llm_viewer.core.uncertainty.leg_intervals`.

    Returns
    -------
    CaseMeasurement
        A leg missing landmarks has the metrics the others allow; ``legs[side].metrics`` is ``None`` and
        ``legs[side].error`` names the problem (no landmark, degenerate geometry) when it cannot be measured.
    """
    legs: dict[str, LegState] = {}
    for side in SIDES:
        if side not in landmarks_by_side:
            continue
        pts = dict(landmarks_by_side[side])
        radii = dict((radii_by_side or {}).get(side) or {}) if uncertainty_info else {}
        key = (side, tuple(sorted(pts.items())), pixel_spacing_mm, tuple(sorted(radii.items())))
        if cache is not None and key in cache:
            legs[side] = cache[key]
            continue
        legs[side] = _measure_leg(side, pts, pixel_spacing_mm)
        if radii and legs[side].metrics is not None:
            iv, border = leg_intervals({k: (p.x, p.y) for k, p in pts.items()}, radii, side, pixel_spacing_mm,
                                       uncertainty_info)
            legs[side] = replace(legs[side], intervals=iv, borderline=border)
        if cache is not None:
            if len(cache) > 64:
                cache.clear()
            cache[key] = legs[side]
    return CaseMeasurement(
        pixel_spacing_mm=pixel_spacing_mm,
        spacing_source=spacing_source if pixel_spacing_mm is not None else "unknown",
        legs=legs,
        study=compute_study_metrics({s: st.metrics for s, st in legs.items()}),
    )


def _measure_leg(side: str, pts: dict[str, Point], pixel_spacing_mm: tuple[float, float] | None) -> LegState:
    implausible = tuple(i.message for i in check_leg(side, {k: (p.x, p.y) for k, p in pts.items()},
                                                       pixel_spacing_mm))
    try:
        result = measure_landmarks({side: pts}, pixel_spacing_mm)
    except MeasurementError as exc:
        return LegState(side, pts, None, str(exc), implausible)
    return LegState(side, pts, result.legs[side].metrics, None, implausible)


@dataclass(frozen=True)
class CaseLocation:
    """Where a case is autosaved, and whether that is a fallback because the image's folder is read-only."""

    path: Path
    fallback: bool


def case_stem(image_path: str | os.PathLike[str]) -> str:
    """``scan.dcm`` -> ``scan``; the case file is ``<stem>.case.json``."""
    return Path(image_path).name.rsplit(".", 1)[0] if "." in Path(image_path).name else Path(image_path).name


def case_path_for_image(image_path: str | os.PathLike[str], app_data_dir: str | os.PathLike[str]) -> CaseLocation:
    """Case file of an image: ``<image stem>.case.json`` beside it, else in ``app_data_dir/cases``.

    An existing case file is always used where it is. A new one goes beside the image when that folder is
    writable; otherwise into the application's data folder under a name that includes a hash of the image's
    absolute path (two images with one name never share a case).
    """
    image = Path(image_path).resolve()
    beside = image.with_name(case_stem(image) + CASE_SUFFIX)
    digest = hashlib.sha1(str(image).encode("utf-8")).hexdigest()[:10]
    fallback = Path(app_data_dir) / "cases" / f"{case_stem(image)}-{digest}{CASE_SUFFIX}"
    if beside.exists():
        return CaseLocation(beside, False)
    if fallback.exists():
        return CaseLocation(fallback, True)
    if os.access(image.parent, os.W_OK):
        return CaseLocation(beside, False)
    fallback.parent.mkdir(parents=True, exist_ok=True)
    return CaseLocation(fallback, True)


def is_store_case(case_path: str | os.PathLike[str]) -> bool:
    """Cheap test (no manifest read): ``case_path`` looks like a training-set store's ``cases/<id>.case.json``."""
    p = Path(case_path)
    return p.parent.name == "cases" and p.name.endswith(CASE_SUFFIX) and (p.parent.parent / "store.json").is_file()


def refresh_store_manifest(case_path: str | os.PathLike[str], by: str | None, *, progress=None,
                           cancel=None) -> str | None:
    """Worker body: record an in-place edit of a store's case in its manifest (new ``case_sha256``).

    Returns the case id when a manifest line was appended, else ``None`` (not a store case, or unchanged).
    """
    from ..core.store import store_case_of

    found = store_case_of(case_path)
    if found is None:
        return None
    store, case_id = found
    return case_id if store.refresh_case(case_id, by=by) is not None else None


@dataclass(frozen=True)
class DisplayPreset:
    """A named display window (centre and width, in the image's pixel values)."""

    name: str
    center: float
    width: float

    @property
    def levels(self) -> tuple[float, float]:
        return (self.center - self.width / 2.0, self.center + self.width / 2.0)


def display_presets(pixels: np.ndarray, default_center: float, default_width: float) -> list[DisplayPreset]:
    """Window presets: the image's default (DICOM VOI), full range, and two percentile windows.

    Percentiles are taken on a subsample so this costs a few ms on a full-length radiograph.
    """
    step = max(1, int(math.sqrt(pixels.size / 250_000)))
    sample = np.asarray(pixels[::step, ::step], dtype=np.float32)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        finite = np.zeros(1, np.float32)
    lo, hi = float(finite.min()), float(finite.max())
    p1, p99 = np.percentile(finite, [1.0, 99.5])
    p30, p999 = np.percentile(finite, [30.0, 99.9])
    presets = [
        DisplayPreset("Default (DICOM VOI)", float(default_center), max(float(default_width), 1e-6)),
        DisplayPreset("Full range", (lo + hi) / 2.0, max(hi - lo, 1e-6)),
        DisplayPreset("Contrast (1–99.5 %)", float(p1 + p99) / 2.0, max(float(p99 - p1), 1e-6)),
        DisplayPreset("Bone (30–99.9 %)", float(p30 + p999) / 2.0, max(float(p999 - p30), 1e-6)),
    ]
    return presets
