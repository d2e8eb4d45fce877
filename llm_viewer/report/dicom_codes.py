"""The codes of the DICOM SR measurement report: standard ones where DICOM has them, else private.

SNOMED CT (``SCT``) codes are used for the anatomy (lower limb, laterality), DICOM (``DCM``) codes for the
document title and observer types, UCUM for every unit. DICOM defines no codes for the alignment metrics
(HKA, mLDFA, ...), the nine landmarks of ``shared/spec/ALIGNMENT.md`` or an osteotomy plan, so those use the
private coding scheme ``99LLMV``, declared in the SR's CodingSchemeIdentificationSequence. A code value is
at most 16 characters (VR SH). Tables only: no logic beyond lookups.
"""

from __future__ import annotations

from pydicom.sr.coding import Code

from ..core.landmarks import LANDMARK_IDS, LANDMARK_LABELS
from ..core.metrics import METRIC_KEYS
from .dicom_source import PRIVATE_SCHEME


def _p(value: str, meaning: str) -> Code:
    return Code(value, PRIVATE_SCHEME, meaning)


UNIT_DEG = Code("deg", "UCUM", "degree")
UNIT_MM = Code("mm", "UCUM", "millimeter")
UNIT_PERCENT = Code("%", "UCUM", "percent")
UNIT_NONE = Code("1", "UCUM", "no units")

LOWER_LIMB = Code("61685007", "SCT", "Lower limb")
LATERALITY: dict[str, Code] = {
    "right": Code("24028007", "SCT", "Right"),
    "left": Code("7771000", "SCT", "Left"),
    "both": Code("51440002", "SCT", "Right and left"),
}

PROCEDURE = _p("LLA", "Lower-limb alignment measurement on a full-leg radiograph")

LANDMARK_CODES: dict[str, Code] = {
    lm: _p(value, LANDMARK_LABELS[lm] + " landmark")
    for lm, value in zip(LANDMARK_IDS, ("FEM-HEAD", "DIAPHYSIS", "COND-LAT", "COND-MED", "KNEE-CTR",
                                        "PLAT-LAT", "PLAT-MED", "MALL-LAT", "MALL-MED"), strict=True)
}
"""Concept name of each landmark's SCOORD POINT (the landmark ids of ``core.landmarks.LANDMARK_IDS``)."""

METRIC_CODES: dict[str, tuple[Code, Code | None]] = {
    "hka_deg": (_p("HKA", "Hip-knee-ankle angle"), UNIT_DEG),
    "mldfa_deg": (_p("MLDFA", "Mechanical lateral distal femoral angle"), UNIT_DEG),
    "mmpta_deg": (_p("MMPTA", "Mechanical medial proximal tibial angle"), UNIT_DEG),
    "mldta_deg": (_p("MLDTA", "Mechanical lateral distal tibial angle"), UNIT_DEG),
    "fva_deg": (_p("FVA", "Femoral valgus angle"), UNIT_DEG),
    "jlca_deg": (_p("JLCA", "Joint line convergence angle"), UNIT_DEG),
    "ahka_deg": (_p("AHKA", "Arithmetic hip-knee-ankle angle"), UNIT_DEG),
    "jlo_deg": (_p("JLO", "Joint line obliquity"), UNIT_DEG),
    "cpak_type": (_p("CPAK", "CPAK classification type"), UNIT_NONE),
    "alignment": (_p("ALIGN", "Coronal alignment class"), None),
    "wbl_ratio_pct": (_p("WBL-RATIO", "Weight-bearing line ratio"), UNIT_PERCENT),
    "mad_mm": (_p("MAD", "Mechanical axis deviation"), UNIT_MM),
    "femur_length_mm": (_p("FEMUR-LEN", "Femoral mechanical length"), UNIT_MM),
    "tibia_length_mm": (_p("TIBIA-LEN", "Tibial mechanical length"), UNIT_MM),
    "leg_length_mm": (_p("LEG-LEN", "Leg length (hip-ankle)"), UNIT_MM),
}
"""Concept name and UCUM unit of each metric of ``core.metrics.METRIC_KEYS`` (``alignment``: a CODE, no unit)."""

LLD_CODE = _p("LLD", "Leg length discrepancy (right minus left)")

ALIGNMENT_VALUES: dict[str, Code] = {
    "varus": _p("VARUS", "Varus"),
    "neutral": _p("NEUTRAL", "Neutral"),
    "valgus": _p("VALGUS", "Valgus"),
}

UNMEASURED = _p("UNMEASURED", "Metric not measured")
"""TEXT item naming a metric that could not be computed and why (e.g. ``HKA (hka_deg): needs knee_center``)."""

MANUAL_LANDMARKS = _p("MANUAL-LM", "Landmarks placed or corrected by hand")
LANDMARK_MODEL = _p("LM-MODEL", "Landmark model")

PLAN_METHODS: dict[str, Code] = {
    "hto_open_medial": _p("HTO-OW-MED", "Medial opening-wedge high tibial osteotomy"),
    "hto_close_lateral": _p("HTO-CW-LAT", "Lateral closing-wedge high tibial osteotomy"),
    "dfo_open_lateral": _p("DFO-OW-LAT", "Lateral opening-wedge distal femoral osteotomy"),
    "dfo_close_medial": _p("DFO-CW-MED", "Medial closing-wedge distal femoral osteotomy"),
}
PLAN_FINDING = _p("OST-PLAN", "Osteotomy plan")
PLAN_TARGETS: dict[str, tuple[Code, Code]] = {
    "wbl_ratio_pct": (_p("TGT-WBL", "Planned target weight-bearing line ratio"), UNIT_PERCENT),
    "hka_deg": (_p("TGT-HKA", "Planned target hip-knee-ankle angle"), UNIT_DEG),
}
PLAN_RESULTS: dict[str, tuple[Code, Code]] = {
    "correction_deg": (_p("CORR-ANGLE", "Planned correction angle"), UNIT_DEG),
    "wedge_height_mm": (_p("WEDGE-HEIGHT", "Planned wedge height"), UNIT_MM),
    "osteotomy_length_mm": (_p("OST-LENGTH", "Planned osteotomy length"), UNIT_MM),
}
PLAN_POINTS: dict[str, Code] = {
    "hinge_px": _p("HINGE", "Osteotomy hinge point"),
    "cut_start_px": _p("CUT-START", "Osteotomy cut start point"),
}
PLAN_NOTE = _p("PLAN-NOTE", "Osteotomy plan note")
POST_PREFIX = "POST-"
"""Planned post-operative value of a metric: the metric's code value with this prefix."""


def post_code(key: str) -> Code:
    """Concept name of the planned post-operative value of metric ``key``."""
    code = METRIC_CODES[key][0]
    return _p(POST_PREFIX + code.value, ("Planned post-op " + code.meaning[0].lower() + code.meaning[1:])[:64])


def metric_key_of(code_value: str) -> str | None:
    """The metric key whose code value is ``code_value`` (``None`` if none)."""
    for key in METRIC_KEYS:
        if METRIC_CODES[key][0].value == code_value:
            return key
    return None


def landmark_of(code_value: str) -> str | None:
    """The landmark id whose code value is ``code_value`` (``None`` if none)."""
    for lm, code in LANDMARK_CODES.items():
        if code.value == code_value:
            return lm
    return None
