"""The Jacobian of the angles with respect to the landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from llm_viewer.core.metrics import compute_leg_metrics
from llm_viewer.core.sensitivity import metric_sensitivity


@pytest.fixture()
def right_leg(alignment_examples):
    case = alignment_examples[0]
    return case["legs"]["right"]["landmarks"], tuple(case["pixel_spacing_mm"])


def test_gradient_predicts_small_moves(right_leg):
    lms, spacing = right_leg
    sens = metric_sensitivity(lms, "right", spacing)
    base = compute_leg_metrics(lms, "right", spacing).as_dict()
    rng = np.random.default_rng(0)
    for lm in lms:
        d_mm = rng.normal(size=2) * 0.2
        moved = dict(lms)
        moved[lm] = [lms[lm][0] + d_mm[0] / spacing[1], lms[lm][1] + d_mm[1] / spacing[0]]
        new = compute_leg_metrics(moved, "right", spacing).as_dict()
        for metric in ("hka_deg", "mldfa_deg", "mmpta_deg", "fva_deg", "mad_mm"):
            gx, gy = sens.gradient[metric][lm]
            assert new[metric] - base[metric] == pytest.approx(gx * d_mm[0] + gy * d_mm[1], abs=2e-3)


def test_structure_of_dependencies(right_leg):
    lms, spacing = right_leg
    s = metric_sensitivity(lms, "right", spacing).as_dict()
    # HKA depends on H, K and the malleoli, never on the joint-line ends or the diaphysis.
    assert s["hka_deg"]["diaphysis_center"] == pytest.approx(0, abs=1e-9)
    assert s["hka_deg"]["femoral_condyle_lateral"] == pytest.approx(0, abs=1e-9)
    assert s["hka_deg"]["knee_center"] > 0.05
    assert s["fva_deg"]["diaphysis_center"] > 0
    assert s["mldfa_deg"]["malleolus_medial"] == pytest.approx(0, abs=1e-9)
    # A short joint line makes its ends matter far more than the distant femoral head.
    assert s["mldfa_deg"]["femoral_condyle_medial"] > 5 * s["mldfa_deg"]["femoral_head"]


def test_unknown_spacing_has_no_mad(right_leg):
    lms, _ = right_leg
    s = metric_sensitivity(lms, "right", None).as_dict()
    assert "mad_mm" not in s and "hka_deg" in s


def test_most_sensitive_point_is_the_largest_gradient_and_partial_legs_give_what_they_allow(right_leg):
    from llm_viewer.core.sensitivity import most_sensitive_points

    lms, spacing = right_leg
    top = most_sensitive_points(lms, "right", spacing)
    full = metric_sensitivity(lms, "right", spacing).as_dict()
    assert set(top) == {"hka_deg", "mldfa_deg", "mmpta_deg"}
    for metric, ms in top.items():
        assert ms.per_mm == max(full[metric].values()) and not ms.per_px
    # mMPTA is set by the plateau points and the ankle: the femoral head never moves it
    assert top["mmpta_deg"].landmark != "femoral_head"
    no_ankle = {k: v for k, v in lms.items() if not k.startswith("malleolus")}
    part = most_sensitive_points(no_ankle, "right", spacing)
    assert "mldfa_deg" in part and "hka_deg" not in part and "mmpta_deg" not in part
    assert most_sensitive_points(lms, "right", None)["hka_deg"].per_px
