"""The expected-error strategy (calibrated metric intervals) and the diversified queue."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from llm_viewer.pipeline.active import (
    NO_LEG_SCORE,
    STRATEGIES,
    ImageEvidence,
    diverse_order,
    expected_error_deg,
    get_strategy,
    image_descriptor,
)
from llm_viewer.pipeline.active.expected import MISSING_METRIC_DEG
from llm_viewer.pipeline.calibration import UncertaintyReport
from llm_viewer.pipeline.engine import AnalysisResult, LandmarkPrediction, LegPrediction

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "spec" / "alignment_examples.json"


def _points():
    case = json.loads(EXAMPLES.read_text())["cases"][0]
    return {lm: tuple(xy) for lm, xy in case["legs"]["right"]["landmarks"].items()}


def _result(radius_px: float = 4.0, *, drop=(), absent=None, ood=False, size=(128, 1024), radii=None):
    lms = {lm: LandmarkPrediction(x, y, 0.9, 2.0, None, radius90_px=(radii or {}).get(lm, radius_px))
           for lm, (x, y) in _points().items() if lm not in drop}
    leg = LegPrediction("right", lms, [], absent_regions=dict(absent or {}))
    res = AnalysisResult({"right": leg}, [], [], {}, "fake", "cpu", image_size_px=size)
    res.uncertainty = UncertaintyReport(True, 0.9, "", 2.0 if ood else 0.5, ood, [], {})
    return res


def _score(res, spacing=(0.5, 0.5)):
    return expected_error_deg(ImageEvidence(res, None, spacing, "k", final=res))


def test_registered_and_needs_no_test_time_views():
    assert "expected-error" in STRATEGIES
    s = get_strategy("expected-error")
    assert s.needs_tta is False and s.score(ImageEvidence(_result(), None, (0.5, 0.5))) > 0


def test_score_grows_with_the_radii_and_with_the_pixel_size():
    small, large = _score(_result(2.0)), _score(_result(8.0))
    assert 0 < small < large and large == pytest.approx(4 * small, rel=1e-6)  # intervals are linear in the radii
    assert _score(_result(2.0), spacing=(1.0, 1.0)) > small  # same px radius, coarser pixels: larger mm error


def test_a_point_that_moves_hka_most_weighs_most():
    base = _score(_result(2.0))
    knee = _score(_result(2.0, radii={"knee_center": 20.0}))
    toe_side = _score(_result(2.0, radii={"femoral_condyle_lateral": 20.0}))
    assert knee > base and toe_side > base


def test_not_detected_region_counts_the_missing_penalty_but_a_region_beyond_the_edge_does_not():
    ankle = ("ankle_center", "malleolus_medial", "malleolus_lateral")
    missed = _score(_result(2.0, drop=ankle, absent={"ankle": "not detected"}, size=(100, 1200)))
    cut = _score(_result(2.0, drop=ankle, absent={"ankle": "not in the image"}, size=(100, 1200)))
    full = _score(_result(2.0, size=(100, 1200)))
    assert missed > MISSING_METRIC_DEG / 2 > cut
    assert cut < 2 * full + 1.0


def test_a_wide_image_with_one_leg_expects_the_other():
    one_leg_crop = _score(_result(2.0, size=(128, 1024)))
    bilateral_with_one = _score(_result(2.0, size=(600, 1200)))
    assert bilateral_with_one == pytest.approx((one_leg_crop + MISSING_METRIC_DEG) / 2)


def test_no_leg_ranks_first_and_ood_acts_through_the_radii_only():
    assert _score(_result(2.0, ood=True)) == pytest.approx(_score(_result(2.0)))
    assert _score(_result(6.0, ood=True)) > _score(_result(2.0))
    empty = AnalysisResult({}, [], [], {}, "fake", "cpu")
    assert _score(empty) == NO_LEG_SCORE


def test_diverse_order_pushes_duplicates_down():
    rng = np.random.default_rng(0)
    imgs = [rng.uniform(0, 1, (96, 32)).astype(np.float32) for _ in range(3)]
    desc = [image_descriptor(imgs[0], ["right"])] * 3 + [image_descriptor(imgs[1], ["right"]),
                                                         image_descriptor(imgs[2], ["right", "left"])]
    scores = [10.0, 9.9, 9.8, 6.0, 5.0]
    assert diverse_order(scores, desc, lam=0.0) == [0, 1, 2, 3, 4]
    order = diverse_order(scores, desc, lam=0.9)
    assert order[0] == 0 and set(order[1:3]) == {3, 4} and sorted(order) == [0, 1, 2, 3, 4]
    assert diverse_order(scores, desc, lam=0.9, top=1)[:1] == [0]
    with pytest.raises(ValueError, match="between 0 and 1"):
        diverse_order(scores, desc, lam=1.5)
    with pytest.raises(ValueError, match="descriptors"):
        diverse_order(scores, desc[:2])


def test_descriptor_nearly_equal_for_a_re_export_and_far_for_another_study():
    rng = np.random.default_rng(1)
    a = cv2.GaussianBlur(rng.uniform(0, 1, (600, 200)).astype(np.float32), (0, 0), 8)
    b = cv2.GaussianBlur(rng.uniform(0, 1, (600, 200)).astype(np.float32), (0, 0), 8)
    a_small = cv2.resize(a, (100, 300), interpolation=cv2.INTER_AREA) * 0.9 + 0.05
    da, db, ds = image_descriptor(a, ["right"]), image_descriptor(b, ["right"]), image_descriptor(a_small, ["right"])
    assert ((da - ds) ** 2).sum() < 0.01 < ((da - db) ** 2).sum()


def test_rank_command_diversity_option(tmp_path, capsys):
    from llm_viewer.cli import main

    rc = main(["rank", str(tmp_path), "--diversity", "2", "--quiet"])
    assert rc != 0 and "--diversity" in capsys.readouterr().err
