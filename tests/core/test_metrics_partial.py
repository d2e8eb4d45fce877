"""Metrics from the landmarks that are there: each metric needs exactly its own landmarks.

The dependency table below is written out by hand from the definitions in docs/ALIGNMENT.md, on purpose
not imported from the code, so that a wrong table in ``llm_viewer.core.metrics`` fails here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_viewer.core.landmarks import LANDMARK_IDS, Point
from llm_viewer.core.measurement import measure_document
from llm_viewer.core.metrics import (
    METRIC_KEYS,
    METRIC_LANDMARKS,
    NO_SPACING_REASON,
    PARALLEL_WBL_REASON,
    GeometryError,
    LegMetrics,
    compute_leg_metrics,
    compute_study_metrics,
    unmeasured_text,
)
from llm_viewer.core.overlay import angle_labels

H, D, K = "femoral_head", "diaphysis_center", "knee_center"
CL, CM = "femoral_condyle_lateral", "femoral_condyle_medial"
PL, PM = "tibial_plateau_lateral", "tibial_plateau_medial"
ML, MM = "malleolus_lateral", "malleolus_medial"

# A = (ML + MM) / 2, so "A" means both malleoli.
NEEDS: dict[str, set[str]] = {
    "hka_deg": {H, K, ML, MM},                           # angle(K - H, A - K), signed by MAD (H, K, A)
    "mldfa_deg": {H, K, CL, CM},                         # angle(H - K, CL - CM)
    "mmpta_deg": {K, ML, MM, PL, PM},                    # angle(A - K, PM - PL)
    "mldta_deg": {K, ML, MM},                            # angle(K - A, ML - MM)
    "fva_deg": {H, D, K},                                # angle(H - K, D - K)
    "jlca_deg": {H, K, ML, MM, CL, CM, PL, PM},          # from hka, mldfa, mmpta
    "ahka_deg": {H, K, CL, CM, ML, MM, PL, PM},          # mmpta - mldfa
    "jlo_deg": {H, K, CL, CM, ML, MM, PL, PM},           # mmpta + mldfa
    "cpak_type": {H, K, CL, CM, ML, MM, PL, PM},         # from ahka, jlo
    "alignment": {H, K, ML, MM},                         # from hka
    "wbl_ratio_pct": {H, ML, MM, PL, PM},                # line H -> A against PM -> PL
    "mad_mm": {H, K, ML, MM},                            # K to the line H -> A
    "femur_length_mm": {H, K},
    "tibia_length_mm": {K, ML, MM},
    "leg_length_mm": {H, ML, MM},
}
NUMERIC = [k for k in METRIC_KEYS if k not in ("cpak_type", "alignment")]
EXTRA = Path(__file__).resolve().parents[2] / "docs" / "alignment_examples_partial.json"


@pytest.fixture(scope="module")
def full_leg(alignment_examples):
    case = alignment_examples[0]
    return case["legs"]["right"]["landmarks"], tuple(case["pixel_spacing_mm"])


def test_dependency_table_matches_the_definitions():
    assert set(NEEDS) == set(METRIC_KEYS)
    assert {k: set(v) for k, v in METRIC_LANDMARKS.items()} == NEEDS
    # every landmark is needed by something, so removing any one must cost at least one metric
    assert set().union(*NEEDS.values()) == set(LANDMARK_IDS)


def _check_exactly_dependents_null(full: LegMetrics, part: LegMetrics, removed: set[str]) -> None:
    want_null = {k for k, deps in NEEDS.items() if deps & removed}
    got, ref = part.as_dict(), full.as_dict()
    assert {k for k, v in got.items() if v is None} == want_null, removed
    assert part.unmeasured_dict() == {k: sorted(NEEDS[k] & removed) for k in METRIC_KEYS if k in want_null}
    for k in METRIC_KEYS:
        if k in want_null:
            assert part.reason(k) == "needs " + ", ".join(sorted(NEEDS[k] & removed)), k
        elif k in NUMERIC:
            assert got[k] == pytest.approx(ref[k], abs=1e-9), k  # the same number as from the full leg
            assert part.reason(k) is None
        else:
            assert got[k] == ref[k], k


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("removed", LANDMARK_IDS)
def test_removing_one_landmark_nulls_exactly_its_dependents(full_leg, alignment_examples, side, removed):
    lms = alignment_examples[0]["legs"][side]["landmarks"]
    spacing = full_leg[1]
    full = compute_leg_metrics(lms, side, spacing)
    assert full.complete and all(v is not None for v in full.as_dict().values())
    part = compute_leg_metrics({k: v for k, v in lms.items() if k != removed}, side, spacing)
    _check_exactly_dependents_null(full, part, {removed})


@settings(max_examples=300, deadline=None)
@given(st.sets(st.sampled_from(LANDMARK_IDS), max_size=len(LANDMARK_IDS) - 1), st.sampled_from([0, 1, 2]),
       st.sampled_from(["right", "left"]))
def test_removing_any_set_nulls_exactly_the_union_of_dependents(alignment_examples, removed, case_no, side):
    case = alignment_examples[case_no]
    lms, spacing = case["legs"][side]["landmarks"], case["pixel_spacing_mm"]
    full = compute_leg_metrics(lms, side, spacing)
    part = compute_leg_metrics({k: v for k, v in lms.items() if k not in removed}, side, spacing)
    _check_exactly_dependents_null(full, part, set(removed))


def test_none_value_counts_as_missing(full_leg):
    lms, spacing = full_leg
    part = compute_leg_metrics(dict(lms, diaphysis_center=None), "right", spacing)
    assert part.fva_deg is None and part.unmeasured == {"fva_deg": (D,)}


def test_only_hka_inputs_still_give_hka_and_its_class(full_leg):
    lms, spacing = full_leg
    m = compute_leg_metrics({k: lms[k] for k in (H, K, ML, MM)}, "right", spacing)
    full = compute_leg_metrics(lms, "right", spacing)
    assert m.hka_deg == pytest.approx(full.hka_deg, abs=1e-12) and m.alignment == full.alignment == "valgus"
    assert m.cpak_type is None and m.reason("cpak_type") == f"needs {CL}, {CM}, {PL}, {PM}"


def test_cpak_needs_only_the_joint_lines_and_axes(full_leg):
    lms, spacing = full_leg
    m = compute_leg_metrics({k: v for k, v in lms.items() if k != D}, "right", spacing)
    assert m.cpak_type == 3 and m.ahka_deg is not None and m.jlo_deg is not None and m.alignment == "valgus"


def test_unknown_spacing_reason_and_not_unmeasured(full_leg):
    lms, _ = full_leg
    m = compute_leg_metrics({k: v for k, v in lms.items() if k != D}, "right", None)
    assert not m.spacing_known
    assert m.mad_mm is None and m.reason("mad_mm") == NO_SPACING_REASON
    assert m.unmeasured == {"fva_deg": (D,)}  # spacing is not a landmark: only fva is listed
    m2 = compute_leg_metrics({k: v for k, v in lms.items() if k != H}, "right", None)
    assert m2.reason("femur_length_mm") == f"needs {H}"  # a lacking landmark is named even without spacing


def test_parallel_weight_bearing_line_reason():
    pts = {H: [0.0, 0.0], K: [5.0, 400.0], ML: [-20.0, 800.0], MM: [20.0, 800.0],
           PL: [0.0, 380.0], PM: [0.0, 420.0]}  # plateau line vertical, parallel to H -> A
    m = compute_leg_metrics(pts, "right", (1.0, 1.0))
    assert m.wbl_ratio_pct is None and "wbl_ratio_pct" not in m.unmeasured
    assert m.reason("wbl_ratio_pct") == PARALLEL_WBL_REASON


def test_degenerate_line_of_present_landmarks_still_raises(full_leg):
    lms, spacing = full_leg
    pts = {k: v for k, v in lms.items() if k != H}
    pts[D] = list(pts[K])
    with pytest.raises(GeometryError, match="anatomical femoral axis"):
        compute_leg_metrics(pts, "right", spacing)
    # an absent end point means no line, not a degenerate one
    assert compute_leg_metrics({K: lms[K], CL: lms[K]}, "right", spacing).unmeasured


# ------------------------------------------------------------------------------------------ study level
def _legs(alignment_examples, keep: dict[str, set[str]], spacing=(0.143, 0.143)):
    case = alignment_examples[0]
    return {s: compute_leg_metrics({k: v for k, v in case["legs"][s]["landmarks"].items() if k in keep[s]}, s,
                                   spacing) for s in keep}


def test_lld_from_leg_lengths_of_incomplete_legs(alignment_examples):
    want = alignment_examples[0]["expected"]["study"]["lld_mm"]
    lengths_only = {H, ML, MM}
    study = compute_study_metrics(_legs(alignment_examples, {"right": lengths_only, "left": lengths_only}))
    assert study.lld_mm == pytest.approx(want, abs=1e-3) and study.unmeasured == {} and study.reason() is None


def test_lld_reasons(alignment_examples):
    one = compute_study_metrics(_legs(alignment_examples, {"right": set(LANDMARK_IDS)}))
    assert one.lld_mm is None and one.unmeasured == {"lld_mm": ("left.leg_length_mm",)}
    assert one.reason() == "needs the left leg"
    no_h = compute_study_metrics(_legs(alignment_examples, {"right": set(LANDMARK_IDS),
                                                            "left": set(LANDMARK_IDS) - {H}}))
    assert no_h.reason() == "needs femoral_head of the left leg"
    failed = compute_study_metrics({"right": None, "left": _legs(alignment_examples, {"left": {H, ML, MM}})["left"]})
    assert failed.reason() == "needs a measurable right leg"
    uncal = compute_study_metrics(_legs(alignment_examples, {"right": {H, ML, MM}, "left": {H, ML, MM}}, None))
    assert uncal.lld_mm is None and uncal.unmeasured == {} and uncal.reason() == NO_SPACING_REASON
    assert unmeasured_text({"fva_deg": [D], **one.unmeasured}) == (
        "fva_deg needs diaphysis_center; lld_mm needs left.leg_length_mm")


# ----------------------------------------------------------------------------------- repo-local examples
def test_repo_local_partial_examples_reproduced_and_agree_with_the_full_leg(alignment_examples):
    """docs/alignment_examples_partial.json: every non-null value equals the full case's expected value."""
    doc = json.loads(EXTRA.read_text())
    full = alignment_examples[0]
    assert len(doc["cases"]) >= 5
    for case in doc["cases"]:
        assert case["pixel_spacing_mm"] in (full["pixel_spacing_mm"], None)
        result = measure_document(case).as_dict()
        for side, leg in case["expected"]["legs"].items():
            got = result["legs"][side]
            assert got["unmeasured"] == leg["unmeasured"], (case["about"], side)
            for key, want in leg["metrics"].items():
                ref = full["expected"]["legs"][side]["metrics"][key]
                if want is None:
                    assert got["metrics"][key] is None, (side, key)
                    continue
                assert want == (pytest.approx(ref, abs=1e-3) if isinstance(ref, float) else ref), (side, key)
                assert got["metrics"][key] == (pytest.approx(want, abs=1e-3) if isinstance(want, float) else want)
        assert result["study"]["unmeasured"] == case["expected"]["study"]["unmeasured"]
        want_lld = case["expected"]["study"]["lld_mm"]
        if want_lld is None:
            assert result["study"]["lld_mm"] is None
        else:
            assert result["study"]["lld_mm"] == pytest.approx(want_lld, abs=1e-3)
            assert want_lld == pytest.approx(full["expected"]["study"]["lld_mm"], abs=1e-3)


def test_every_metric_key_needs_something_and_nan_never_leaks(full_leg):
    lms, spacing = full_leg
    for lm in LANDMARK_IDS:
        m = compute_leg_metrics({k: v for k, v in lms.items() if k != lm}, "right", spacing)
        for v in m.as_dict().values():
            assert v is None or isinstance(v, (int, str)) or math.isfinite(v)


@pytest.mark.parametrize("removed", LANDMARK_IDS)
def test_angle_labels_only_for_computed_metrics(full_leg, removed):
    lms, spacing = full_leg
    pts = {k: Point(*v) for k, v in lms.items() if k != removed}
    m = compute_leg_metrics(pts, "right", spacing)
    labels = angle_labels(pts, "right", m)
    label_keys = {"hka_deg", "mldfa_deg", "mmpta_deg", "fva_deg", "mldta_deg", "mad_mm"}
    assert {lab.key for lab in labels} == {k for k in label_keys if m.as_dict()[k] is not None}
