"""``llm-viewer analyze``: output shape, metrics from core, batch robustness, clear errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from llm_viewer.cli import main
from llm_viewer.core.landmarks import LANDMARK_IDS, REGIONS
from llm_viewer.core.metrics import compute_leg_metrics
from llm_viewer.pipeline.bundle import save_bundle

from .conftest import leg_boxes, two_leg_boxes


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory, tiny_engine):
    path = tmp_path_factory.mktemp("bundle")
    sds = {"detector": tiny_engine.detector.state_dict(),
           **{r: tiny_engine.region_models[r].state_dict() for r in REGIONS}}
    save_bundle(path, tiny_engine.config, sds)
    return path


def _png(path, h=400, w=200):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 65535, (h, w), dtype=np.uint16)
    assert cv2.imwrite(str(path), img)
    return path


def test_result_document_has_the_spec_shape_and_core_metrics(tiny_engine, leg_image):
    from llm_viewer.commands.analyze import csv_rows, result_document
    from llm_viewer.core.measurement import measure_document

    dets = leg_boxes(80) + leg_boxes(220, regions=("hip", "diaphysis", "ankle"))
    res = tiny_engine.analyze(leg_image, detections=dets)
    image = SimpleNamespace(pixel_spacing_mm=(0.2, 0.2), spacing_source="PixelSpacing", width_px=300, height_px=600)
    doc = result_document("x.png", image, res)
    json.dumps(doc)  # serialisable
    assert doc["pixel_spacing_mm"] == [0.2, 0.2] and doc["spacing_source"] == "PixelSpacing"
    right, left = doc["legs"]["right"], doc["legs"]["left"]
    assert list(right["landmarks"]) == [lm for lm in LANDMARK_IDS if lm in right["landmarks"]]
    assert set(right["uncertainty_px"]) == set(right["landmarks"])
    # no knee box: the left leg gets what hip, diaphysis and ankle allow (its leg length), the rest with reasons
    assert left["missing_regions"] == ["knee"] and left["errors"] == []
    assert set(left["landmarks"]) == {"femoral_head", "diaphysis_center", "malleolus_lateral", "malleolus_medial"}
    assert {k for k, v in left["metrics"].items() if v is not None} == {"leg_length_mm"}
    assert left["unmeasured"]["hka_deg"] == ["knee_center"] and "leg_length_mm" not in left["unmeasured"]
    assert doc["study"]["lld_mm"] == pytest.approx(
        right["metrics"]["leg_length_mm"] - left["metrics"]["leg_length_mm"])  # LLD from the two leg lengths
    assert doc["study"]["unmeasured"] == {}
    assert {r["side"] for r in doc["rois"]} == {"right", "left"} and len(doc["rois"][0]["box_px"]) == 4
    assert {"detect", "total"} <= set(doc["timings_s"]) and doc["model_id"] == "tiny-random-0"
    if len(right["landmarks"]) == 9 and right["metrics"] is not None:
        expected = compute_leg_metrics(right["landmarks"], "right", (0.2, 0.2)).as_dict()
        assert right["metrics"] == expected
        again = measure_document({"pixel_spacing_mm": doc["pixel_spacing_mm"],
                                  "legs": {"right": {"landmarks": right["landmarks"]}}})
        assert again.legs["right"].metrics.as_dict() == expected
    rows = csv_rows(doc)
    assert [r["side"] for r in rows] == ["right", "left"] and rows[1]["missing_regions"] == "knee"
    assert "hka_deg needs knee_center" in rows[1]["unmeasured"] and rows[1]["leg_length_mm"] is not None


def test_two_legs_document_has_eighteen_landmarks(tiny_engine, leg_image):
    from llm_viewer.commands.analyze import result_document

    res = tiny_engine.analyze(leg_image, detections=two_leg_boxes())
    doc = result_document("x", SimpleNamespace(pixel_spacing_mm=None, spacing_source="unknown", width_px=300,
                                               height_px=600), res)
    assert sum(len(leg["landmarks"]) for leg in doc["legs"].values()) >= 16


def test_missing_default_bundle_is_a_clear_error(tmp_path, capsys):
    _png(tmp_path / "a.png")
    code = main(["analyze", str(tmp_path / "a.png"), "--models", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2 and "no model bundle at" in err and "training.train" in err and "Traceback" not in err


def test_cli_single_image_prints_json_and_batch_skips_bad_files(tiny_bundle, tmp_path, capsys):
    pytest.importorskip("llm_viewer.core.imageio", reason="image I/O is written in parallel")
    good = _png(tmp_path / "good.png")
    code = main(["analyze", str(good), "--models", str(tiny_bundle), "--device", "cpu"])
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert code == 0
    assert {"image", "pixel_spacing_mm", "spacing_source", "legs", "study", "rois", "warnings", "timings_s",
            "model_id"} <= set(doc)
    assert doc["model_id"].startswith("tiny-0.0-") and doc["pixel_spacing_mm"] is None

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    out_json = tmp_path / "out.json"
    code = main(["analyze", str(bad), str(good), str(tmp_path / "missing.dcm"), "--models", str(tiny_bundle),
                 "--device", "cpu", "--json", str(out_json)])
    err = capsys.readouterr().err
    docs = json.loads(out_json.read_text())
    assert code == 1 and [d["image"] for d in docs] == [str(good)]
    assert "skipped" in err and "bad.png" in err and "missing.dcm" in err

    out_csv = tmp_path / "out.csv"
    assert main(["analyze", str(tmp_path), "--models", str(tiny_bundle), "--device", "cpu", "--csv",
                 str(out_csv)]) == 1
    header = out_csv.read_text().splitlines()[0].split(",")
    assert header[:2] == ["image", "side"] and "hka_deg" in header and "knee_center_uncertainty_px" in header
