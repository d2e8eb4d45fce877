"""training.export: compact copies, and a second detector for the content inside padding bars."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from llm_viewer.core.landmarks import REGIONS
from llm_viewer.pipeline.bundle import BundleError, load_bundle, save_bundle
from llm_viewer.pipeline.engine import InferenceEngine
from training.export import export_bundle, main

from ..pipeline.conftest import tiny_config


def _save(path, seed, config=None):
    engine = InferenceEngine.from_config(config or tiny_config(), device="cpu", seed=seed)
    sds = {"detector": engine.detector.state_dict(), **{r: engine.region_models[r].state_dict() for r in REGIONS}}
    save_bundle(path, engine.config, sds)
    return engine


def test_export_adds_another_bundles_detector_as_the_content_detector(tmp_path):
    _save(tmp_path / "base", 0)
    other = _save(tmp_path / "crops", 1)
    export_bundle(tmp_path / "base", tmp_path / "out", content_detector=tmp_path / "crops")
    out = load_bundle(tmp_path / "out")
    assert "detector_content" in out.files and out.config.detector.content_crop == "first"
    assert out.model_id != load_bundle(tmp_path / "base").model_id
    engine = InferenceEngine.from_bundle(tmp_path / "out", device="cpu", fold_bn=False)
    want = other.detector.state_dict()
    got = engine.content_detector.state_dict()
    key = "roi_heads.box_predictor.cls_score.weight"
    assert torch.allclose(got[key], want[key], rtol=1e-2, atol=1e-3)  # float16 copy of the other detector
    assert not torch.allclose(engine.detector.state_dict()[key], want[key], atol=1e-3)  # the main one is the base's
    # the mode can be chosen, and a plain export keeps the bundle's own
    export_bundle(tmp_path / "base", tmp_path / "out2", content_detector=tmp_path / "crops", content_crop="fallback")
    assert load_bundle(tmp_path / "out2").config.detector.content_crop == "fallback"
    export_bundle(tmp_path / "base", tmp_path / "out3")
    assert "detector_content" not in load_bundle(tmp_path / "out3").files


def test_export_refuses_a_content_detector_of_another_size_and_its_own_folder(tmp_path, capsys):
    _save(tmp_path / "base", 0)
    cfg = tiny_config()
    _save(tmp_path / "big", 1, dataclasses.replace(cfg, detector=dataclasses.replace(
        cfg.detector, input_width_px=cfg.detector.input_width_px * 2)))
    with pytest.raises(BundleError, match="does not match the detector"):
        export_bundle(tmp_path / "base", tmp_path / "out", content_detector=tmp_path / "big")
    with pytest.raises(BundleError, match="is the bundle it reads"):
        export_bundle(tmp_path / "base", tmp_path / "base")
    assert main(["--models", str(tmp_path / "base"), "--out", str(tmp_path / "o"),
                 "--content-detector", str(tmp_path / "big")]) == 2
    assert "does not match" in capsys.readouterr().err
