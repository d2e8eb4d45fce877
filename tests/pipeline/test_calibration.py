"""Conformal landmark radii and the OOD flag (llm_viewer.pipeline.calibration), on tiny CPU models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from llm_viewer.core.landmarks import LANDMARK_IDS
from llm_viewer.pipeline.calibration import (
    CALIBRATION_JSON,
    Calibration,
    ModeCalibration,
    conformal_quantile,
    intensity_histogram,
    load_calibration,
)
from llm_viewer.pipeline.config import BundleError
from llm_viewer.pipeline.crop import normalize_intensity

from .conftest import tiny_config, two_leg_boxes


def test_conformal_quantile_gives_the_stated_coverage():
    rng = np.random.default_rng(0)
    covered = []
    for _ in range(200):
        cal = rng.exponential(size=50)
        q = conformal_quantile(cal, 0.9)
        covered.append(np.mean(rng.exponential(size=500) <= q))
    # Marginal coverage of split conformal: in [0.9, 0.9 + 1/(n+1)] on average.
    assert 0.89 <= float(np.mean(covered)) <= 0.9 + 1 / 51 + 0.01


def test_conformal_quantile_rank_and_small_samples():
    assert conformal_quantile(range(1, 10), 0.9) == 9  # ceil(10 * 0.9) = 9th of 9
    assert conformal_quantile(range(1, 20), 0.9) == 18  # ceil(20 * 0.9) = 18th of 19
    assert math.isinf(conformal_quantile(range(1, 8), 0.9))  # 7 points cannot promise 90 %
    assert math.isinf(conformal_quantile([], 0.9))
    with pytest.raises(ValueError):
        conformal_quantile([1.0], 1.0)


def make_calibration(model_id: str = "tiny-random-0", *, hist: list[float] | None = None,
                     hist_max: float = 0.05) -> Calibration:
    ref = hist if hist is not None else [1.0 / 32] * 32
    return Calibration(
        model_id=model_id, coverage=0.9,
        modes={"plain": ModeCalibration({lm: 2.0 for lm in LANDMARK_IDS}, {lm: 1e6 for lm in LANDMARK_IDS},
                                        {"hka_deg": 0.5}, {lm: 40 for lm in LANDMARK_IDS})},
        reference_hist=ref, hist_max=hist_max, region_reference_hist={}, region_hist_max={},
        flagged_max=1.0, detector_max=1.0)


def test_calibration_json_round_trip(tmp_path):
    cal = make_calibration()
    cal.save(tmp_path)
    loaded, warning = load_calibration(tmp_path, "tiny-random-0")
    assert warning is None and loaded is not None
    assert loaded.to_dict() == cal.to_dict()
    assert load_calibration(tmp_path / "nowhere", "x") == (None, None)
    stale, warning = load_calibration(tmp_path, "another-model")
    assert stale is None and "another-model" in warning and "training.calibrate" in warning


@pytest.mark.parametrize("edit, words", [
    (lambda d: "not json {", "not valid JSON"),
    (lambda d: [1, 2], "JSON object"),
    (lambda d: {**d, "format": "pickle"}, "not a calibration file"),
    (lambda d: {**d, "format_version": 99}, "format_version 99"),
    (lambda d: {**d, "coverage": 1.5}, "coverage"),
    (lambda d: {**d, "model_id": ""}, "model_id"),
    (lambda d: {**d, "modes": {"plain": {**d["modes"]["plain"], "factors": {"kneecap": 1.0}}}}, "kneecap"),
    (lambda d: {**d, "modes": {"plain": {**d["modes"]["plain"], "factors": {"knee_center": -1}}}}, "knee_center"),
    (lambda d: {**d, "modes": {"plain": {**d["modes"]["plain"], "factors": {"knee_center": "big"}}}}, "finite"),
    (lambda d: {**d, "modes": {"fast": {}}}, "modes"),
    (lambda d: {**d, "ood": {**d["ood"], "reference_hist": [1.0] * 5}}, "reference_hist"),
    (lambda d: {**d, "ood": {**d["ood"], "hist_max": float("nan")}}, "hist_max"),
    (lambda d: {**d, "ood": {**d["ood"], "region_hist_max": {"elbow": 1.0}}}, "elbow"),
])
def test_malformed_calibration_is_a_clear_bundle_error(tmp_path, edit, words):
    doc = edit(make_calibration().to_dict())
    (tmp_path / CALIBRATION_JSON).write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    with pytest.raises(BundleError) as err:
        load_calibration(tmp_path, "tiny-random-0")
    assert words in str(err.value) and CALIBRATION_JSON in str(err.value)
    assert "\n" not in str(err.value)


@pytest.fixture()
def engine():
    from llm_viewer.pipeline.engine import InferenceEngine

    return InferenceEngine.from_config(tiny_config(), device="cpu", seed=0)


def test_uncalibrated_engine_says_so_and_keeps_working(engine, leg_image):
    res = engine.analyze(leg_image, detections=two_leg_boxes())
    assert res.legs and res.uncertainty is not None and not res.uncertainty.calibrated
    assert "uncalibrated" in res.uncertainty.message
    assert all(p.radius90_px is None for leg in res.legs.values() for p in leg.landmarks.values())


def test_calibrated_radius_is_factor_times_raw_and_grows_out_of_distribution(engine, leg_image):
    ref = intensity_histogram(normalize_intensity(leg_image, engine.config.intensity)).tolist()
    engine.calibration = make_calibration(hist=ref)
    res = engine.analyze(leg_image, detections=two_leg_boxes())
    assert res.uncertainty.calibrated and not res.uncertainty.ood_flagged
    p = res.legs["right"].landmarks["knee_center"]
    assert p.radius90_px == pytest.approx(2.0 * math.sqrt(p.uncertainty_px ** 2 + 0.25), rel=1e-6)
    assert not p.ood
    # Smooth noise instead of legs (it passes the engine's random-noise check): the intensity histogram is far
    # from the reference, the image is flagged and every radius is inflated by the OOD score.
    noise = smooth_noise(leg_image.shape)
    res_n = engine.analyze(noise, detections=two_leg_boxes())
    assert res_n.uncertainty.ood_flagged and res_n.uncertainty.ood_score > 1
    assert any("outside what the model was trained on" in w for w in res_n.warnings)
    q = res_n.legs["right"].landmarks["knee_center"]
    assert q.ood and q.radius90_px == pytest.approx(
        2.0 * math.sqrt(q.uncertainty_px ** 2 + 0.25) * q.ood_score, rel=1e-6)


def smooth_noise(shape, seed: int = 1) -> np.ndarray:
    import cv2

    raw = np.random.default_rng(seed).uniform(0, 1000, size=shape).astype(np.float32)
    return cv2.GaussianBlur(raw, (0, 0), 6)


def test_ood_fires_when_no_leg_is_found(engine):
    engine.calibration = make_calibration()
    res = engine.analyze(smooth_noise((400, 200), 2), detections=[])
    assert not res.legs and res.uncertainty.ood_flagged and "no leg found" in res.uncertainty.ood_reasons


def test_an_image_the_engine_refuses_is_out_of_distribution(engine):
    for cal in (make_calibration(), None):
        engine.calibration = cal
        res = engine.analyze(np.random.default_rng(3).uniform(0, 1000, size=(400, 200)).astype(np.float32))
        assert not res.legs and res.uncertainty.ood_flagged and res.uncertainty.calibrated is (cal is not None)
        assert "noise" in res.uncertainty.ood_reasons[0]


def test_analyze_document_has_mm_radii_intervals_and_borderline(engine, leg_image):
    from types import SimpleNamespace

    from llm_viewer.commands.analyze import _csv_fields, csv_rows, result_document

    engine.calibration = make_calibration(
        hist=intensity_histogram(normalize_intensity(leg_image, engine.config.intensity)).tolist())
    res = engine.analyze(leg_image, detections=two_leg_boxes())
    image = SimpleNamespace(pixel_spacing_mm=(0.5, 0.5), spacing_source="test", width_px=300, height_px=600)
    doc = result_document("x.png", image, res)
    assert doc["uncertainty"]["calibrated"] and doc["uncertainty"]["ood"]["flagged"] is False
    leg = doc["legs"]["right"]
    for lm, r_px in leg["radius90_px"].items():
        assert leg["radius90_mm"][lm] == pytest.approx(0.5 * r_px)
    assert leg["metrics"]["hka_deg"] is not None
    hka = leg["intervals"]["hka_deg"]
    assert hka["value"] == pytest.approx(leg["metrics"]["hka_deg"])
    assert hka["half_width"] > 0 and "±" in hka["text"]
    assert set(leg["borderline"]) == {"alignment", "cpak_type"}
    row = csv_rows(doc)[0]
    assert row["hka_deg_pm"] == pytest.approx(hka["half_width"]) and set(row) <= set(_csv_fields())


def test_bundled_model_flags_noise_as_out_of_distribution():
    """The demo bundle's own calibration.json: uniform noise (small, so this stays quick) is flagged."""
    from llm_viewer.pipeline.engine import InferenceEngine

    eng = InferenceEngine.from_bundle(None, device="cpu")
    if eng.calibration is None:  # a retrained bundle not calibrated yet: say how to fix it
        pytest.skip(eng.calibration_warning or "the demo bundle has no calibration.json; run training.calibrate")
    for noise in (np.random.default_rng(0).uniform(0, 4095, size=(1536, 512)).astype(np.float32),
                  smooth_noise((1536, 512))):
        res = eng.analyze(noise)
        assert res.uncertainty.calibrated and res.uncertainty.ood_flagged
        assert all(p.ood for leg in res.legs.values() for p in leg.landmarks.values())


def test_no_confident_region_flags_the_image_and_round_trips(tmp_path):
    """A chest film where the detector finds one "knee" at 0.63: flagged by the best-detection part; a leg film
    with one weak region but others clear is not (exports: hip 0.58, knee 0.99)."""
    from dataclasses import replace

    from llm_viewer.pipeline.calibration import ImageFeatures

    cal = replace(make_calibration(), best_detector_max=0.05)
    flat = [1.0 / 32] * 32

    def feats(scores):
        return ImageFeatures(hist=flat, region_hist={}, det_scores=scores, n_legs=1, flagged_frac=0.0, landmarks={})

    score, reasons = cal.image_ood(feats([0.63]))
    assert score > 1.0 and any("no region detected with confidence" in r for r in reasons)
    score, reasons = cal.image_ood(feats([0.58, 0.95, 0.99]))
    assert score <= 1.0 and not reasons
    cal.save(tmp_path)
    loaded, _ = load_calibration(tmp_path, cal.model_id)
    assert loaded.best_detector_max == 0.05
    old = make_calibration()  # files written before the part existed: not scored
    assert old.best_detector_max is None and old.image_ood(feats([0.63]))[0] <= 1.0
