"""Engine paths with tiny random-weight models: legs, missing regions, odd inputs, progress, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from llm_viewer.core.landmarks import LANDMARK_IDS, REGION_LANDMARKS, REGIONS
from llm_viewer.pipeline.engine import AnalysisCancelled, InferenceEngine, resolve_device

from .conftest import leg_boxes, tiny_config, two_leg_boxes


def _check_leg(leg, expected_ids, w, h):
    assert set(leg.landmarks) == set(expected_ids)
    for p in leg.landmarks.values():
        assert np.isfinite([p.x_px, p.y_px, p.score, p.uncertainty_px]).all()
        assert p.uncertainty_px >= 0 and 0 <= p.score <= 1
        assert -w < p.x_px < 2 * w and -h < p.y_px < 2 * h


def test_two_legs_give_eighteen_landmarks_with_rois_and_timings(tiny_engine, leg_image):
    res = tiny_engine.analyze(leg_image, detections=two_leg_boxes())
    assert set(res.legs) == {"right", "left"}
    for leg in res.legs.values():
        _check_leg(leg, LANDMARK_IDS, 300, 600)
        assert leg.missing_regions == []
    assert len(res.rois) == 8 and {r.side for r in res.rois} == {"right", "left"}
    assert {"normalize", "detect", "assign", "hip", "diaphysis", "knee", "ankle", "total"} <= set(res.timings_s)
    assert res.device == "cpu" and res.model_id == "tiny-random-0"
    # the SGR trust measure: seg peak is reported and differs from the regressed point for random weights
    p = res.legs["right"].landmarks["knee_center"]
    assert p.seg_peak_xy_px is not None
    d = np.hypot(p.x_px - p.seg_peak_xy_px[0], p.y_px - p.seg_peak_xy_px[1])
    assert p.uncertainty_px >= d - 1e-6


def test_left_leg_crops_are_mirrored_so_mirror_images_give_mirrored_landmarks(tiny_engine, leg_image):
    """A leg and its mirror image (analysed as the other side) give mirrored points: crops are canonical."""
    img = leg_image.copy()
    res_r = tiny_engine.analyze(img, detections=leg_boxes(80, dx_per_region=-6))
    assert list(res_r.legs) == ["right"]
    mirrored = img[:, ::-1].copy()
    res_l = tiny_engine.analyze(mirrored, detections=[
        type(d)(d.region, type(d.box)(299 - d.box.x1, d.box.y0, 299 - d.box.x0, d.box.y1), d.score)
        for d in leg_boxes(80, dx_per_region=-6)])
    assert list(res_l.legs) == ["left"]
    for lm, p in res_r.legs["right"].landmarks.items():
        q = res_l.legs["left"].landmarks[lm]
        assert abs((299 - q.x_px) - p.x_px) < 0.05 and abs(q.y_px - p.y_px) < 0.05


def test_missing_region_is_named_and_the_rest_is_analysed(tiny_engine, leg_image):
    dets = leg_boxes(80) + leg_boxes(220, regions=("hip", "diaphysis", "ankle"))
    res = tiny_engine.analyze(leg_image, detections=dets)
    assert res.legs["left"].missing_regions == ["knee"]
    _check_leg(res.legs["left"], [lm for lm in LANDMARK_IDS if lm not in REGION_LANDMARKS["knee"]], 300, 600)
    _check_leg(res.legs["right"], LANDMARK_IDS, 300, 600)
    assert any("left leg: knee" in w for w in res.warnings)


def test_landmarks_from_a_split_box_are_flagged(tiny_engine, leg_image):
    from llm_viewer.pipeline.crop import Box
    from llm_viewer.pipeline.legs import Detection

    dets = leg_boxes(80, regions=REGIONS[:3]) + leg_boxes(220, regions=REGIONS[:3])
    dets.append(Detection("ankle", Box(60, 440, 240, 540), 0.9))  # one box over both ankles
    res = tiny_engine.analyze(leg_image, detections=dets)
    assert sorted(res.review_regions) == [("left", "ankle"), ("right", "ankle")]
    for side in ("right", "left"):
        lms = res.legs[side].landmarks
        assert all(lms[k].flagged for k in REGION_LANDMARKS["ankle"])
        assert res.legs[side].missing_regions == []
    assert any("split into one box per leg" in w for w in res.warnings)


def test_empty_image_gives_no_legs_and_a_warning(tiny_engine):
    res = tiny_engine.analyze(np.zeros((500, 200), np.float32))
    assert res.legs == {} and any("empty" in w for w in res.warnings)
    res = tiny_engine.analyze(np.full((500, 200), np.nan, np.float32))
    assert res.legs == {} and any("empty" in w for w in res.warnings)
    res = tiny_engine.analyze(np.zeros((10, 10), np.float32))
    assert res.legs == {} and any("too small" in w for w in res.warnings)


def test_huge_image_runs_through_detector_and_crops(tiny_engine):
    img = np.zeros((9000, 3000), np.float32)
    img[:, 600:900] = 1000.0
    img[:, 2100:2400] = 1000.0
    res = tiny_engine.analyze(img)  # tiny random detector: must not crash whatever it finds
    assert res.image_size_px == (3000, 9000) and "detect" in res.timings_s
    dets = leg_boxes(750, top=200, step=2100, half_w=500) + leg_boxes(2250, top=200, step=2100, half_w=500)
    res = tiny_engine.analyze(img, detections=dets)
    assert set(res.legs) == {"right", "left"}
    for leg in res.legs.values():  # random weights may or may not segment a diaphysis
        _check_leg(leg, [lm for lm in LANDMARK_IDS if lm != "diaphysis_center" or lm in leg.landmarks], 3000, 9000)
        assert len(leg.landmarks) >= 8


@pytest.mark.parametrize("make", [
    lambda rng: rng.uniform(0, 255, (400, 600, 3)).astype(np.uint8),  # RGB photo-like, landscape
    lambda rng: rng.normal(0, 1, (700, 300)).astype(np.float32),       # noise
    lambda rng: rng.normal(0, 1, (4, 40, 40)).astype(np.float32),      # not an image
])
def test_non_radiographs_do_not_crash_and_warn(tiny_engine, make):
    res = tiny_engine.analyze(make(np.random.default_rng(0)))
    assert res.warnings, "a non-radiograph must produce a warning"
    for leg in res.legs.values():
        _check_leg(leg, leg.landmarks, 600, 700)


def test_progress_is_monotonic_and_ends_at_one(tiny_engine, leg_image):
    seen = []
    tiny_engine.analyze(leg_image, detections=two_leg_boxes(), progress=lambda f, m: seen.append((f, m)))
    fr = [f for f, _ in seen]
    assert fr == sorted(fr) and fr[-1] == 1.0 and fr[0] == 0.0 and len(fr) >= 6
    assert all(isinstance(m, str) and m for _, m in seen)


def test_cancel_raises(tiny_engine, leg_image):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(AnalysisCancelled):
        tiny_engine.analyze(leg_image, detections=two_leg_boxes(), cancel=cancel)
    with pytest.raises(AnalysisCancelled):
        tiny_engine.analyze(leg_image, cancel=lambda: True)


@pytest.mark.parametrize("method", ["segmentation", "regression"])
def test_ablation_variants_work_behind_the_same_interface(method, leg_image):
    eng = InferenceEngine.from_config(tiny_config(method=method), device="cpu", seed=1)
    res = eng.analyze(leg_image, detections=two_leg_boxes())
    for leg in res.legs.values():
        _check_leg(leg, [lm for lm in LANDMARK_IDS if lm != "diaphysis_center" or
                         "diaphysis_center" in leg.landmarks], 300, 600)
        assert len(leg.landmarks) >= 8
    p = res.legs["right"].landmarks["knee_center"]
    assert (p.seg_peak_xy_px is None) == (method == "regression")
    if method == "regression":  # TTA spread is its uncertainty
        assert p.uncertainty_px > 0


def test_tta_adds_spread(leg_image):
    eng = InferenceEngine.from_config(tiny_config(), device="cpu", seed=0)
    plain = eng.analyze(leg_image, detections=two_leg_boxes())
    eng.tta = True
    tta = eng.analyze(leg_image, detections=two_leg_boxes())
    a = plain.legs["right"].landmarks["femoral_head"]
    b = tta.legs["right"].landmarks["femoral_head"]
    assert abs(a.x_px - b.x_px) < 1e-3 and abs(a.y_px - b.y_px) < 1e-3  # TTA adds spread, not a new point
    assert b.uncertainty_px > a.uncertainty_px


def test_device_resolution():
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="unknown device|unsupported device"):
        resolve_device("tpu")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_the_landmark_stage_reuses_the_side_cues_model_passes(tiny_engine, leg_image):
    calls = []
    real = tiny_engine._forward

    def counting(region, batch, in_ch):
        calls.append((region, len(batch)))
        return real(region, batch, in_ch)

    tiny_engine._forward = counting
    try:
        reused = tiny_engine.analyze(leg_image, detections=two_leg_boxes(), refine=False)
        side_calls = [c for c in calls if c[1] == 2 and c[0] in ("knee", "ankle")]
        stage_calls = [c for c in calls if c[0] in ("knee", "ankle") and c not in side_calls]
        calls.clear()
        plain = tiny_engine.analyze(leg_image, detections=two_leg_boxes(), refine=False, side_cues=False)
    finally:
        del tiny_engine._forward
    # the mirror cue ran knee and ankle on a plain + mirrored crop of each leg; the landmark stage ran neither again
    assert len(side_calls) == 4 and stage_calls == []
    assert 0 < reused.timings_s["side_cue_models"] <= reused.timings_s["assign"]
    assert plain.timings_s["side_cue_models"] == 0.0
    assert {c[0] for c in calls} >= {"knee", "ankle"}  # without side cues the landmark stage runs the models
    for side in ("right", "left"):
        for lm in ("knee_center", "malleolus_medial"):
            a, b = reused.legs[side].landmarks[lm], plain.legs[side].landmarks[lm]
            assert (a.x_px, a.y_px) == pytest.approx((b.x_px, b.y_px), abs=1e-3)
