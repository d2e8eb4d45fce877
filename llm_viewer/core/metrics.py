"""Alignment metrics of one leg and of a study, exactly as ``shared/spec/ALIGNMENT.md`` defines them.

This module is the only place in the project that computes an alignment number. The viewer, the
reports, the command line and the evaluation all call it.

All geometry is done in mm space: ``X = x * column_spacing``, ``Y = y * row_spacing``. When the spacing
is unknown, square pixels are used for angles and every ``*_mm`` value is ``None``.

A leg may lack landmarks: each metric is computed from exactly the landmarks :data:`METRIC_LANDMARKS`
lists for it, and is ``None`` (with the landmarks it lacks in :attr:`LegMetrics.unmeasured`) otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .landmarks import LANDMARK_IDS, MAX_COORD_PX, MAX_SPACING_MM, MIN_SPACING_MM, LandmarkError, Point, side_sign

METRIC_KEYS: tuple[str, ...] = (
    "hka_deg",
    "mldfa_deg",
    "mmpta_deg",
    "mldta_deg",
    "fva_deg",
    "jlca_deg",
    "ahka_deg",
    "jlo_deg",
    "cpak_type",
    "alignment",
    "wbl_ratio_pct",
    "mad_mm",
    "femur_length_mm",
    "tibia_length_mm",
    "leg_length_mm",
)
"""Metric keys of one leg, in the order the JSON writes them."""

ANGLE_KEYS: tuple[str, ...] = ("hka_deg", "mldfa_deg", "mmpta_deg", "mldta_deg", "fva_deg", "jlca_deg")
"""Angles whose sensitivity to landmark moves is reported."""

NORMAL_RANGES: dict[str, tuple[float, float]] = {
    "hka_deg": (177.0, 183.0),
    "mldfa_deg": (84.0, 90.0),
    "mmpta_deg": (84.0, 90.0),
    "mldta_deg": (86.0, 92.0),
    "fva_deg": (5.0, 7.0),
    "mad_mm": (1.0, 15.0),
    "jlca_deg": (0.0, 2.0),
    "wbl_ratio_pct": (40.0, 62.5),
    "ahka_deg": (-2.0, 2.0),
    "jlo_deg": (177.0, 183.0),
}
"""Typical normal ranges for display (spec's "typical normal" column); not diagnostic thresholds."""

METRIC_LABELS: dict[str, str] = {
    "hka_deg": "HKA",
    "mldfa_deg": "mLDFA",
    "mmpta_deg": "mMPTA",
    "mldta_deg": "mLDTA",
    "fva_deg": "FVA",
    "jlca_deg": "JLCA",
    "ahka_deg": "aHKA",
    "jlo_deg": "JLO",
    "cpak_type": "CPAK type",
    "alignment": "Alignment",
    "wbl_ratio_pct": "WBL ratio",
    "mad_mm": "MAD",
    "femur_length_mm": "Femur length",
    "tibia_length_mm": "Tibia length",
    "leg_length_mm": "Leg length",
    "lld_mm": "LLD (R − L)",
}

_EPS_MM = 1e-9

MetricValue = float | int | str | None
"""The value of one metric: a float, the CPAK class (int), the alignment class (str), or ``None``."""

_H, _D, _K = "femoral_head", "diaphysis_center", "knee_center"
_CL, _CM = "femoral_condyle_lateral", "femoral_condyle_medial"
_PL, _PM = "tibial_plateau_lateral", "tibial_plateau_medial"
_ML, _MM = "malleolus_lateral", "malleolus_medial"
_ANKLE = frozenset({_ML, _MM})  # A = (ML + MM) / 2

_DIRECT: dict[str, frozenset[str]] = {
    "mldfa_deg": frozenset({_H, _K, _CL, _CM}),
    "mmpta_deg": frozenset({_K, _PL, _PM}) | _ANKLE,
    "mldta_deg": frozenset({_K}) | _ANKLE,
    "fva_deg": frozenset({_H, _D, _K}),
    "mad_mm": frozenset({_H, _K}) | _ANKLE,
    "hka_deg": frozenset({_H, _K}) | _ANKLE,  # the sign of MAD uses the same three points
    "wbl_ratio_pct": frozenset({_H, _PL, _PM}) | _ANKLE,
    "femur_length_mm": frozenset({_H, _K}),
    "tibia_length_mm": frozenset({_K}) | _ANKLE,
    "leg_length_mm": frozenset({_H}) | _ANKLE,
}
_FEMUR_TIBIA = _DIRECT["mldfa_deg"] | _DIRECT["mmpta_deg"]
_DERIVED: dict[str, frozenset[str]] = {
    "jlca_deg": _DIRECT["hka_deg"] | _FEMUR_TIBIA,  # 180 - hka - mldfa + mmpta
    "ahka_deg": _FEMUR_TIBIA,  # mmpta - mldfa
    "jlo_deg": _FEMUR_TIBIA,  # mmpta + mldfa
    "cpak_type": _FEMUR_TIBIA,  # from ahka and jlo
    "alignment": _DIRECT["hka_deg"],  # from hka
}

METRIC_LANDMARKS: dict[str, frozenset[str]] = {key: {**_DIRECT, **_DERIVED}[key] for key in METRIC_KEYS}
"""The landmarks each metric of ALIGNMENT.md is computed from (derived metrics: those of their inputs).

A metric is computed exactly when all of its landmarks are present; otherwise it is ``None`` and
:attr:`LegMetrics.unmeasured` names the ones it lacks.
"""

LLD_INPUTS: tuple[str, ...] = ("right.leg_length_mm", "left.leg_length_mm")
"""What the study-level ``lld_mm`` is computed from (``<side>.<metric key>``)."""

NO_SPACING_REASON = "needs the pixel spacing (calibration)"
PARALLEL_WBL_REASON = "the hip–ankle line is parallel to the tibial plateau"


class GeometryError(ValueError):
    """Landmarks are degenerate (coincident points, zero-length lines); the message names them."""


def missing_reason(missing: Sequence[str]) -> str:
    """Human-readable reason a metric is ``None``: ``"needs diaphysis_center"``.

    Parameters
    ----------
    missing : sequence of str
        Landmark ids (or ``<side>.<metric>`` study inputs) the metric lacks.

    Returns
    -------
    str
    """
    return "needs " + ", ".join(missing)


def unmeasured_text(unmeasured: Mapping[str, Sequence[str]]) -> str:
    """One line for tables (CSV): ``"fva_deg needs diaphysis_center; lld_mm needs left.leg_length_mm"``.

    Parameters
    ----------
    unmeasured : Mapping
        Metric key -> what it lacks, as in the JSON's ``unmeasured`` objects.

    Returns
    -------
    str
        Empty when nothing is unmeasured.
    """
    return "; ".join(f"{key} {missing_reason(lacking)}" for key, lacking in unmeasured.items())


@dataclass(frozen=True)
class LegMetrics:
    """Every metric of one leg (units in the names); ``None`` for a metric that could not be computed.

    ``unmeasured`` maps each metric lacking landmarks to the sorted ids it lacks (the spec's
    ``legs.<side>.unmeasured``); ``*_mm`` values are also ``None`` when ``spacing_known`` is false, and
    ``wbl_ratio_pct`` when the hip–ankle line is parallel to the plateau. :meth:`reason` says which.
    """

    hka_deg: float | None
    mldfa_deg: float | None
    mmpta_deg: float | None
    mldta_deg: float | None
    fva_deg: float | None
    jlca_deg: float | None
    ahka_deg: float | None
    jlo_deg: float | None
    cpak_type: int | None
    alignment: str | None
    wbl_ratio_pct: float | None
    mad_mm: float | None
    femur_length_mm: float | None
    tibia_length_mm: float | None
    leg_length_mm: float | None
    unmeasured: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    spacing_known: bool = True

    def as_dict(self) -> dict[str, MetricValue]:
        """Metrics keyed as in the spec's JSON, in spec order."""
        return {k: getattr(self, k) for k in METRIC_KEYS}

    def unmeasured_dict(self) -> dict[str, list[str]]:
        """The spec's ``unmeasured`` object: metric key -> sorted landmark ids it lacks, in metric order."""
        return {k: list(self.unmeasured[k]) for k in METRIC_KEYS if k in self.unmeasured}

    @property
    def complete(self) -> bool:
        """True when no metric lacks a landmark (``*_mm`` may still be ``None`` for unknown spacing)."""
        return not self.unmeasured

    def reason(self, key: str) -> str | None:
        """Why ``key`` is ``None`` (e.g. ``"needs diaphysis_center"``); ``None`` when it has a value.

        Parameters
        ----------
        key : str
            A metric key of :data:`METRIC_KEYS`.

        Returns
        -------
        str or None
        """
        if key not in METRIC_LANDMARKS:
            raise KeyError(f"unknown metric key {key!r}")
        if getattr(self, key) is not None:
            return None
        if key in self.unmeasured:
            return missing_reason(self.unmeasured[key])
        if key.endswith("_mm") and not self.spacing_known:
            return NO_SPACING_REASON
        return PARALLEL_WBL_REASON  # wbl_ratio_pct is the only other metric that can be None


@dataclass(frozen=True)
class StudyMetrics:
    """Study-level metrics: ``lld_mm`` (right − left leg length), ``None`` with a reason when not computable.

    ``unmeasured`` maps ``"lld_mm"`` to the inputs of :data:`LLD_INPUTS` it lacks (a leg absent, not
    measured, or missing a landmark of its leg length); an unknown spacing is not listed there, as for
    the legs' ``*_mm`` values. ``lld_reason`` is the human-readable reason whenever ``lld_mm`` is ``None``.
    """

    lld_mm: float | None
    unmeasured: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    lld_reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The spec's ``study`` object plus its ``unmeasured`` map (``{}`` when ``lld_mm`` was computed)."""
        return {"lld_mm": self.lld_mm, "unmeasured": {k: list(v) for k, v in self.unmeasured.items()}}

    def reason(self, key: str = "lld_mm") -> str | None:
        """Why ``key`` is ``None`` (e.g. ``"needs femoral_head of the left leg"``); ``None`` with a value."""
        if key != "lld_mm":
            raise KeyError(f"unknown study metric key {key!r}")
        return None if self.lld_mm is not None else self.lld_reason


def validate_spacing(pixel_spacing_mm: object) -> tuple[float, float] | None:
    """Check a ``[row_spacing, column_spacing]`` value in mm.

    Returns
    -------
    tuple of float or None
        ``None`` when unknown (``None``, or a zero in either entry, as DICOM writes ``0\\0``).

    Raises
    ------
    ValueError
        For negative, non-finite or wrongly shaped spacing.
    """
    if pixel_spacing_mm is None:
        return None
    if not isinstance(pixel_spacing_mm, (list, tuple, np.ndarray)) or len(pixel_spacing_mm) != 2:
        raise ValueError(f"pixel_spacing_mm must be [row_mm, column_mm] or null, got {pixel_spacing_mm!r}")
    try:
        row, col = float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1])
    except (TypeError, ValueError):
        raise ValueError(f"pixel_spacing_mm must be two numbers, got {pixel_spacing_mm!r}") from None
    if not (math.isfinite(row) and math.isfinite(col)) or row < 0 or col < 0:
        raise ValueError(f"pixel_spacing_mm must be two non-negative finite numbers, got {pixel_spacing_mm!r}")
    if row == 0 or col == 0:
        return None
    if not (MIN_SPACING_MM <= row <= MAX_SPACING_MM and MIN_SPACING_MM <= col <= MAX_SPACING_MM):
        raise ValueError(f"pixel_spacing_mm {[row, col]!r} is out of range: each entry must be 0 (unknown) or "
                         f"between {MIN_SPACING_MM:g} and {MAX_SPACING_MM:g} mm")
    return (row, col)


def _angle_deg(u: np.ndarray, v: np.ndarray) -> float:
    """Unsigned angle between two non-zero vectors, in [0, 180] degrees (atan2 form, stable near 0/180)."""
    cross = u[0] * v[1] - u[1] * v[0]
    dot = u[0] * v[0] + u[1] * v[1]
    return math.degrees(math.atan2(abs(cross), dot))


def _to_mm(points: Mapping[str, Point | Sequence[float] | None], spacing: tuple[float, float] | None,
           side: str) -> dict[str, np.ndarray]:
    """The landmarks present (``None`` counts as absent) in mm space; unknown ids and bad values raise."""
    unknown = [k for k in points if k not in LANDMARK_IDS]
    if unknown:
        raise LandmarkError(f"{side} leg: unknown landmark {unknown[0]!r}; expected one of {', '.join(LANDMARK_IDS)}")
    row, col = spacing if spacing is not None else (1.0, 1.0)
    out: dict[str, np.ndarray] = {}
    for lm in LANDMARK_IDS:
        p = points.get(lm)
        if p is None:
            continue
        x, y = (p.x, p.y) if isinstance(p, Point) else (float(p[0]), float(p[1]))
        if not (math.isfinite(x) and math.isfinite(y)) or abs(x) > MAX_COORD_PX or abs(y) > MAX_COORD_PX:
            raise LandmarkError(f"{side} leg: landmark {lm!r} is not finite or out of range: {[x, y]}")
        out[lm] = np.array([x * col, y * row], dtype=np.float64)
    if not out:
        raise LandmarkError(f"{side} leg: no landmarks")
    return out


def _require(vec: np.ndarray, what: str, side: str) -> np.ndarray:
    if float(np.hypot(vec[0], vec[1])) < _EPS_MM:
        raise GeometryError(f"{side} leg: {what} has zero length (coincident landmarks)")
    return vec


def cpak_type(ahka_deg: float, jlo_deg: float) -> int:
    """CPAK class 1–9 from arithmetic HKA and joint line obliquity (boundaries are neutral)."""
    col = 0 if ahka_deg < -2 else (2 if ahka_deg > 2 else 1)
    row = 0 if jlo_deg < 177 else (2 if jlo_deg > 183 else 1)
    return 1 + col + 3 * row


def alignment_class(hka_deg: float) -> str:
    """``"varus"`` below 177°, ``"valgus"`` above 183°, else ``"neutral"``."""
    if hka_deg < 177:
        return "varus"
    if hka_deg > 183:
        return "valgus"
    return "neutral"


def unmeasured_metrics(present: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Metrics the given landmarks do not allow, each with the sorted landmark ids it lacks.

    Parameters
    ----------
    present : iterable of str
        Landmark ids that are present.

    Returns
    -------
    dict[str, tuple[str, ...]]
        In :data:`METRIC_KEYS` order; empty when all nine landmarks are present.
    """
    have = set(present)
    out: dict[str, tuple[str, ...]] = {}
    for key in METRIC_KEYS:
        lacking = METRIC_LANDMARKS[key] - have
        if lacking:
            out[key] = tuple(sorted(lacking))
    return out


def compute_leg_metrics(
    landmarks: Mapping[str, Point | Sequence[float] | None],
    side: str,
    pixel_spacing_mm: Sequence[float] | None,
) -> LegMetrics:
    """Compute every metric of one leg that its landmarks allow.

    Each metric uses exactly the landmarks of :data:`METRIC_LANDMARKS`; one whose landmarks are not all
    present is ``None`` and listed in :attr:`LegMetrics.unmeasured`.

    Parameters
    ----------
    landmarks : Mapping
        Some or all of the nine landmarks, ``id -> Point`` or ``id -> [x, y]`` in original-image pixels;
        an absent id or a ``None`` value is a missing landmark.
    side : str
        ``"right"`` or ``"left"`` (patient's side).
    pixel_spacing_mm : sequence of float or None
        ``[row_mm, column_mm]``; ``None`` (or a zero) when unknown.

    Returns
    -------
    LegMetrics

    Raises
    ------
    LandmarkError
        No landmark at all, an unknown landmark id, or a point that is not finite (the message names the
        leg and landmark).
    GeometryError
        Degenerate geometry of a line whose landmarks are present (coincident line ends).
    """
    sigma = side_sign(side)
    spacing = validate_spacing(pixel_spacing_mm)
    p = _to_mm(landmarks, spacing, side)
    H, D, K = p.get(_H), p.get(_D), p.get(_K)
    CL, CM = p.get(_CL), p.get(_CM)
    PL, PM = p.get(_PL), p.get(_PM)
    ML, MM = p.get(_ML), p.get(_MM)

    # Every line whose ends are present must have a length, whether or not a metric needs it here.
    mall = cond = plat = hk = ak = dk = ha = None
    if ML is not None and MM is not None:
        mall = _require(ML - MM, "the malleolar line (malleolus_lateral to malleolus_medial)", side)
    A = (ML + MM) / 2.0 if mall is not None else None
    if H is not None and K is not None:
        hk = _require(H - K, "the femoral mechanical axis (femoral_head to knee_center)", side)
    if A is not None and K is not None:
        ak = _require(A - K, "the tibial mechanical axis (knee_center to ankle centre)", side)
    if CL is not None and CM is not None:
        cond = _require(CL - CM, "the distal femoral joint line (condyles)", side)
    if PL is not None and PM is not None:
        plat = _require(PM - PL, "the tibial plateau line", side)
    if D is not None and K is not None:
        dk = _require(D - K, "the anatomical femoral axis (diaphysis_center to knee_center)", side)
    if H is not None and A is not None:
        ha = _require(A - H, "the hip–ankle line (femoral_head to ankle centre)", side)

    mldfa = _angle_deg(hk, cond) if hk is not None and cond is not None else None
    mmpta = _angle_deg(ak, plat) if ak is not None and plat is not None else None
    mldta = _angle_deg(-ak, mall) if ak is not None and mall is not None else None
    fva = _angle_deg(hk, dk) if hk is not None and dk is not None else None

    mad: float | None = None
    hka: float | None = None
    if ha is not None and K is not None and A is not None and H is not None:
        u = ha / float(np.hypot(ha[0], ha[1]))
        n = np.array([u[1], -u[0]])
        mad = -sigma * float(n @ (K - H))
        hka = 180.0 - float(np.sign(mad)) * _angle_deg(K - H, A - K)
    jlca = 180.0 - hka - mldfa + mmpta if hka is not None and mldfa is not None and mmpta is not None else None

    # Weight-bearing line: H + s (A - H) = PM + t (PL - PM); t in percent of PM -> PL.
    wbl: float | None = None
    if ha is not None and plat is not None and H is not None and PM is not None:
        pm_pl = -plat
        denom = ha[0] * pm_pl[1] - ha[1] * pm_pl[0]
        seg = float(np.hypot(*pm_pl))
        if abs(denom) > 1e-12 * float(np.hypot(*ha)) * seg:
            w = PM - H
            t = (w[0] * ha[1] - w[1] * ha[0]) / denom
            wbl = 100.0 * float(t)

    ahka = mmpta - mldfa if mmpta is not None and mldfa is not None else None
    jlo = mmpta + mldfa if mmpta is not None and mldfa is not None else None
    known = spacing is not None

    def length_mm(vec: np.ndarray | None) -> float | None:
        return float(np.hypot(*vec)) if known and vec is not None else None

    return LegMetrics(
        hka_deg=hka,
        mldfa_deg=mldfa,
        mmpta_deg=mmpta,
        mldta_deg=mldta,
        fva_deg=fva,
        jlca_deg=jlca,
        ahka_deg=ahka,
        jlo_deg=jlo,
        cpak_type=cpak_type(ahka, jlo) if ahka is not None and jlo is not None else None,
        alignment=alignment_class(hka) if hka is not None else None,
        wbl_ratio_pct=wbl,
        mad_mm=mad if known else None,
        femur_length_mm=length_mm(hk),
        tibia_length_mm=length_mm(ak),
        leg_length_mm=length_mm(ha),
        unmeasured=unmeasured_metrics(p),
        spacing_known=known,
    )


def compute_study_metrics(legs: Mapping[str, LegMetrics | None]) -> StudyMetrics:
    """Study-level metrics from the legs' metrics.

    Parameters
    ----------
    legs : Mapping
        ``{side: LegMetrics}`` of the legs present; ``None`` for a leg present but not measured.

    Returns
    -------
    StudyMetrics
        ``lld_mm`` = right ``leg_length_mm`` − left ``leg_length_mm`` when both are known.
    """
    lacking: list[str] = []
    needs: list[str] = []
    lengths: dict[str, float] = {}
    for side, needed in zip(("right", "left"), LLD_INPUTS):
        m = legs.get(side)
        if m is None:
            lacking.append(needed)
            needs.append(f"the {side} leg" if side not in legs else f"a measurable {side} leg")
        elif "leg_length_mm" in m.unmeasured:
            lacking.append(needed)
            needs.append(f"{', '.join(m.unmeasured['leg_length_mm'])} of the {side} leg")
        elif m.leg_length_mm is not None:
            lengths[side] = m.leg_length_mm
    if lacking:
        return StudyMetrics(None, {"lld_mm": tuple(lacking)}, "needs " + " and ".join(needs))
    if len(lengths) < 2:  # both legs have their landmarks, but the spacing is unknown
        return StudyMetrics(None, {}, NO_SPACING_REASON)
    return StudyMetrics(lengths["right"] - lengths["left"])


def leg_length_discrepancy_mm(legs: Mapping[str, LegMetrics]) -> float | None:
    """Study-level LLD: right ``leg_length_mm`` − left ``leg_length_mm``; ``None`` unless both are known."""
    return compute_study_metrics(legs).lld_mm


def metric_text(key: str, value: object) -> str:
    """A metric's value as reports print it: one decimal and the unit its key names (``_deg`` °, ``_mm`` mm,
    ``_pct`` %), other values as they are, ``n/a`` for ``None``."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        unit = {"_deg": "°", "_mm": " mm", "_pct": " %"}.get("_" + key.rsplit("_", 1)[-1], "")
        return f"{value:.1f}{unit}"
    return str(value)


def normal_range_text(key: str, dash: str = " to ") -> str:
    """The display normal range of ``key`` as text (e.g. ``"84 to 90"``); empty when it has none."""
    if key not in NORMAL_RANGES:
        return ""
    lo, hi = NORMAL_RANGES[key]
    return f"{lo:g}{dash}{hi:g}"


def out_of_range(key: str, value: float | None) -> bool:
    """True when ``value`` lies outside the display normal range of ``key`` (False when no range/value)."""
    if value is None or key not in NORMAL_RANGES:
        return False
    lo, hi = NORMAL_RANGES[key]
    return not (lo <= value <= hi)
