"""Smoke test: every model trains one step on tiny images and the result runs in the pipeline."""

from __future__ import annotations

import json
import shutil

import numpy as np

from llm_viewer.core.imageio import load_image
from llm_viewer.core.landmarks import LANDMARK_IDS
from llm_viewer.pipeline.engine import InferenceEngine
from llm_viewer.pipeline.legs import Detection
from llm_viewer.pipeline.refine import Refiner
from training import evaluate
from training.data import read_store

from .conftest import train_tiny as _train


def test_every_model_trains_one_step_and_loads_in_the_pipeline(tiny_store, tiny_bundle, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(tiny_bundle, out)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["part"] for r in log] == ["detector", "hip", "diaphysis", "knee", "ankle",
                                        "refine_hip", "refine_knee", "refine_ankle"]
    assert all(np.isfinite(r["train_loss"]) and r["steps"] == 1 for r in log)

    engine = InferenceEngine.from_bundle(out, device="cpu")
    refiner = Refiner.from_bundle_dir(out)
    assert refiner is not None and sorted(refiner.models) == ["ankle", "hip", "knee"]
    assert engine.refiner is not None and sorted(engine.refiner.models) == ["ankle", "hip", "knee"]
    case = read_store(tiny_store)[0]
    img = load_image(case.image_path)
    dets = [Detection(region, box, 1.0) for (side, region), box in case.rois.items()]
    result = engine.analyze(img.pixels, detections=dets, refine=False)
    assert "refine" not in result.timings_s
    assert "refine" in engine.analyze(img.pixels, detections=dets).timings_s  # the engine refines by default
    assert set(result.legs) == set(case.landmarks)
    for leg in result.legs.values():
        assert sorted(leg.landmarks) == sorted(LANDMARK_IDS) or "diaphysis_center" not in leg.landmarks
        assert all(np.isfinite([p.x_px, p.y_px]).all() for p in leg.landmarks.values())
    from llm_viewer.pipeline.crop import normalize_intensity

    norm = normalize_intensity(img.pixels, engine.config.intensity)
    refiner.apply(norm, result, engine.config.regions)  # runs on untrained weights without error
    assert engine.analyze(img.pixels).timings_s["detect"] >= 0  # the detector path runs too

    # the same command again resumes: nothing left to train, no new log lines, bundle unchanged
    before = (out / "bundle.json").read_text()
    _train(tiny_store, out)
    assert len((out / "log.jsonl").read_text().splitlines()) == len(log)
    assert json.loads((out / "bundle.json").read_text())["files"] == json.loads(before)["files"]
    # one more epoch of one part continues from its checkpoint
    _train(tiny_store, out, "--parts", "diaphysis", "--epochs", "2")
    last = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert (last["part"], last["epoch"]) == ("diaphysis", 1)


def test_evaluate_writes_the_report(tiny_store, tiny_bundle, tmp_path):
    out = tiny_bundle
    rep = tmp_path / "report"
    args = evaluate.get_args_parser().parse_args(["--data", str(tiny_store), "--models", str(out), "--out", str(rep),
                                                  "--split", "all", "--threads", "1"])
    assert evaluate.main(args) == 0
    res = json.loads((rep / "report.json").read_text())
    assert res["n_images"] == 3 and len(res["table2_detection_rates"]["rates_pct"]) == 20
    assert set(res["table4_metrics"]) >= {"mad_mm", "mldfa_deg", "mmpta_deg", "fva_deg", "hka_deg"}
    md = (rep / "report.md").read_text()
    assert "Table 1" in md and "Table 4" in md and "Diaphysis" in md
    assert (rep / "detection_rate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ablation_command_trains_and_evaluates_three_methods_side_by_side(tiny_store, tmp_path):
    """One step per model and method on the tiny store: the whole command, end to end."""
    from training import ablation

    out = tmp_path / "ablation"
    args = ablation.get_args_parser().parse_args(
        ["--data", str(tiny_store), "--test-split", "all", "--out", str(out), "--epochs", "1", "--max-steps", "1",
         "--batch-size", "2", "--train-splits", "train,val,test", "--val-split", "none", "--threads", "1",
         "--limit", "2", "--no-progress"])
    assert ablation.main(args) == 0
    table = (out / "ablation.md").read_text()
    assert "| measure | sgr | segmentation | regression |" in table and "HKA MAE" in table
    doc = json.loads((out / "ablation.json").read_text())
    assert set(doc) == {"sgr", "segmentation", "regression"}
    for method in doc:
        assert doc[method]["n_images"] == 2 and (out / method / "report" / "report.md").is_file()
        cfg = json.loads((out / method / "bundle.json").read_text())
        assert {cfg["regions"][r]["method"] for r in ("hip", "knee", "ankle")} == {method}
        assert not (out / method / "refine.json").exists()  # methods are compared without refinement
