"""Anatomical plausibility: gross landmark jumps are caught, real anatomy (the spec's examples) is not."""

from __future__ import annotations

import math

import pytest

from llm_viewer.core.plausibility import check_leg


def _leg(alignment_examples, i: int, side: str) -> dict[str, tuple[float, float]]:
    return {k: tuple(v) for k, v in alignment_examples[i]["legs"][side]["landmarks"].items()}


def test_every_spec_example_leg_is_plausible(alignment_examples):
    n = 0
    for i, ex in enumerate(alignment_examples):
        for side in ex["legs"]:
            sp = ex.get("pixel_spacing_mm")
            assert check_leg(side, _leg(alignment_examples, i, side), tuple(sp) if sp else None) == []
            n += 1
    assert n >= 4


def test_medial_malleolus_on_the_other_legs_malleolus_is_flagged(alignment_examples):
    right, left = _leg(alignment_examples, 0, "right"), _leg(alignment_examples, 0, "left")
    # the left leg's medial malleolus found on the right leg's medial malleolus (feet together)
    left["malleolus_medial"] = right["malleolus_medial"]
    issues = check_leg("left", left)
    assert issues and any("malleolar line" in i.message for i in issues)
    assert {"malleolus_lateral", "malleolus_medial"} <= set().union(*(i.landmarks for i in issues))
    assert all(i.side == "left" for i in issues)


def test_collapsed_or_swapped_pairs_are_flagged(alignment_examples):
    leg = _leg(alignment_examples, 0, "right")
    leg["tibial_plateau_lateral"] = leg["femoral_condyle_lateral"]  # plateau point on the condyle: still lateral
    assert check_leg("right", leg) == []  # a small jump is not for this check (widths stay plausible)
    leg = _leg(alignment_examples, 0, "right")
    leg["malleolus_lateral"], leg["malleolus_medial"] = leg["malleolus_medial"], leg["malleolus_lateral"]
    issues = check_leg("right", leg)
    assert any("malleolus_lateral is not lateral of malleolus_medial" in i.message for i in issues)
    # the same landmarks are fine for the other side's convention only when mirrored
    mirrored = {k: (3000 - x, y) for k, (x, y) in _leg(alignment_examples, 0, "right").items()}
    assert check_leg("left", mirrored) == [] and check_leg("right", mirrored) != []


def test_width_relative_to_leg_length_and_missing_landmarks(alignment_examples):
    leg = _leg(alignment_examples, 0, "right")
    x, y = leg["tibial_plateau_medial"]
    leg["tibial_plateau_medial"] = (x + 2500, y)  # a plateau a third of the leg wide
    msgs = " ".join(i.message for i in check_leg("right", leg))
    assert "hip-to-ankle length" in msgs
    partial = {k: v for k, v in _leg(alignment_examples, 0, "right").items() if not k.startswith("malleolus")}
    assert check_leg("right", partial) == []  # checks that need a missing landmark are skipped
    assert check_leg("right", {}) == []


@pytest.mark.parametrize("spacing", [None, (0.143, 0.143), (0.2, 0.1)])
def test_ratios_do_not_depend_on_isotropic_spacing(alignment_examples, spacing):
    leg = _leg(alignment_examples, 1, "left")
    if spacing and spacing[0] != spacing[1]:  # stretch the pixels so that mm space is the original one
        leg = {k: (x * spacing[0] / spacing[1], y) for k, (x, y) in leg.items()}
    assert check_leg("left", leg, spacing) == []
    leg["malleolus_medial"] = leg["malleolus_lateral"]  # collapsed line: caught in every spacing
    assert any("malleolar line" in i.message for i in check_leg("left", leg, spacing))


def test_tibia_out_of_proportion_with_the_femur_is_flagged(alignment_examples):
    """The bundled model's failure on synth-2-000014 (feet together): the ankle box sat on the distal tibia and
    both malleoli came out 63 mm too high, a tibia 0.66 of the femur. Widths and sides stayed plausible."""
    leg = _leg(alignment_examples, 0, "right")
    hx, hy = leg["femoral_head"]
    kx, ky = leg["knee_center"]
    femur = ((kx - hx) ** 2 + (ky - hy) ** 2) ** 0.5
    for lm in ("malleolus_lateral", "malleolus_medial"):
        x, y = leg[lm]
        leg[lm] = (x, ky + 0.6 * (y - ky))  # ankle moved up along the leg: widths unchanged
    ankle_y = 0.5 * (leg["malleolus_lateral"][1] + leg["malleolus_medial"][1])
    assert (ankle_y - ky) / femur < 0.68
    issues = check_leg("right", leg)
    assert len(issues) == 1 and "of the femur length" in issues[0].message
    assert set(issues[0].landmarks) == {"knee_center", "malleolus_lateral", "malleolus_medial"}
    # without the knee centre the proportion is not judged
    del leg["knee_center"]
    assert check_leg("right", leg) == []


def _rotated_about(p, c, deg):
    a = math.radians(deg)
    dx, dy = p[0] - c[0], p[1] - c[1]
    return (c[0] + dx * math.cos(a) - dy * math.sin(a), c[1] + dx * math.sin(a) + dy * math.cos(a))


@pytest.mark.parametrize("sign", [1, -1])
def test_a_tilted_joint_line_is_flagged(alignment_examples, sign):
    """The bundled model's failure on synth-2-000006 (version-5 test set): the right lateral malleolus came out
    39 mm too high beside the other ankle; the malleolar line's width and sides stayed plausible, but it was
    tilted 27° from perpendicular to the tibial axis (mLDTA 27° off)."""
    base = _leg(alignment_examples, 0, "right")
    leg = dict(base)
    leg["malleolus_lateral"] = _rotated_about(base["malleolus_lateral"], base["malleolus_medial"], sign * 32.0)
    issues = check_leg("right", leg)
    assert [i.landmarks for i in issues] == [("malleolus_lateral", "malleolus_medial")]
    assert "malleolar line" in issues[0].message and "perpendicular" in issues[0].message
    # 6° more tilt is a deformity, not a wrong landmark: not flagged
    leg["malleolus_lateral"] = _rotated_about(base["malleolus_lateral"], base["malleolus_medial"], sign * 6.0)
    assert check_leg("right", leg) == []
    # the femoral joint line is judged against the femur's axis
    leg = dict(base)
    leg["femoral_condyle_medial"] = _rotated_about(base["femoral_condyle_medial"], base["femoral_condyle_lateral"],
                                                   sign * 30.0)
    assert any("femoral joint line" in i.message and "perpendicular" in i.message for i in check_leg("right", leg))
