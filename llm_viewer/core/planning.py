"""Osteotomy planning around the knee: the Miniaci method for HTO and its analogue for DFO.

A plan names a leg, a method, a target (a weight-bearing-line ratio or an HKA), the hinge point and the
start of the osteotomy line on the far cortex. :func:`simulate` finds the rotation of the distal fragment
about the hinge that brings the new mechanical axis (femoral head -> rotated ankle centre) onto the target,
rotates every landmark distal to the osteotomy rigidly about the hinge and recomputes the metrics before and
after, only through :func:`llm_viewer.core.metrics.compute_leg_metrics`.

Geometry is done in mm space (``X = x * column_spacing``, ``Y = y * row_spacing``; square pixels when the
spacing is unknown), so the rotation is a rigid motion of the patient, not of the pixel grid. A rotation
angle ``θ`` in image axes (``x`` right, ``y`` down) maps ``(1, 0)`` to ``(cos θ, sin θ)``: positive is
clockwise on screen. A *valgus-producing* rotation turns the medial direction towards distal: ``θ > 0`` for
the right leg (medial ``+x``), ``θ < 0`` for the left.

Methods
-------
``hto_open_medial``
    High tibial osteotomy, medial opening wedge: hinge on the lateral tibia, cut from the medial cortex.
``hto_close_lateral``
    High tibial osteotomy, lateral closing wedge: hinge on the medial tibia, wedge based laterally.
``dfo_open_lateral``
    Distal femoral osteotomy, lateral opening wedge (valgus knees): hinge on the medial femur.
``dfo_close_medial``
    Distal femoral osteotomy, medial closing wedge (valgus knees): hinge on the lateral femur.

Opening and closing wedges of one bone turn the distal fragment the same way by the same kind of angle;
only the side of the wedge and the hinge differ. Because the fragment turns about its own hinge, the leg
length follows from the geometry: the distal fragment on the wedge's side of the hinge moves away from the
proximal one in an opening wedge and towards it in a closing one, so an opening wedge lengthens the leg
more than a closing one (which usually shortens it; straightening a bent leg also lengthens the
hip-ankle distance). No soft tissue, joint laxity change (JLCA), saw-blade kerf, or tibial slope
is modelled. Stored plans are read and written by :mod:`llm_viewer.core.planning_store`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .landmarks import Point, side_sign
from .metrics import compute_leg_metrics, validate_spacing
from .planning_types import (  # re-exported: the plan's public API lives here
    METHOD_LABELS,
    METHODS,
    PLANS_KEY,
    TARGET_KINDS,
    OsteotomyPlan,
    PlanError,
    PlanResult,
    PlanTarget,
    bone,
    check_method,
    is_opening,
    new_plan_id,
    parse_plan,
    parse_plans,
    target_text,
)

__all__ = ["METHODS", "METHOD_LABELS", "PLANS_KEY", "TARGET_KINDS", "OsteotomyPlan", "PlanError", "PlanResult",
           "PlanTarget", "bone", "check_method", "default_plan", "default_target", "is_opening", "new_plan_id",
           "parse_plan", "parse_plans", "plan_with_result", "simulate", "suggest_method", "target_text"]

FUJISAWA_WBL_PCT = 62.5
"""Fujisawa point: the default target of an HTO in a varus knee."""
NEUTRAL_WBL_PCT = 50.0
"""The default target of a DFO in a valgus knee (the axis through the knee centre)."""
MAX_CORRECTION_DEG = 30.0
"""Largest correction :func:`simulate` searches; a target beyond it is refused."""
LARGE_CORRECTION_DEG = 15.0
"""Corrections above this get a note (large for an opening wedge; consider a double-level osteotomy)."""
MAX_POST_MMPTA_DEG = 95.0
"""An HTO leaving the mMPTA above this gets a note (the limit often used against joint-line obliquity)."""
ESTIMATED_PLATEAU_WIDTH_MM = 75.0
"""Without pixel spacing, default points are placed as if the tibial plateau (HTO) or the condyle line (DFO)
were this wide; the plan's notes say so."""

# Default positions (mm), in a frame of the joint line: "inward" = from that cortex towards the other one,
# "depth" = perpendicular to the joint line, distal (HTO, below the plateau) or proximal (DFO, above the
# condyles).
HTO_HINGE_DEPTH_MM, HTO_HINGE_INWARD_MM = 15.0, 10.0
HTO_OPEN_CUT_DEPTH_MM = 37.5
HTO_CLOSE_CUT_DEPTH_MM = 25.0
DFO_HINGE_DEPTH_MM, DFO_HINGE_INWARD_MM = 30.0, 10.0
DFO_CUT_DEPTH_MM = 60.0
CUT_INWARD_MM = 3.0
"""The far cortex is taken this much inside the joint line's end (metaphyseal flare)."""

_H, _K = "femoral_head", "knee_center"
_CL, _CM = "femoral_condyle_lateral", "femoral_condyle_medial"
_PL, _PM = "tibial_plateau_lateral", "tibial_plateau_medial"
_ML, _MM = "malleolus_lateral", "malleolus_medial"
_BASE_NEEDS = (_H, _K, _PL, _PM, _ML, _MM)
METHOD_LANDMARKS: dict[str, tuple[str, ...]] = {
    "hto_open_medial": _BASE_NEEDS,
    "hto_close_lateral": _BASE_NEEDS,
    "dfo_open_lateral": _BASE_NEEDS + (_CL, _CM),
    "dfo_close_medial": _BASE_NEEDS + (_CL, _CM),
}
"""The landmarks each method needs (femoral head and ankle for the axis, knee and plateau for the targets,
condyles for a DFO's defaults)."""
DISTAL_LANDMARKS: dict[str, tuple[str, ...]] = {
    "hto": (_ML, _MM),
    "dfo": (_CL, _CM, _K, _PL, _PM, _ML, _MM),
}
"""Landmarks on the distal fragment, rotated with it."""


# ---------------------------------------------------------------------------------------------- geometry
def _scale(pixel_spacing_mm: Sequence[float] | None) -> tuple[np.ndarray, bool]:
    sp = validate_spacing(list(pixel_spacing_mm) if pixel_spacing_mm is not None else None)
    return (np.array([sp[1], sp[0]], float), True) if sp else (np.ones(2), False)


def _xy(p: Point | Sequence[float]) -> np.ndarray:
    return np.array([p.x, p.y] if isinstance(p, Point) else [float(p[0]), float(p[1])], float)


def _rot(theta_rad: float) -> np.ndarray:
    c, s = math.cos(theta_rad), math.sin(theta_rad)
    return np.array([[c, -s], [s, c]])


def _need(landmarks: Mapping[str, object], method: str, side: str) -> dict[str, np.ndarray]:
    missing = [lm for lm in METHOD_LANDMARKS[method] if landmarks.get(lm) is None]
    if missing:
        raise PlanError(f"{side} leg: {METHOD_LABELS[method]} needs {', '.join(missing)}")
    return {k: _xy(v) for k, v in landmarks.items() if v is not None}  # type: ignore[arg-type]


def _joint_frame(a_mm: np.ndarray, b_mm: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector a -> b along a joint line and the perpendicular pointing distally (image down)."""
    v = b_mm - a_mm
    n = float(np.hypot(*v))
    if n < 1e-6:
        raise PlanError(f"the {what} has zero length (coincident landmarks)")
    u = v / n
    d = np.array([-u[1], u[0]])
    return u, (d if d[1] >= 0 else -d)


def valgus_sign(side: str) -> int:
    """Sign of a valgus-producing rotation in image axes: +1 for the right leg, -1 for the left."""
    return side_sign(side)


def correction_sign(method: str, side: str) -> int:
    """Sign of the image-axes rotation ``method`` makes on ``side`` (HTO: valgus-producing, DFO: varus)."""
    return valgus_sign(side) * (1 if bone(method) == "hto" else -1)


def default_target(method: str) -> PlanTarget:
    """Fujisawa's 62.5 % for an HTO (varus knee), 50 % for a DFO (valgus knee)."""
    return PlanTarget("wbl_ratio_pct", FUJISAWA_WBL_PCT if bone(method) == "hto" else NEUTRAL_WBL_PCT)


def default_plan(landmarks: Mapping[str, Point | Sequence[float] | None], side: str, method: str,
                 pixel_spacing_mm: Sequence[float] | None, *, target: PlanTarget | None = None) -> OsteotomyPlan:
    """A plan with the usual hinge, osteotomy line and target, for the surgeon to adjust.

    HTO: the hinge ~15 mm below the plateau and 10 mm inside the hinge-side cortex (lateral for an opening
    wedge, medial for a closing one), the cortex being estimated at the plateau's end; the cut starts on the
    far cortex 37.5 mm (opening) or 25 mm (closing) below the plateau. DFO: the hinge 30 mm above the
    condyle line, 10 mm inside the hinge-side cortex; the cut starts on the far cortex 60 mm above it.
    Target: :func:`default_target`.

    Parameters
    ----------
    landmarks : Mapping
        The leg's landmarks in original-image pixels (:data:`METHOD_LANDMARKS` of ``method`` needed).
    side : str
        ``"right"`` or ``"left"``.
    method : str
        One of :data:`METHODS`.
    pixel_spacing_mm : sequence of float or None
        ``[row_mm, column_mm]``; without it the joint line is taken as 75 mm wide to place the points.
    target : PlanTarget, optional
        Defaults to :func:`default_target`.

    Returns
    -------
    OsteotomyPlan
        Without a result (run :func:`simulate`).

    Raises
    ------
    PlanError
        Unknown method or side, a missing landmark, a zero-length joint line.
    """
    sigma = side_sign(side)
    check_method(method)
    pts = _need(landmarks, method, side)
    scale, known = _scale(pixel_spacing_mm)
    mm = {k: v * scale for k, v in pts.items()}
    hto = bone(method) == "hto"
    lat, med = (mm[_PL], mm[_PM]) if hto else (mm[_CL], mm[_CM])
    medial, distal = _joint_frame(lat, med, "tibial plateau line" if hto else "distal femoral joint line")
    if float(np.dot(medial, [sigma, 0.0])) <= 0:
        raise PlanError(f"{side} leg: the {'plateau' if hto else 'condyle'} landmarks are swapped (the medial one "
                        "is lateral): check the side")
    unit = 1.0 if known else float(np.hypot(*(med - lat))) / ESTIMATED_PLATEAU_WIDTH_MM
    depth = distal if hto else -distal
    # the hinge is on the side opposite the wedge: lateral for a medial opening or a medial closing wedge
    hinge_lateral = method in ("hto_open_medial", "dfo_close_medial")
    near, far = (lat, med) if hinge_lateral else (med, lat)
    inward = medial if hinge_lateral else -medial
    if hto:
        h_depth, h_in = HTO_HINGE_DEPTH_MM, HTO_HINGE_INWARD_MM
        c_depth = HTO_OPEN_CUT_DEPTH_MM if is_opening(method) else HTO_CLOSE_CUT_DEPTH_MM
    else:
        h_depth, h_in, c_depth = DFO_HINGE_DEPTH_MM, DFO_HINGE_INWARD_MM, DFO_CUT_DEPTH_MM
    hinge = near + unit * (h_in * inward + h_depth * depth)
    cut = far + unit * (-CUT_INWARD_MM * inward + c_depth * depth)
    return OsteotomyPlan(side=side, method=method, target=target or default_target(method),
                         hinge_px=tuple(hinge / scale), cut_start_px=tuple(cut / scale))  # type: ignore[arg-type]


def _rotate_px(points_px: Mapping[str, np.ndarray], ids: Sequence[str], hinge_mm: np.ndarray, theta_rad: float,
               scale: np.ndarray) -> dict[str, np.ndarray]:
    r = _rot(theta_rad)
    out = dict(points_px)
    for lm in ids:
        if lm in out:
            out[lm] = (r @ (out[lm] * scale - hinge_mm) + hinge_mm) / scale
    return out


def _check_sides(plan: OsteotomyPlan, pts: Mapping[str, np.ndarray], scale: np.ndarray) -> None:
    """The hinge on the side opposite the wedge, the osteotomy line between the fixed and moving landmarks."""
    sigma = side_sign(plan.side)
    hinge, cut = np.array(plan.hinge_px) * scale, np.array(plan.cut_start_px) * scale
    line = cut - hinge
    length = float(np.hypot(*line))
    if length < 1.0 * float(min(scale)) or length < 1e-6:
        raise PlanError(f"{plan.side} leg: the hinge and the start of the osteotomy line coincide")
    lat, med = (_PL, _PM) if bone(plan.method) == "hto" else (_CL, _CM)
    medial = (pts[med] - pts[lat]) * scale  # along the joint line, towards medial
    if float(medial[0]) * sigma <= 0:
        medial = np.array([sigma, 0.0])  # swapped joint-line points: fall back on the image's medial direction
    medial_of_cut = float(medial @ (hinge - cut))  # > 0: the hinge lies medial to the cut start
    hinge_lateral = plan.method in ("hto_open_medial", "dfo_close_medial")
    if (medial_of_cut >= 0) == hinge_lateral:
        want = "lateral" if hinge_lateral else "medial"
        raise PlanError(f"{plan.side} leg: the hinge is on the wrong side of the osteotomy: for a "
                        f"{METHOD_LABELS[plan.method]} it must lie {want} to the start of the cut")
    axis = pts[_ML] * scale / 2 + pts[_MM] * scale / 2 - pts[_H] * scale
    n = np.array([-line[1], line[0]])
    n = n if float(n @ axis) > 0 else -n
    moving = set(DISTAL_LANDMARKS[bone(plan.method)])
    for lm, p in pts.items():
        if lm == "diaphysis_center" and bone(plan.method) == "hto":
            continue
        distal = float(n @ (p * scale - hinge)) > 0
        if distal != (lm in moving):
            where = "distal" if distal else "proximal"
            raise PlanError(f"{plan.side} leg: {lm} lies {where} to the osteotomy line; the "
                            f"{'tibia below the plateau' if bone(plan.method) == 'hto' else 'femur above the condyles'}"
                            " must be cut between the joint and the rest of the bone: move the hinge or the cut")


def _solve_rotation(f: Callable[[float], float], sign: int, what: str) -> float:
    """Smallest ``t`` in [0, MAX] (radians, along ``sign``) with ``f(sign * t) == 0`` (grid scan, bisection)."""
    t_max = math.radians(MAX_CORRECTION_DEG)
    f0 = f(0.0)
    if abs(f0) < 1e-12:
        return 0.0
    grid = np.linspace(0.0, t_max, 61)  # 0.5° steps: the metrics are monotonic over a step
    prev_t, prev_v = 0.0, f0
    for t in grid[1:]:
        v = f(sign * float(t))
        if (v > 0) != (prev_v > 0) or v == 0:
            lo, hi, flo = prev_t, float(t), prev_v
            for _ in range(52):  # 0.5° / 2**52: far below any displayed digit
                mid = 0.5 * (lo + hi)
                fm = f(sign * mid)
                if (fm > 0) == (flo > 0) and fm != 0:
                    lo, flo = mid, fm
                else:
                    hi = mid
            return sign * 0.5 * (lo + hi)
        prev_t, prev_v = float(t), v
    if abs(f(sign * t_max)) > abs(f0):
        raise PlanError(f"{what}: this osteotomy moves the axis away from the target (an HTO corrects towards "
                        "valgus, a DFO towards varus); choose the other osteotomy or another target")
    raise PlanError(f"{what} cannot be reached with a correction up to {MAX_CORRECTION_DEG:g}°")


def simulate(plan: OsteotomyPlan, landmarks: Mapping[str, Point | Sequence[float] | None], side: str,
             pixel_spacing_mm: Sequence[float] | None) -> PlanResult:
    """Find the correction that meets the plan's target and the metrics it gives.

    The distal fragment (HTO: the ankle; DFO: condyles, knee centre, plateau and ankle) turns rigidly about
    the hinge, in mm space, by the angle at which the new mechanical axis meets the target (grid scan then
    bisection of the metric itself: the Miniaci construction for a WBL target). Pre- and post-operative
    metrics come from :func:`llm_viewer.core.metrics.compute_leg_metrics` only. The wedge height is the
    chord ``2 L sin(θ / 2)`` at the osteotomy length ``L`` (cut start to hinge), in mm; without pixel spacing
    it is ``None`` and a note says why.

    Parameters
    ----------
    plan : OsteotomyPlan
    landmarks : Mapping
        The leg's current landmarks in original-image pixels.
    side : str
        Must equal ``plan.side``.
    pixel_spacing_mm : sequence of float or None
        ``[row_mm, column_mm]``.

    Returns
    -------
    PlanResult

    Raises
    ------
    PlanError
        Missing landmarks, a hinge on the wrong side of the cut, an osteotomy line that does not separate the
        joint from the rest of the bone, or a target the method cannot reach within 30°.
    """
    if side != plan.side:
        raise PlanError(f"the plan is for the {plan.side} leg, not the {side} leg")
    pts = _need(landmarks, plan.method, side)
    scale, known = _scale(pixel_spacing_mm)
    _check_sides(plan, pts, scale)
    hinge_mm = np.array(plan.hinge_px) * scale
    moving = DISTAL_LANDMARKS[bone(plan.method)]
    key = plan.target.kind
    pre = compute_leg_metrics(pts, side, pixel_spacing_mm).as_dict()
    if pre.get(key) is None:
        raise PlanError(f"{side} leg: the pre-operative {key} cannot be computed")

    def residual(theta: float) -> float:
        post = compute_leg_metrics(_rotate_px(pts, moving, hinge_mm, theta, scale), side, pixel_spacing_mm)
        value = getattr(post, key)
        if value is None:
            raise PlanError(f"{side} leg: the post-operative {key} cannot be computed at {math.degrees(theta):.1f}°")
        return float(value) - plan.target.value

    sign = correction_sign(plan.method, side)
    now = target_text(key, float(pre[key]))  # type: ignore[arg-type]
    what = f"{side} leg ({now} now): the target {plan.target.text()}"
    theta = _solve_rotation(residual, sign, what)
    moved = _rotate_px(pts, moving, hinge_mm, theta, scale)
    post = compute_leg_metrics(moved, side, pixel_spacing_mm).as_dict()
    corr_deg = abs(math.degrees(theta))
    cut_mm = np.array(plan.cut_start_px) * scale
    length_mm_space = float(np.hypot(*(cut_mm - hinge_mm)))
    length_px = float(np.hypot(*(np.array(plan.cut_start_px) - np.array(plan.hinge_px))))
    notes: list[str] = []
    wedge = length = None
    if known:
        length = length_mm_space
        wedge = 2.0 * length * math.sin(abs(theta) / 2.0)
    else:
        notes.append("wedge height and lengths refused: the image has no pixel spacing (calibrate first)")
    if theta == 0.0:
        notes.append("the leg already meets the target: no correction")
    if corr_deg > LARGE_CORRECTION_DEG:
        notes.append(f"correction above {LARGE_CORRECTION_DEG:g}°: large for a single-level osteotomy")
    mmpta = post.get("mmpta_deg")
    if bone(plan.method) == "hto" and isinstance(mmpta, float) and mmpta > MAX_POST_MMPTA_DEG:
        notes.append(f"post-op mMPTA {mmpta:.1f}° is above {MAX_POST_MMPTA_DEG:g}°: an oblique joint line; "
                     "consider a double-level osteotomy")
    a, b = pre.get("leg_length_mm"), post.get("leg_length_mm")
    if isinstance(a, float) and isinstance(b, float) and theta != 0.0:
        wedge_kind = "opening" if is_opening(plan.method) else "closing"
        notes.append(f"leg length {b - a:+.1f} mm: the {wedge_kind} wedge turns the leg rigidly about this hinge "
                     f"(opening wedges lengthen more than closing ones)")
    # view helpers, in original-image pixels
    r = _rot(theta)
    lin = np.diag(1.0 / scale) @ r @ np.diag(scale)
    off = (hinge_mm - r @ hinge_mm) / scale
    affine = tuple(tuple(float(v) for v in row) for row in np.hstack([lin, off[:, None]]))
    cut_px = np.array(plan.cut_start_px)
    if is_opening(plan.method):
        third, distal_pt = lin @ cut_px + off, cut_px
    else:  # the distal cut: where the closing wedge's lower face starts before the fragment turns up
        inv = np.linalg.inv(lin)
        third = inv @ (cut_px - off)
        distal_pt = third
    return PlanResult(
        correction_deg=corr_deg, wedge_height_mm=wedge, osteotomy_length_mm=length, pre=pre, post=post,
        notes=tuple(notes), rotation_deg=math.degrees(theta), osteotomy_length_px=length_px,
        post_landmarks_px={k: (float(v[0]), float(v[1])) for k, v in moved.items()},
        affine_px=affine,  # type: ignore[arg-type]
        wedge_px=(tuple(plan.hinge_px), tuple(plan.cut_start_px), (float(third[0]), float(third[1]))),
        distal_cut_px=(tuple(plan.hinge_px), (float(distal_pt[0]), float(distal_pt[1]))),
    )


def plan_with_result(plan: OsteotomyPlan, landmarks: Mapping[str, Point | Sequence[float] | None],
                     pixel_spacing_mm: Sequence[float] | None) -> OsteotomyPlan:
    """``plan`` with its result recomputed on ``landmarks`` (raises :class:`PlanError` like :func:`simulate`)."""
    return plan.with_changes(result=simulate(plan, landmarks, plan.side, pixel_spacing_mm))


def suggest_method(landmarks: Mapping[str, Point | Sequence[float] | None], side: str,
                   pixel_spacing_mm: Sequence[float] | None) -> str:
    """``hto_open_medial`` for a varus or straight knee (HKA ≤ 180°), ``dfo_open_lateral`` for a valgus one.

    The HKA comes from :func:`llm_viewer.core.metrics.compute_leg_metrics`; without it the HTO is suggested.
    """
    try:
        hka = compute_leg_metrics(landmarks, side, pixel_spacing_mm).hka_deg
    except ValueError:
        hka = None
    return "dfo_open_lateral" if hka is not None and hka > 180.0 else "hto_open_medial"
