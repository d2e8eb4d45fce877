"""Anatomical plausibility of one leg's landmarks: catches a landmark that jumped to a look-alike.

A model can place a landmark confidently on the wrong structure: in a narrow stance the medial malleolus of one
leg next to the medial malleolus of the other, or the lateral tibial plateau on the lateral femoral condyle. Its
own map then looks crisp, so its uncertainty is low. Such errors show in the leg's proportions, which do not
depend on the pixel spacing:

* **sides**: every lateral landmark lies on the lateral side of its medial partner along the leg's own
  mediolateral direction (perpendicular to the mechanical axis; on a standard AP film the patient's right leg
  is on the image left, so its lateral side is -x);
* **widths**: the malleolar line, the femoral joint line (condyles) and the tibial plateau line, relative to
  the plateau width and to the leg length, stay inside generous anatomical ranges (:data:`WIDTH_RATIOS`);
* **tilt**: each joint line (condyles, plateau, malleoli) stays within :data:`JOINT_LINE_TILT_DEG` of
  perpendicular to its bone's mechanical axis (femur: head to knee centre; tibia: knee centre to ankle
  centre), i.e. mLDFA, mMPTA and mLDTA stay within 90 ± that: one malleolus found on the distal tibial
  shaft tilts the malleolar line by tens of degrees while its width stays plausible;
* **proportion**: the tibia (knee centre to ankle centre) relative to the femur (femoral head to knee
  centre) stays inside a generous range (:data:`TIBIA_TO_FEMUR`): an ankle box placed on the distal tibial
  shaft, or a knee point on the other leg's knee, changes it grossly.

:func:`check_leg` returns the issues; the pipeline flags the landmarks involved for review and adds the
message to its warnings. It never moves a point: which of two landmarks is wrong is for a person to decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

PAIRS: dict[str, tuple[str, str]] = {
    "femoral joint line": ("femoral_condyle_lateral", "femoral_condyle_medial"),
    "tibial plateau line": ("tibial_plateau_lateral", "tibial_plateau_medial"),
    "malleolar line": ("malleolus_lateral", "malleolus_medial"),
}
"""Lateral/medial landmark pairs, named by the line they define."""

WIDTH_RATIOS: dict[str, tuple[float, float]] = {
    "malleolar line": (0.55, 1.45),
    "femoral joint line": (0.4, 1.5),
}
"""Allowed length of a line as a fraction of the tibial plateau line. Adults: the bimalleolar width is
~0.8–1.0 of the plateau width and the condylar joint line ~0.9–1.1 (the synthetic generator uses 0.95 and 0.66);
the ranges are wide on purpose: they are for gross jumps, not for grading anatomy."""

PLATEAU_TO_LEG: tuple[float, float] = (0.04, 0.3)
"""Allowed tibial plateau width as a fraction of the hip-to-ankle length (adults ~0.07–0.10, the spec's examples
down to 0.066; synthetic 0.07–0.11)."""


TIBIA_TO_FEMUR: tuple[float, float] = (0.68, 1.1)
"""Allowed tibia length (knee centre to the malleoli's midpoint) as a fraction of the femur length (femoral head
to knee centre). Adults ~0.78–0.90 (crural index); the spec's examples span 0.70–1.02 and the synthetic
generator 0.74–0.89. The bundled model's one ankle placed 63 mm too high (feet together) gave 0.66."""


JOINT_LINE_TILT_DEG: float = 20.0
"""Allowed deviation of a joint line from perpendicular to its mechanical axis (degrees). Normal mLDFA, mMPTA and
mLDTA lie within 90 ± 6°, marked deformities within about ± 15° (the synthetic generator: mLDFA and mMPTA
74–100°, mLDTA 80–98°). The bundled model's lateral malleolus placed 39 mm too high next to the other ankle
(synth-2-000006 of the version-5 test set) tilted the malleolar line by 27°."""

TILT_AXES: dict[str, tuple[str, str]] = {
    "femoral joint line": ("femoral_head", "knee_center"),
    "tibial plateau line": ("knee_center", "ankle"),
    "malleolar line": ("knee_center", "ankle"),
}
"""The mechanical axis each joint line is measured against (``ankle``: the malleoli's midpoint)."""


@dataclass(frozen=True)
class PlausibilityIssue:
    """One implausible relation between landmarks of a leg."""

    side: str
    landmarks: tuple[str, ...]
    message: str


def _lateral_unit(side: str, pts: Mapping[str, np.ndarray], scale: np.ndarray) -> np.ndarray:
    """Unit vector pointing laterally in mm space: perpendicular to the hip→ankle axis when known."""
    lateral = np.array([-1.0, 0.0]) if side == "right" else np.array([1.0, 0.0])
    top = pts.get("femoral_head")
    bottom = None
    if "malleolus_lateral" in pts and "malleolus_medial" in pts:
        bottom = 0.5 * (pts["malleolus_lateral"] + pts["malleolus_medial"])
    if top is None or bottom is None:
        return lateral
    axis = (bottom - top) * scale
    n = float(np.linalg.norm(axis))
    if n <= 0:
        return lateral
    perp = np.array([-axis[1], axis[0]]) / n
    return perp if float(perp @ lateral) > 0 else -perp


def check_leg(side: str, landmarks_px: Mapping[str, tuple[float, float]],
              pixel_spacing_mm: tuple[float, float] | None = None) -> list[PlausibilityIssue]:
    """Implausible relations between the landmarks of one leg (see the module docstring).

    Parameters
    ----------
    side : str
        ``"right"`` or ``"left"`` (patient side; standard AP display, patient's right on the image left).
    landmarks_px : mapping
        Landmark id -> ``(x, y)`` in pixels; missing landmarks are skipped (their checks are not made).
    pixel_spacing_mm : (row, column) spacing, optional
        Used for anisotropic pixels; every check is a ratio, so unknown spacing is fine.

    Returns
    -------
    list of PlausibilityIssue
        Empty when nothing is implausible.
    """
    sr, sc = pixel_spacing_mm if pixel_spacing_mm else (1.0, 1.0)
    scale = np.array([float(sc), float(sr)])
    pts = {k: np.asarray(v, dtype=float) for k, v in landmarks_px.items() if v is not None}
    lateral = _lateral_unit(side, pts, scale)
    ankle = (0.5 * (pts["malleolus_lateral"] + pts["malleolus_medial"])
             if "malleolus_lateral" in pts and "malleolus_medial" in pts else None)
    issues: list[PlausibilityIssue] = []
    lengths: dict[str, float] = {}
    for name, (lat, med) in PAIRS.items():
        if lat not in pts or med not in pts:
            continue
        d = (pts[lat] - pts[med]) * scale
        lengths[name] = float(np.linalg.norm(d))
        if float(d @ lateral) <= 0:
            issues.append(PlausibilityIssue(side, (lat, med), f"{side} leg: {lat} is not lateral of {med} "
                                                              f"(the {name} is reversed or collapsed)"))
    plateau = lengths.get("tibial plateau line")
    if plateau and plateau > 0:
        for name, (lo, hi) in WIDTH_RATIOS.items():
            if name in lengths and not lo <= lengths[name] / plateau <= hi:
                r = lengths[name] / plateau
                issues.append(PlausibilityIssue(side, PAIRS[name] + PAIRS["tibial plateau line"],
                                                f"{side} leg: the {name} is {r:.2f} of the tibial plateau width "
                                                f"(expected {lo}–{hi})"))
        if "femoral_head" in pts and ankle is not None:
            leg = float(np.linalg.norm((ankle - pts["femoral_head"]) * scale))
            lo, hi = PLATEAU_TO_LEG
            if leg > 0 and not lo <= plateau / leg <= hi:
                issues.append(PlausibilityIssue(side, PAIRS["tibial plateau line"],
                                                f"{side} leg: the tibial plateau width is {plateau / leg:.3f} of "
                                                f"the hip-to-ankle length (expected {lo}–{hi})"))
    axis_pts = dict(pts) | ({"ankle": ankle} if ankle is not None else {})
    for name, (a, b) in TILT_AXES.items():
        lat, med = PAIRS[name]
        if not {a, b, lat, med} <= axis_pts.keys():
            continue
        axis = (axis_pts[b] - axis_pts[a]) * scale
        line = (pts[lat] - pts[med]) * scale
        na, nl = float(np.linalg.norm(axis)), float(np.linalg.norm(line))
        if na <= 0 or nl <= 0:
            continue
        tilt = abs(90.0 - float(np.degrees(np.arccos(np.clip(abs(axis @ line) / (na * nl), 0.0, 1.0)))))
        if tilt > JOINT_LINE_TILT_DEG:
            issues.append(PlausibilityIssue(side, (lat, med),
                                            f"{side} leg: the {name} is {tilt:.0f}° from perpendicular to the "
                                            f"mechanical axis (expected at most {JOINT_LINE_TILT_DEG:.0f}°)"))
    if "femoral_head" in pts and "knee_center" in pts and ankle is not None:
        femur = float(np.linalg.norm((pts["knee_center"] - pts["femoral_head"]) * scale))
        tibia = float(np.linalg.norm((ankle - pts["knee_center"]) * scale))
        lo, hi = TIBIA_TO_FEMUR
        if femur > 0 and not lo <= tibia / femur <= hi:
            issues.append(PlausibilityIssue(side, ("knee_center", "malleolus_lateral", "malleolus_medial"),
                                            f"{side} leg: the tibia (knee centre to ankle centre) is "
                                            f"{tibia / femur:.2f} of the femur length (expected {lo}–{hi})"))
    return issues
