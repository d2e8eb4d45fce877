"""Leg assignment from hand-made boxes: anatomy, not detection order."""

from __future__ import annotations

import numpy as np

from llm_viewer.core.landmarks import REGIONS
from llm_viewer.pipeline.crop import Box, scale_matrix
from llm_viewer.pipeline.legs import Detection, assign_legs, best_chain, dedupe, knee_aliases
from llm_viewer.pipeline.side import infer_single_leg_side

from .conftest import leg_boxes, two_leg_boxes


def _centres(chain):
    return {r: round(d.box.cx) for r, d in chain.items()}


def test_two_legs_in_shuffled_order_are_assigned_by_position():
    dets = two_leg_boxes()
    rng = np.random.default_rng(3)
    dets = [dets[i] for i in rng.permutation(len(dets))]
    a = assign_legs(dets)
    assert set(a.legs) == {"right", "left"} and not a.single_leg
    assert _centres(a.legs["right"]) == {r: 80 for r in REGIONS}  # patient's right = image left
    assert _centres(a.legs["left"]) == {r: 220 for r in REGIONS}
    assert a.missing == {"right": [], "left": []} and a.warnings == []


def test_missing_knee_is_reported_for_that_leg_only():
    dets = leg_boxes(80) + leg_boxes(220, regions=("hip", "diaphysis", "ankle"))
    a = assign_legs(dets)
    assert a.missing["right"] == [] and a.missing["left"] == ["knee"]
    assert set(a.legs["left"]) == {"hip", "diaphysis", "ankle"}
    assert any("left leg: knee region not found" in w for w in a.warnings)


def test_lower_score_duplicates_and_out_of_order_boxes_are_dropped():
    dets = two_leg_boxes()
    dets.append(Detection("knee", Box(45, 305, 118, 395), 0.6))  # duplicate of the right knee
    dets.append(Detection("hip", Box(190, 440, 250, 540), 0.95))  # a "hip" below the left diaphysis: out of order
    assert len(dedupe(dets)) == len(dets) - 1
    a = assign_legs(dets)
    assert a.legs["right"]["knee"].score == 0.9
    assert a.legs["left"]["hip"].box.y0 == 20  # the anatomically consistent hip wins over the higher score
    assert a.missing["left"] == []


def test_one_box_over_both_ankles_is_split_into_flagged_halves():
    dets = leg_boxes(80, regions=REGIONS[:3]) + leg_boxes(220, regions=REGIONS[:3])
    both = Detection("ankle", Box(60, 440, 240, 540), 0.9)  # one box over both ankles, centred on the midline
    a = assign_legs([*dets, both])
    r, lft = a.legs["right"]["ankle"], a.legs["left"]["ankle"]
    assert r.split and lft.split and not a.legs["right"]["knee"].split
    assert round(r.box.cx) == 150 - 36 and round(lft.box.cx) == 150 + 36  # shifted by 0.2 of the width
    assert (r.box.width, r.box.y0, r.box.y1) == (both.box.width, both.box.y0, both.box.y1)
    assert a.missing == {"right": [], "left": []}
    assert any("split into one box per leg" in w and "flagged" in w for w in a.warnings)
    assert not any("spans the midline" in w for w in a.warnings)


def test_midline_box_is_not_split_when_a_leg_already_has_that_region():
    dets = leg_boxes(80) + leg_boxes(220, regions=REGIONS[:3])
    both = Detection("ankle", Box(100, 440, 200, 540), 0.95)
    a = assign_legs([*dets, both])
    # the right ankle was found, so the midline box is the left one (rule 4), whole, not two halves
    assert a.legs["right"]["ankle"].box.cx == 80 and a.legs["left"]["ankle"] is both
    assert not any(d.split for leg in a.legs.values() for d in leg.values())


def test_narrow_stance_ankles_whose_boxes_overlap_and_cross_the_midline_are_both_assigned():
    # Varus knees, feet together (as in held-out synth-2-000006): the right ankle box lies across the midline
    # the hips and knees define, and overlaps the left ankle box by 60 %.
    dets = leg_boxes(80, regions=REGIONS[:3], half_w=40) + leg_boxes(220, regions=REGIONS[:3], half_w=40)
    right_ankle = Detection("ankle", Box(112, 440, 192, 540), 0.78)  # centre 152, midline 150
    left_ankle = Detection("ankle", Box(145, 440, 225, 540), 0.50)
    a = assign_legs([*dets, left_ankle, right_ankle])
    assert a.legs["right"]["ankle"] is right_ankle and a.legs["left"]["ankle"] is left_ankle
    assert a.missing == {"right": [], "left": []} and not any("midline" in w for w in a.warnings)


def test_each_box_is_used_once_and_the_right_leg_stays_image_left():
    dets = leg_boxes(80, regions=REGIONS[:3]) + leg_boxes(220, regions=REGIONS[:3])
    only = Detection("ankle", Box(100, 440, 180, 540), 0.9)  # one box, nearer the right leg, not centred
    a = assign_legs([*dets, only])
    assert a.legs["right"]["ankle"] is only and "ankle" in a.missing["left"]
    # two candidates for both legs in the wrong order for a higher summed score are not taken
    a = assign_legs([*dets, Detection("ankle", Box(95, 440, 175, 540), 0.6),
                     Detection("ankle", Box(125, 440, 205, 540), 0.9)])
    r, lft = a.legs["right"].get("ankle"), a.legs["left"].get("ankle")
    assert r is not None and lft is not None and r.box.cx < lft.box.cx


def test_midline_box_is_used_when_the_other_leg_has_its_own_box():
    dets = leg_boxes(80, regions=REGIONS[:3]) + leg_boxes(220, regions=REGIONS[:3])
    centred = Detection("ankle", Box(110, 440, 190, 540), 0.9)  # centre exactly on the midline (150)
    partner = Detection("ankle", Box(190, 440, 270, 540), 0.8)
    a = assign_legs([*dets, centred, partner])
    assert a.legs["right"]["ankle"] is centred and a.legs["left"]["ankle"] is partner
    a = assign_legs([*dets, centred])  # alone it is both ankles: split (rule 5), never given to one leg whole
    assert a.legs["right"]["ankle"].split and a.legs["left"]["ankle"].split


def test_two_legs_without_pairs_split_at_the_largest_gap():
    dets = leg_boxes(80, regions=("hip", "diaphysis")) + leg_boxes(400, regions=("knee", "ankle"))
    a = assign_legs(dets)
    assert set(a.legs) == {"right", "left"}
    assert set(a.legs["right"]) == {"hip", "diaphysis"} and set(a.legs["left"]) == {"knee", "ankle"}


def _hip_shifted(dets, dx):
    return [Detection(d.region, Box(d.box.x0 + dx, d.box.y0, d.box.x1 + dx, d.box.y1), d.score)
            if d.region == "hip" else d for d in dets]


def test_single_leg_side_from_the_femoral_neck_pointing_medially():
    # hip box medial (+x) of the femoral shaft's line (diaphysis -> knee) -> right leg; mirrored -> left leg
    a = assign_legs(_hip_shifted(leg_boxes(150), 12))
    assert a.single_leg and list(a.legs) == ["right"] and a.missing["right"] == []
    assert "shaft's line" in a.side_evidence["right"].details["femoral_neck"]
    a = assign_legs(_hip_shifted(leg_boxes(150), -12))
    assert list(a.legs) == ["left"]
    # a leg tilted in the film (knee 20 px further +x per region) with its head 12 px medial of the shaft's line:
    # still right, though the hip box centre lies -x of the diaphysis box centre (what the cue used to compare)
    tilted = _hip_shifted(leg_boxes(150, dx_per_region=20), 12)
    assert tilted[0].box.cx < tilted[1].box.cx
    assert list(assign_legs(tilted).legs) == ["right"]
    assert list(assign_legs(_hip_shifted(leg_boxes(150, dx_per_region=-20), -12)).legs) == ["left"]
    # no knee: the hip against the diaphysis box, as before
    assert list(assign_legs(leg_boxes(150, regions=("hip", "diaphysis"), dx_per_region=-8)).legs) == ["right"]


def test_single_leg_side_from_the_pelvis_beside_the_hip():
    chain = best_chain(leg_boxes(150))  # no neck offset: the pelvis decides
    img = np.zeros((600, 300), np.float32)
    img[20:120, 190:300] = 0.8  # bone on the image-right of the hip box: medial is +x -> right leg
    eye = scale_matrix(1.0, 1.0)
    assert infer_single_leg_side(chain, img, eye)[0] == "right"
    assert infer_single_leg_side(chain, img[:, ::-1].copy(), eye)[0] == "left"


def test_single_leg_without_anatomical_evidence_warns():
    chain = best_chain(leg_boxes(150, regions=("knee", "ankle")))
    side, warn = infer_single_leg_side(chain, None, None, image_width_px=1000)
    assert side == "right" and "position" in warn
    side, warn = infer_single_leg_side(chain, None, None, image_width_px=300)
    assert side == "right" and "could not be decided" in warn


def test_no_boxes_gives_a_warning_and_no_legs():
    a = assign_legs([])
    assert a.legs == {} and "no hip" in a.warnings[0]


def test_an_ankle_just_below_the_knee_is_not_part_of_the_leg():
    """Hip-to-knee films: a box called "ankle" on the proximal tibia at the image edge is far closer to the knee
    than any ankle (typical knee-to-ankle offset 3.35 knee-box sides): the chain leaves it out."""
    hip = Detection("hip", Box(60, 20, 160, 120), 0.9)
    knee = Detection("knee", Box(60, 460, 160, 560), 0.9)
    near = Detection("ankle", Box(60, 560, 160, 640), 0.6)  # 90 px below the knee centre: < 0.35 × 335
    far = Detection("ankle", Box(60, 780, 160, 880), 0.4)  # 320 px below: a real ankle, even if weaker
    assert "ankle" not in best_chain([hip, knee, near])
    chain = best_chain([hip, knee, near, far])
    assert chain["ankle"] is far


def test_a_knee_also_boxed_as_ankle_below_the_diaphysis_stays_the_knee():
    """Hip-to-knee films: the knee at the bottom edge is boxed twice, as knee and (more confidently) as ankle,
    right where the knee belongs. Skipping the knee, the "ankle" is too close to the diaphysis (< 0.6 of the
    typical diaphysis-ankle offset): the chain keeps the knee."""
    hip = Detection("hip", Box(60, 20, 160, 120), 0.95)
    dia = Detection("diaphysis", Box(70, 150, 150, 390), 0.95)  # larger side 240: ankle expected 630 px below
    knee = Detection("knee", Box(60, 480, 160, 580), 0.7)  # 260 px below the diaphysis centre (1.08 × 240)
    as_ankle = Detection("ankle", Box(58, 478, 162, 585), 0.85)
    chain = best_chain([hip, dia, knee, as_ankle])
    assert chain.get("knee") is knee and "ankle" not in chain
    # a real ankle where it belongs is still kept after a missing knee
    ankle = Detection("ankle", Box(60, 850, 160, 930), 0.8)
    chain = best_chain([hip, dia, ankle])
    assert chain.get("ankle") is ankle


def test_a_lone_weak_box_beside_a_leg_does_not_make_a_second_leg():
    """A one-leg film with a stray knee box at its edge (a ruler, the other leg cut at the midline): the stray box
    would make a midline and the leg the patient's right by position; its anatomy (the fibula) says left."""
    leg = leg_boxes(150)
    stray = Detection("knee", Box(300, 300, 380, 400), 0.7)
    cues = lambda chain: {"fibula": (-2.0, "fibula +x of the tibia")} if len(chain) > 1 else {}  # noqa: E731
    a = assign_legs(leg + [stray], side_cues=cues)
    assert list(a.legs) == ["left"] and a.single_leg and len(a.legs["left"]) == 4
    assert a.side_evidence["left"].decided_by == "anatomy"
    assert any("lone knee box" in w for w in a.warnings)
    # a confident box, or anatomy that agrees with the position, keeps two legs
    a = assign_legs(leg + [Detection("knee", Box(300, 300, 380, 400), 0.95)], side_cues=cues)
    assert sorted(a.legs) == ["left", "right"]
    a = assign_legs(leg + [stray], side_cues=lambda chain: {"fibula": (2.0, "")})
    assert sorted(a.legs) == ["left", "right"] and not a.single_leg


def _hip_to_knee_film(left_knee_as: str) -> list[Detection]:
    """Boxes of a generated hip-to-knee view (synth-9006-000000 cut 80 mm below the knees)."""
    return [Detection("hip", Box(174, 292, 513, 658), 0.98), Detection("diaphysis", Box(160, 766, 434, 1578), 0.99),
            Detection("knee", Box(275, 1828, 604, 2142), 0.79),
            Detection("hip", Box(870, 300, 1205, 654), 0.99), Detection("diaphysis", Box(938, 748, 1207, 1552), 0.98),
            Detection(left_knee_as, Box(920, 1826, 1250, 2068), 0.84)]


def test_an_ankle_box_right_below_the_diaphysis_is_taken_for_the_knee_and_flagged():
    out = assign_legs(_hip_to_knee_film("ankle"), image_width_px=1400, image_height_px=2246)
    left = out.legs["left"]
    assert set(left) == {"hip", "diaphysis", "knee"}
    assert left["knee"].relabelled_from == "ankle" and left["knee"].score < 0.84
    assert out.legs["right"]["knee"].relabelled_from == ""
    assert any("left leg: the box detected as ankle" in w and "taken for the knee" in w for w in out.warnings)
    assert not any("discarded as out of anatomical order" in w for w in out.warnings)
    assert out.absent["left"]["ankle"] == "not in the image"


def test_a_knee_box_and_an_ankle_in_its_place_give_no_alias():
    dets = _hip_to_knee_film("knee") + [Detection("ankle", Box(925, 1830, 1245, 2070), 0.6)]
    out = assign_legs(dets, image_width_px=1400, image_height_px=2246)
    assert out.legs["left"]["knee"].relabelled_from == "" and out.legs["left"]["knee"].score == 0.84
    assert not any("taken for the knee" in w for w in out.warnings)


def test_an_ankle_at_the_ankles_place_stays_an_ankle():
    # a whole leg whose knee was missed: the ankle lies 2.6 diaphysis lengths below, not where the knee is
    dets = [Detection("hip", Box(174, 292, 513, 658), 0.98), Detection("diaphysis", Box(160, 766, 434, 1578), 0.99),
            Detection("ankle", Box(260, 3150, 520, 3400), 0.9)]
    assert knee_aliases(dets, 3600) == dets
    out = assign_legs(dets, image_width_px=700, image_height_px=3600)
    assert set(out.legs[next(iter(out.legs))]) == {"hip", "diaphysis", "ankle"}


def test_no_knee_alias_when_a_foot_lies_below_the_box():
    # the v1 one-leg export where an over-long diaphysis box put the true ankle in the knee's place: the
    # film goes on 3.5 box heights below that "ankle", so it is the ankle
    dets = [Detection("hip", Box(15, 223, 72, 309), 0.78), Detection("diaphysis", Box(16, 317, 79, 558), 0.92),
            Detection("ankle", Box(25, 619, 94, 669), 0.73)]
    assert knee_aliases(dets, 1024) == dets and knee_aliases(dets, None) == dets
    assert len(knee_aliases(dets, 700)) == 4  # the same boxes on a film cut just below them: a knee candidate
