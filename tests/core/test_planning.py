"""Osteotomy planning geometry on synthetic varus and valgus legs (both sides, with and without spacing)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_viewer.core.metrics import compute_leg_metrics
from llm_viewer.core.planning import (
    METHODS,
    OsteotomyPlan,
    PlanError,
    PlanTarget,
    default_plan,
    parse_plans,
    plan_with_result,
    simulate,
)
from tests.core.planning_cases import synthetic_leg

SPACINGS = [(0.14, 0.14), None, (0.15, 0.12)]
HTO = ("hto_open_medial", "hto_close_lateral")
DFO = ("dfo_open_lateral", "dfo_close_medial")


def _mm(p, spacing):
    row, col = spacing if spacing is not None else (1.0, 1.0)
    return np.array([p[0] * col, p[1] * row])


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("method", METHODS)
def test_wbl_target_is_reached(method, side, spacing):
    varus = method.startswith("hto")
    lms = synthetic_leg(side, 8.0 if varus else -7.0, spacing)
    plan = default_plan(lms, side, method, spacing)
    assert plan.target == PlanTarget("wbl_ratio_pct", 62.5 if varus else 50.0)
    res = simulate(plan, lms, side, spacing)
    assert abs(res.post["wbl_ratio_pct"] - plan.target.value) < 0.5
    assert abs(res.pre["wbl_ratio_pct"] - plan.target.value) > 20  # a real correction happened
    assert 3.0 < res.correction_deg < 20.0
    # valgus-producing for an HTO: HKA grows; varus-producing for a DFO: it shrinks
    assert (res.post["hka_deg"] > res.pre["hka_deg"]) == varus
    assert res.pre == compute_leg_metrics(lms, side, spacing).as_dict()


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("method,knee,target", [(m, 9.0, 181.5) for m in HTO] + [(m, -9.0, 179.0) for m in DFO])
def test_hka_target_is_reached(method, side, spacing, knee, target):
    lms = synthetic_leg(side, knee, spacing)
    plan = default_plan(lms, side, method, spacing, target=PlanTarget("hka_deg", target))
    res = simulate(plan, lms, side, spacing)
    assert abs(res.post["hka_deg"] - target) < 0.1
    assert abs(res.pre["hka_deg"] - target) > 5


@pytest.mark.parametrize("spacing", [(0.14, 0.14), (0.15, 0.12)])
@pytest.mark.parametrize("method", METHODS)
def test_wedge_height_is_the_chord_at_the_osteotomy_length(method, spacing):
    side = "left"
    lms = synthetic_leg(side, 8.0 if method.startswith("hto") else -8.0, spacing)
    plan = default_plan(lms, side, method, spacing)
    res = simulate(plan, lms, side, spacing)
    length_mm = float(np.linalg.norm(_mm(plan.cut_start_px, spacing) - _mm(plan.hinge_px, spacing)))
    assert res.osteotomy_length_mm == pytest.approx(length_mm)
    assert res.wedge_height_mm == pytest.approx(2 * length_mm * math.sin(math.radians(res.correction_deg) / 2))
    # the wedge's third corner is the cut start turned by the correction: its distance from the cut start is
    # the wedge height (in mm)
    third = _mm(res.wedge_px[2], spacing)
    assert float(np.linalg.norm(third - _mm(plan.cut_start_px, spacing))) == pytest.approx(res.wedge_height_mm)


def test_wedge_height_is_refused_without_spacing():
    lms = synthetic_leg("right", 8.0, None)
    res = simulate(default_plan(lms, "right", "hto_open_medial", None), lms, "right", None)
    assert res.wedge_height_mm is None and res.osteotomy_length_mm is None
    assert any("pixel spacing" in n for n in res.notes)
    assert res.post["leg_length_mm"] is None and res.correction_deg > 3


def test_angles_do_not_depend_on_a_square_spacing():
    lms = synthetic_leg("right", 8.0, None)
    plan = default_plan(lms, "right", "hto_open_medial", None)
    a = simulate(plan, lms, "right", None)
    b = simulate(plan, lms, "right", (0.2, 0.2))
    assert a.correction_deg == pytest.approx(b.correction_deg, abs=1e-9)
    assert b.wedge_height_mm == pytest.approx(2 * 0.2 * a.osteotomy_length_px * math.sin(math.radians(a.correction_deg) / 2))


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("spacing", [(0.14, 0.14), (0.15, 0.12)])
def test_miniaci_construction_gives_the_same_angle(side, spacing):
    """Independent check: the hip -> target-point line meets the circle about the hinge through the ankle."""
    lms = synthetic_leg(side, 7.0, spacing)
    plan = default_plan(lms, side, "hto_open_medial", spacing)
    res = simulate(plan, lms, side, spacing)
    P = {k: _mm(v, spacing) for k, v in lms.items()}
    hinge = _mm(plan.hinge_px, spacing)
    A = (P["malleolus_lateral"] + P["malleolus_medial"]) / 2
    T = P["tibial_plateau_medial"] + 0.625 * (P["tibial_plateau_lateral"] - P["tibial_plateau_medial"])
    H = P["femoral_head"]
    u = (T - H) / np.linalg.norm(T - H)
    r = np.linalg.norm(A - hinge)
    w = H - hinge  # |w + s u| = r
    b, c = float(w @ u), float(w @ w - r * r)
    s = -b + math.sqrt(b * b - c)  # the far intersection: ankle level
    A2 = H + s * u
    v1, v2 = A - hinge, A2 - hinge
    angle = math.degrees(math.atan2(abs(v1[0] * v2[1] - v1[1] * v2[0]), float(v1 @ v2)))
    assert res.correction_deg == pytest.approx(angle, abs=1e-6)
    post_ankle = (_mm(res.post_landmarks_px["malleolus_lateral"], spacing)
                  + _mm(res.post_landmarks_px["malleolus_medial"], spacing)) / 2
    assert np.allclose(post_ankle, A2, atol=1e-6)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("pair", [HTO, DFO])
def test_opening_and_closing_wedges_give_the_same_axis_correction(side, pair):
    spacing = (0.14, 0.14)
    lms = synthetic_leg(side, 8.0 if pair == HTO else -8.0, spacing)
    opening = default_plan(lms, side, pair[0], spacing)
    res_open = simulate(opening, lms, side, spacing)
    # the closing wedge with the same hinge and a cut of the same length on the other side of the hinge
    h, c = np.array(opening.hinge_px), np.array(opening.cut_start_px)
    closing = OsteotomyPlan(side, pair[1], opening.target, tuple(h), tuple(2 * h - c))
    res_close = simulate(closing, lms, side, spacing)
    assert res_close.correction_deg == pytest.approx(res_open.correction_deg, abs=1e-9)
    assert res_close.rotation_deg == pytest.approx(res_open.rotation_deg, abs=1e-9)
    for key in ("hka_deg", "wbl_ratio_pct", "mmpta_deg", "mldfa_deg", "jlo_deg", "leg_length_mm"):
        assert res_close.post[key] == pytest.approx(res_open.post[key], abs=1e-6)
    assert res_close.wedge_height_mm == pytest.approx(res_open.wedge_height_mm)
    # each method with its own default hinge reaches the target too; the opening wedge lengthens the leg, the
    # closing one shortens it
    res_close_default = simulate(default_plan(lms, side, pair[1], spacing), lms, side, spacing)
    assert res_close_default.post["wbl_ratio_pct"] == pytest.approx(opening.target.value, abs=0.5)
    assert abs(res_close_default.correction_deg - res_open.correction_deg) < 2.0
    assert res_open.leg_length_change_mm > 0.5
    assert res_close_default.leg_length_change_mm < -0.5


@pytest.mark.parametrize("method", METHODS)
def test_only_the_distal_fragment_moves_rigidly(method):
    side, spacing = "right", (0.15, 0.12)
    lms = synthetic_leg(side, 8.0 if method.startswith("hto") else -8.0, spacing)
    res = simulate(default_plan(lms, side, method, spacing), lms, side, spacing)
    moved = {k for k in lms if not np.allclose(res.post_landmarks_px[k], lms[k])}
    expect = {"malleolus_lateral", "malleolus_medial"}
    if method.startswith("dfo"):
        expect |= {"femoral_condyle_lateral", "femoral_condyle_medial", "knee_center", "tibial_plateau_lateral",
                   "tibial_plateau_medial"}
    assert moved == expect
    before = [_mm(lms[k], spacing) for k in sorted(expect)]
    after = [_mm(res.post_landmarks_px[k], spacing) for k in sorted(expect)]
    for i in range(len(before)):
        for j in range(i):
            assert np.linalg.norm(after[i] - after[j]) == pytest.approx(np.linalg.norm(before[i] - before[j]))
    # the affine helper maps each landmark to its planned place
    aff = np.array(res.affine_px)
    for k in expect:
        assert np.allclose(aff[:, :2] @ np.array(lms[k]) + aff[:, 2], res.post_landmarks_px[k])
    # the bone that is cut changes its joint angle, the other keeps it
    changed, kept = ("mmpta_deg", "mldfa_deg") if method.startswith("hto") else ("mldfa_deg", "mmpta_deg")
    assert abs(res.post[changed] - res.pre[changed]) > 3
    assert res.post[kept] == pytest.approx(res.pre[kept], abs=1e-9)
    assert res.post["jlo_deg"] == pytest.approx(res.post["mmpta_deg"] + res.post["mldfa_deg"])


def test_missing_landmark_is_named():
    lms = synthetic_leg("right", 8.0)
    del lms["tibial_plateau_medial"]
    with pytest.raises(PlanError, match="tibial_plateau_medial"):
        default_plan(lms, "right", "hto_open_medial", (0.14, 0.14))
    full = synthetic_leg("right", 8.0)
    plan = default_plan(full, "right", "dfo_open_lateral", (0.14, 0.14))
    del full["femoral_condyle_lateral"]
    with pytest.raises(PlanError, match="femoral_condyle_lateral"):
        simulate(plan, full, "right", (0.14, 0.14))


@pytest.mark.parametrize("side", ["right", "left"])
def test_hinge_on_the_wrong_side_is_refused(side):
    lms = synthetic_leg(side, 8.0)
    plan = default_plan(lms, side, "hto_open_medial", (0.14, 0.14))
    swapped = plan.with_changes(hinge_px=plan.cut_start_px, cut_start_px=plan.hinge_px)
    with pytest.raises(PlanError, match="wrong side"):
        simulate(swapped, lms, side, (0.14, 0.14))
    with pytest.raises(PlanError, match="wrong side"):  # a closing wedge with the opening wedge's hinge
        simulate(plan.with_changes(method="hto_close_lateral"), lms, side, (0.14, 0.14))


def test_osteotomy_above_the_joint_is_refused():
    lms = synthetic_leg("right", 8.0)
    plan = default_plan(lms, "right", "hto_open_medial", (0.14, 0.14))
    up = 400.0  # px: the whole line far above the plateau, in the femur
    high = plan.with_changes(hinge_px=(plan.hinge_px[0], plan.hinge_px[1] - up),
                             cut_start_px=(plan.cut_start_px[0], plan.cut_start_px[1] - up))
    with pytest.raises(PlanError, match="proximal|distal"):
        simulate(high, lms, "right", (0.14, 0.14))


def test_unreachable_targets_are_refused():
    spacing = (0.14, 0.14)
    valgus = synthetic_leg("right", -8.0, spacing)
    with pytest.raises(PlanError, match="away from the target"):
        simulate(default_plan(valgus, "right", "hto_open_medial", spacing), valgus, "right", spacing)
    varus = synthetic_leg("left", 8.0, spacing)
    too_far = default_plan(varus, "left", "hto_open_medial", spacing, target=PlanTarget("hka_deg", 209.0))
    with pytest.raises(PlanError, match="cannot be reached"):
        simulate(too_far, varus, "left", spacing)
    with pytest.raises(PlanError, match="not the right leg"):
        simulate(too_far, varus, "right", spacing)
    with pytest.raises(PlanError, match="out of range"):
        PlanTarget("wbl_ratio_pct", 400.0)
    with pytest.raises(PlanError, match="unknown osteotomy method"):
        default_plan(varus, "left", "tka", spacing)


def test_already_at_target_needs_no_correction():
    spacing = (0.14, 0.14)
    lms = synthetic_leg("right", 4.0, spacing)
    pre = compute_leg_metrics(lms, "right", spacing)
    plan = default_plan(lms, "right", "hto_open_medial", spacing, target=PlanTarget("hka_deg", pre.hka_deg))
    res = simulate(plan, lms, "right", spacing)
    assert res.correction_deg == 0.0 and res.wedge_height_mm == 0.0
    assert any("already" in n for n in res.notes)


def test_plan_dict_round_trip_follows_the_contract():
    spacing = (0.14, 0.14)
    lms = synthetic_leg("left", 8.0, spacing)
    plan = plan_with_result(default_plan(lms, "left", "hto_open_medial", spacing), lms, spacing)
    d = plan.as_dict()
    assert set(d) == {"id", "side", "method", "target", "hinge_px", "cut_start_px", "result", "created_by",
                      "created_at", "updated_by", "updated_at"}
    assert d["id"].startswith("plan-") and len(d["id"]) == 13
    assert set(d["result"]) == {"correction_deg", "wedge_height_mm", "osteotomy_length_mm", "pre", "post", "notes"}
    back = parse_plans({"plans": [d]})
    assert back[0].as_dict() == d
    with pytest.raises(PlanError, match="at most one per leg"):
        parse_plans({"plans": [d, dict(d, id="plan-00000000")]})
    with pytest.raises(PlanError, match=r"plans\[0\]"):
        parse_plans({"plans": [dict(d, method="knee_replacement")]})
    with pytest.raises(PlanError, match="hinge_px"):
        parse_plans({"plans": [{k: v for k, v in d.items() if k != "hinge_px"}]})


@settings(max_examples=60, deadline=None)
@given(side=st.sampled_from(["right", "left"]), knee=st.floats(3.0, 12.0), shift=st.floats(-12.0, 8.0),
       dx=st.floats(-8.0, 8.0), dy=st.floats(-6.0, 10.0), spacing=st.sampled_from(SPACINGS),
       method=st.sampled_from(METHODS))
def test_any_reasonable_target_is_reached(side, knee, shift, dx, dy, spacing, method):
    """Varus knees with an HTO, valgus knees with a DFO; the hinge moved around its default (in px)."""
    hto = method.startswith("hto")
    lms = synthetic_leg(side, knee if hto else -knee, spacing)
    target = (62.5 if hto else 50.0) + shift
    plan = default_plan(lms, side, method, spacing, target=PlanTarget("wbl_ratio_pct", target))
    hinge = (plan.hinge_px[0] + dx, plan.hinge_px[1] + dy)
    res = simulate(plan.with_changes(hinge_px=hinge), lms, side, spacing)
    assert abs(res.post["wbl_ratio_pct"] - target) < 0.5
    sigma = 1 if side == "right" else -1
    assert res.rotation_deg * sigma * (1 if hto else -1) > 0  # HTO valgus-producing, DFO varus-producing


def test_oblique_joint_line_is_noted():
    spacing = (0.14, 0.14)
    lms = synthetic_leg("right", 12.0, spacing)
    res = simulate(default_plan(lms, "right", "hto_open_medial", spacing), lms, "right", spacing)
    assert res.post["mmpta_deg"] > 95.0 and any("mMPTA" in n and "double-level" in n for n in res.notes)
    mild = synthetic_leg("right", 5.0, spacing)
    res = simulate(default_plan(mild, "right", "hto_open_medial", spacing), mild, "right", spacing)
    assert res.post["mmpta_deg"] < 95.0 and not any("mMPTA" in n for n in res.notes)
