"""Alignment metrics of one leg and of a study, exactly as ``shared/spec/ALIGNMENT.md`` defines them.

This module is the only place in the project that computes an alignment number. The viewer, the
reports, the command line and the evaluation all call it.

All geometry is done in mm space: ``X = x * column_spacing``, ``Y = y * row_spacing``. When the spacing
is unknown, square pixels are used for angles and every ``*_mm`` value is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

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


class GeometryError(ValueError):
    """Landmarks are degenerate (coincident points, zero-length lines); the message names them."""


@dataclass(frozen=True)
class LegMetrics:
    """Every metric of one leg (units in the names). ``*_mm`` are ``None`` when spacing is unknown."""

    hka_deg: float
    mldfa_deg: float
    mmpta_deg: float
    mldta_deg: float
    fva_deg: float
    jlca_deg: float
    ahka_deg: float
    jlo_deg: float
    cpak_type: int
    alignment: str
    wbl_ratio_pct: float | None
    mad_mm: float | None
    femur_length_mm: float | None
    tibia_length_mm: float | None
    leg_length_mm: float | None

    def as_dict(self) -> dict[str, float | int | str | None]:
        """Metrics keyed as in the spec's JSON, in spec order."""
        d = asdict(self)
        return {k: d[k] for k in METRIC_KEYS}


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


def _to_mm(points: Mapping[str, Point | Sequence[float]], spacing: tuple[float, float] | None, side: str
           ) -> dict[str, np.ndarray]:
    row, col = spacing if spacing is not None else (1.0, 1.0)
    out: dict[str, np.ndarray] = {}
    for lm in LANDMARK_IDS:
        if lm not in points or points[lm] is None:
            raise LandmarkError(f"{side} leg: landmark {lm!r} is missing")
        p = points[lm]
        x, y = (p.x, p.y) if isinstance(p, Point) else (float(p[0]), float(p[1]))
        if not (math.isfinite(x) and math.isfinite(y)) or abs(x) > MAX_COORD_PX or abs(y) > MAX_COORD_PX:
            raise LandmarkError(f"{side} leg: landmark {lm!r} is not finite or out of range: {[x, y]}")
        out[lm] = np.array([x * col, y * row], dtype=np.float64)
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


def compute_leg_metrics(
    landmarks: Mapping[str, Point | Sequence[float]],
    side: str,
    pixel_spacing_mm: Sequence[float] | None,
) -> LegMetrics:
    """Compute every metric of one leg.

    Parameters
    ----------
    landmarks : Mapping
        The nine landmarks, ``id -> Point`` or ``id -> [x, y]`` in original-image pixels.
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
        A landmark is missing or not finite (the message names the leg and landmark).
    GeometryError
        Degenerate geometry such as coincident line ends.
    """
    sigma = side_sign(side)
    spacing = validate_spacing(pixel_spacing_mm)
    p = _to_mm(landmarks, spacing, side)
    H, D, K = p["femoral_head"], p["diaphysis_center"], p["knee_center"]
    CL, CM = p["femoral_condyle_lateral"], p["femoral_condyle_medial"]
    PL, PM = p["tibial_plateau_lateral"], p["tibial_plateau_medial"]
    ML, MM = p["malleolus_lateral"], p["malleolus_medial"]
    _require(ML - MM, "the malleolar line (malleolus_lateral to malleolus_medial)", side)
    A = (ML + MM) / 2.0

    hk = _require(H - K, "the femoral mechanical axis (femoral_head to knee_center)", side)
    ak = _require(A - K, "the tibial mechanical axis (knee_center to ankle centre)", side)
    cond = _require(CL - CM, "the distal femoral joint line (condyles)", side)
    plat = _require(PM - PL, "the tibial plateau line", side)
    mall = ML - MM
    dk = _require(D - K, "the anatomical femoral axis (diaphysis_center to knee_center)", side)
    ha = _require(A - H, "the hip–ankle line (femoral_head to ankle centre)", side)

    mldfa = _angle_deg(hk, cond)
    mmpta = _angle_deg(ak, plat)
    mldta = _angle_deg(-ak, mall)
    fva = _angle_deg(hk, dk)

    u = ha / float(np.hypot(ha[0], ha[1]))
    n = np.array([u[1], -u[0]])
    mad = -sigma * float(n @ (K - H))
    hka = 180.0 - float(np.sign(mad)) * _angle_deg(K - H, A - K)
    jlca = 180.0 - hka - mldfa + mmpta

    # Weight-bearing line: H + s (A - H) = PM + t (PL - PM); t in percent of PM -> PL.
    pm_pl = PL - PM
    denom = ha[0] * pm_pl[1] - ha[1] * pm_pl[0]
    seg = float(np.hypot(*pm_pl))
    if abs(denom) <= 1e-12 * float(np.hypot(*ha)) * seg:
        wbl = None
    else:
        w = PM - H
        t = (w[0] * ha[1] - w[1] * ha[0]) / denom
        wbl = 100.0 * float(t)

    ahka = mmpta - mldfa
    jlo = mmpta + mldfa
    known = spacing is not None
    return LegMetrics(
        hka_deg=hka,
        mldfa_deg=mldfa,
        mmpta_deg=mmpta,
        mldta_deg=mldta,
        fva_deg=fva,
        jlca_deg=jlca,
        ahka_deg=ahka,
        jlo_deg=jlo,
        cpak_type=cpak_type(ahka, jlo),
        alignment=alignment_class(hka),
        wbl_ratio_pct=wbl,
        mad_mm=mad if known else None,
        femur_length_mm=float(np.hypot(*hk)) if known else None,
        tibia_length_mm=float(np.hypot(*ak)) if known else None,
        leg_length_mm=float(np.hypot(*ha)) if known else None,
    )


def leg_length_discrepancy_mm(legs: Mapping[str, LegMetrics]) -> float | None:
    """Study-level LLD: right ``leg_length_mm`` − left ``leg_length_mm``; ``None`` unless both are known."""
    r, l_ = legs.get("right"), legs.get("left")
    if r is None or l_ is None or r.leg_length_mm is None or l_.leg_length_mm is None:
        return None
    return r.leg_length_mm - l_.leg_length_mm


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
