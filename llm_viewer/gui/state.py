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

    def matches(self, center: float, width: float, value_range: float | None = None) -> bool:
        """Whether the window ``(center, width)`` is this preset (within 0.1 % of the image's range)."""
        tol = 1e-3 * max(float(value_range or self.width), 1e-6)
        return abs(self.center - center) <= tol and abs(self.width - width) <= tol


FULL_RANGE = "Full range"
CUSTOM_WINDOW = "Custom"
"""What the preset box says when the window is none of the presets (after a right-drag or an edit)."""


def _sample(pixels: np.ndarray, n: int = 250_000) -> np.ndarray:
    step = max(1, int(math.sqrt(pixels.size / n)))
    sample = np.asarray(pixels[::step, ::step], dtype=np.float32).ravel()
    finite = sample[np.isfinite(sample)]
    return finite if finite.size else np.zeros(1, np.float32)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The value that best splits ``values`` into two classes (Otsu's between-class variance maximum)."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return lo
    hist, edges = np.histogram(values, bins=bins, range=(lo, hi))
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    centres = (edges[:-1] + edges[1:]) / 2.0
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    mt = m0[-1]
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    return float(edges[int(np.argmax(between)) + 1])


def _window(name: str, lo: float, hi: float) -> DisplayPreset:
    return DisplayPreset(name, (float(lo) + float(hi)) / 2.0, max(float(hi) - float(lo), 1e-6))


def display_presets(pixels: np.ndarray, default_center: float, default_width: float) -> list[DisplayPreset]:
    """Window presets: the image's default (DICOM VOI), full range, and three windows from its histogram.

    The histogram presets leave out the values at the image's very minimum and maximum (air, collimation,
    burnt-out or clipped areas: the large peaks at the ends of a radiograph's histogram) and split the rest
    with Otsu's threshold into the darker soft tissue and the brighter bone:

    - *Auto (histogram)*: 1st to 99th percentile of the anatomy's values;
    - *Bone (histogram)*: from the soft-tissue/bone threshold to the 99.5th percentile;
    - *Soft tissue (histogram)*: 1st percentile to the threshold's upper neighbourhood.

    Computed on a subsample, a few ms on a full-length radiograph (in the loading worker).
    """
    finite = _sample(pixels)
    lo, hi = float(finite.min()), float(finite.max())
    span = max(hi - lo, 1e-6)
    inner = finite[(finite > lo + span * 1e-3) & (finite < hi - span * 1e-3)]
    if inner.size < max(100, finite.size // 20):
        inner = finite
    p1, p99 = (float(v) for v in np.percentile(inner, [1.0, 99.0]))
    t = otsu_threshold(inner[(inner >= p1) & (inner <= p99)] if p99 > p1 else inner)
    bone_hi = float(np.percentile(inner, 99.5))
    tissue_hi = t + 0.25 * (bone_hi - t)
    presets = [
        DisplayPreset("Default (DICOM VOI)", float(default_center), max(float(default_width), 1e-6)),
        _window(FULL_RANGE, lo, hi),
        _window("Auto (histogram)", p1, p99),
        _window("Bone (histogram)", t, bone_hi) if bone_hi > t else _window("Bone (histogram)", p1, p99),
        _window("Soft tissue (histogram)", p1, tissue_hi) if tissue_hi > p1 else _window("Soft tissue (histogram)",
                                                                                         p1, p99),
    ]
    return presets


def value_range(presets: list[DisplayPreset]) -> tuple[float, float] | None:
    """The image's value range (its full-range preset's levels), ``None`` without presets."""
    for pr in presets:
        if pr.name == FULL_RANGE:
            return pr.levels
    return None


def matching_preset(presets: list[DisplayPreset], center: float, width: float) -> int | None:
    """Index of the preset that the window ``(center, width)`` is, ``None`` for a custom window."""
    rng = value_range(presets)
    span = (rng[1] - rng[0]) if rng else None
    for i, pr in enumerate(presets):
        if pr.matches(center, width, span):
            return i
    return None


WINDOW_DRAG_SWEEP_PX = 1000.0
"""A right-drag of this many screen pixels sweeps the image's whole value range (window or level)."""


def dragged_window(center: float, width: float, dx: float, dy: float,
                   value_range: tuple[float, float] | None) -> tuple[float, float]:
    """Window after a right-drag step of ``(dx, dy)`` screen pixels (right: wider, down: lower level).

    The sensitivity is proportional to the image's value range, not to the current width (which compounded
    into an exponential change: a 200 x 100 px drag took a 43036 window to 4621 and blacked out the image),
    and the result stays within a useful range: the width between 1/500 and twice the value range, the level
    within the range widened by half of it.
    """
    if value_range is None:
        lo, hi = center - width / 2.0, center + width / 2.0
    else:
        lo, hi = value_range
    span = max(float(hi) - float(lo), 1e-6)
    step = span / WINDOW_DRAG_SWEEP_PX
    new_w = min(max(width + dx * step, span / 500.0), 2.0 * span)
    new_c = min(max(center - dy * step, lo - span / 2.0), hi + span / 2.0)
    return float(new_c), float(new_w)
