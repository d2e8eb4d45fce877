"""Bundles: safetensors + JSON round trip, mismatch and corruption give clear BundleErrors."""

from __future__ import annotations

import json

import pytest

from llm_viewer.core.landmarks import REGIONS
from llm_viewer.pipeline.bundle import BundleError, default_bundle_path, load_bundle, save_bundle
from llm_viewer.pipeline.engine import InferenceEngine

from .conftest import tiny_config, two_leg_boxes


def _save_tiny(engine, path):
    sds = {"detector": engine.detector.state_dict(), **{r: engine.region_models[r].state_dict() for r in REGIONS}}
    save_bundle(path, engine.config, sds)


def test_round_trip_gives_identical_outputs(tiny_engine, tmp_path, leg_image):
    _save_tiny(tiny_engine, tmp_path / "b")
    bundle = load_bundle(tmp_path / "b")
    assert bundle.config == tiny_engine.config
    assert bundle.model_id.startswith("tiny-0.0-") and len(bundle.fingerprint) == 64
    loaded = InferenceEngine.from_bundle(tmp_path / "b", device="cpu", fold_bn=False)  # bit-identical models
    folded = InferenceEngine.from_bundle(tmp_path / "b", device="cpu")  # the default: batch norms folded
    assert loaded.model_id == bundle.model_id == folded.model_id
    a = tiny_engine.analyze(leg_image, detections=two_leg_boxes())
    b = loaded.analyze(leg_image, detections=two_leg_boxes())
    c = folded.analyze(leg_image, detections=two_leg_boxes())
    for side in ("right", "left"):
        for lm, p in a.legs[side].landmarks.items():
            q = b.legs[side].landmarks[lm]
            assert (p.x_px, p.y_px, p.uncertainty_px) == (q.x_px, q.y_px, q.uncertainty_px)
            r = c.legs[side].landmarks[lm]
            assert abs(r.x_px - p.x_px) < 1e-3 and abs(r.y_px - p.y_px) < 1e-3  # float rounding only
    # the detector weights round-trip too
    assert [d.box for d in tiny_engine.detect(leg_image / 300)] == [d.box for d in loaded.detect(leg_image / 300)]
    assert not list(tmp_path.glob("b/.*"))  # no temp files left


def test_config_that_does_not_fit_the_weights_is_a_clear_error(tiny_engine, tmp_path):
    _save_tiny(tiny_engine, tmp_path / "b")
    doc = json.loads((tmp_path / "b/bundle.json").read_text())
    doc["regions"]["knee"]["base_width"] = 8
    (tmp_path / "b/bundle.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="knee weights do not fit the architecture.*shape mismatch"):
        InferenceEngine.from_bundle(tmp_path / "b", device="cpu")


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.update(format_version=99), "format_version 99 is not supported"),
    (lambda d: d["regions"].pop("ankle"), "no model for region"),
    (lambda d: d["regions"]["hip"].update(method="magic"), "method 'magic' is not valid"),
    (lambda d: d["regions"]["knee"].update(landmark_ids=["femoral_head"]), "do not match the knee landmarks"),
    (lambda d: d["detector"].update(arch="yolo"), "arch 'yolo' is not supported"),
    (lambda d: d["detector"].update(nms_threshold=1.5), "nms_threshold"),
    (lambda d: d.update(extra=1), "unknown key"),
    (lambda d: d["files"]["hip"].update(file="hip.pt"), "pickled checkpoints are never loaded"),
])
def test_invalid_configs_name_the_problem(tiny_engine, tmp_path, edit, message):
    _save_tiny(tiny_engine, tmp_path / "b")
    doc = json.loads((tmp_path / "b/bundle.json").read_text())
    edit(doc)
    (tmp_path / "b/bundle.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match=message):
        load_bundle(tmp_path / "b")


def test_corrupt_or_missing_weights(tiny_engine, tmp_path):
    _save_tiny(tiny_engine, tmp_path / "b")
    f = tmp_path / "b/knee.safetensors"
    f.write_bytes(b"\x00garbage" + f.read_bytes()[9:])
    with pytest.raises(BundleError, match="corrupt or was changed"):
        load_bundle(tmp_path / "b")
    doc = json.loads((tmp_path / "b/bundle.json").read_text())
    del doc["files"]["knee"]["sha256"]
    (tmp_path / "b/bundle.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="not a valid safetensors file"):
        load_bundle(tmp_path / "b")
    f.unlink()
    with pytest.raises(BundleError, match="knee.safetensors of 'knee' is missing"):
        load_bundle(tmp_path / "b")


def test_missing_or_broken_bundle_folder(tmp_path):
    with pytest.raises(BundleError, match="no model bundle at"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(tmp_path)
    assert default_bundle_path().parts[-3:] == ("resources", "models", "demo")


def test_an_optional_content_detector_is_saved_loaded_and_part_of_the_model_id(tiny_engine, tmp_path):
    from llm_viewer.pipeline.models import build_detector

    _save_tiny(tiny_engine, tmp_path / "plain")
    second = build_detector(tiny_engine.config.detector)
    sds = {"detector": tiny_engine.detector.state_dict(), "detector_content": second.state_dict(),
           **{r: tiny_engine.region_models[r].state_dict() for r in REGIONS}}
    save_bundle(tmp_path / "b", tiny_engine.config, sds)
    bundle = load_bundle(tmp_path / "b")
    assert set(bundle.files) == {"detector", "detector_content", *REGIONS}
    assert bundle.model_id != load_bundle(tmp_path / "plain").model_id  # other weights, other results
    engine = InferenceEngine.from_bundle(tmp_path / "b", device="cpu", fold_bn=False)
    assert engine.content_detector is not None
    for k, v in second.state_dict().items():
        assert (engine.content_detector.state_dict()[k] == v).all()
    assert InferenceEngine.from_bundle(tmp_path / "plain", device="cpu").content_detector is None
    doc = json.loads((tmp_path / "b/bundle.json").read_text())
    doc["files"]["detector_extra"] = doc["files"].pop("detector_content")
    (tmp_path / "b/bundle.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="unknown models \\['detector_extra'\\]"):
        load_bundle(tmp_path / "b")


def test_save_bundle_requires_every_model(tmp_path):
    with pytest.raises(BundleError, match="missing"):
        save_bundle(tmp_path, tiny_config(), {"detector": {}})
