"""One tiny active-learning round end to end (oracle mode), the preset detection and the simulation's helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from llm_viewer.core.store import Store
from llm_viewer.pipeline.bundle import save_bundle
from llm_viewer.pipeline.models import build_detector, build_landmark_model
from training import active_loop, al_simulation
from training.presets import get_preset


@pytest.fixture()
def lite_bundle(tmp_path):
    torch.manual_seed(0)
    cfg = get_preset("lite").bundle
    sd = {"detector": build_detector(cfg.detector).state_dict()}
    sd.update({r: build_landmark_model(c).state_dict() for r, c in cfg.regions.items()})
    out = tmp_path / "models"
    save_bundle(out, cfg, sd)
    return out


def test_one_oracle_round_labels_fine_tunes_and_evaluates(tiny_store, lite_bundle, tmp_path):
    store = tmp_path / "train_store"
    round_dir = tmp_path / "round1"
    rc = active_loop.main(["--pool", str(tiny_store), "--store", str(store), "--models", str(lite_bundle),
                           "--round-dir", str(round_dir), "--top", "2", "--oracle", "--strategy", "sgr-disagreement",
                           "--parts", "knee", "--epochs", "1", "--max-steps", "1", "--train-splits",
                           "train,val,test", "--val-split", "none", "--eval-data", str(tiny_store),
                           "--eval-limit", "1"])
    assert rc == 0
    queue = json.loads((round_dir / "queue.json").read_text())
    assert len(queue) == 2 and queue[0]["score"] >= queue[1]["score"]
    added = Store.open(store).entries()
    assert sorted(e.id for e in added) == sorted(q["case"].split("/")[-1][: -len(".case.json")] for q in queue)
    assert {e.source for e in added} == {"export"}
    assert all(len(Store.open(store).load_case(e).landmarks(s)) == 9 for e in added for s in e.sides)
    new = round_dir / "models"
    assert (new / "bundle.json").is_file()
    old_knee, new_knee = load_file(str(lite_bundle / "knee.safetensors")), load_file(str(new / "knee.safetensors"))
    assert any(not torch.equal(old_knee[k], new_knee[k]) for k in old_knee)  # fine-tuned
    old_hip, new_hip = load_file(str(lite_bundle / "hip.safetensors")), load_file(str(new / "hip.safetensors"))
    assert all(torch.equal(old_hip[k], new_hip[k]) for k in old_hip)  # kept
    record = json.loads((round_dir / "round.json").read_text())
    assert record["added"] and set(record["eval_before"]) == set(record["eval_after"])

    # the next round ranks only what is not labelled yet
    left = active_loop.pool_items(str(tiny_store), Store.open(store))
    assert len(left) == 1


def test_without_oracle_the_round_stops_at_the_queue(tiny_store, lite_bundle, tmp_path, capsys):
    round_dir = tmp_path / "r"
    rc = active_loop.main(["--pool", str(tiny_store), "--store", str(tmp_path / "s"), "--models", str(lite_bundle),
                           "--round-dir", str(round_dir), "--top", "1", "--strategy", "random"])
    assert rc == 0 and "llm-viewer gui" in capsys.readouterr().out
    assert len(json.loads((round_dir / "queue.json").read_text())) == 1
    assert not (round_dir / "models").exists() and len(Store.open(tmp_path / "s")) == 0


def test_preset_detection_rejects_foreign_bundles(tmp_path, lite_bundle):
    assert active_loop.detect_preset(lite_bundle).name == "lite"
    from llm_viewer.pipeline.config import lite_config

    cfg = lite_config()
    sd = {"detector": build_detector(cfg.detector).state_dict()}
    sd.update({r: build_landmark_model(c).state_dict() for r, c in cfg.regions.items()})
    save_bundle(tmp_path / "other", cfg, sd)
    with pytest.raises(active_loop.LoopError, match="no training preset"):
        active_loop.detect_preset(tmp_path / "other")


def test_simulation_report_helpers(tmp_path):
    def curve(errs):
        return [{"n_labelled": 8 * (i + 1), "error_mm": e, "hka_mae_deg": e / 10} for i, e in enumerate(errs)]

    results = {"config": {}, "curves": {"random": {"0": curve([5, 4, 3, 2.5])},
                                        "tta": {"0": curve([5, 3, 2.4, 2.0])}}}
    assert al_simulation.labels_to_reach(np.array([8, 16, 24, 32]), np.array([5, 3, 2.4, 2.0]), 2.5) == 24
    assert al_simulation.labels_to_reach(np.array([8, 16]), np.array([5, 4]), 2.5) is None
    table = al_simulation.summary_table(results)
    assert "| tta | 24 | 75 % |" in table and "| random | 32 | 100 % |" in table
    merged = al_simulation.merge_results([results, {"config": {}, "curves": {"random": {"1": curve([6, 5, 4, 3])}}}])
    assert sorted(merged["curves"]["random"]) == ["0", "1"]
    al_simulation.write_outputs(results, tmp_path)
    assert (tmp_path / "learning_curves.png").stat().st_size > 1000


def test_simulation_runs_one_tiny_round_per_strategy(tiny_store, tmp_path):
    args = al_simulation.get_args_parser().parse_args(
        ["--pool", str(tiny_store), "--out", str(tmp_path / "sim"), "--cache-dir", str(tmp_path / "cache"),
         "--eval", "1", "--init", "1", "--step", "1", "--rounds", "1", "--init-steps", "1", "--finetune-steps", "1"])
    args.strategies, args.seeds = ["random", "combined"], [0]
    res = al_simulation.run_simulation(args, log=lambda m: None)
    for name in ("random", "combined"):
        curve = res["curves"][name]["0"]
        assert [p["n_labelled"] for p in curve] == [1, 2]
        assert all(np.isfinite(p["error_mm"]) and np.isfinite(p["hka_mae_deg"]) for p in curve)
    assert json.loads((tmp_path / "sim" / "simulation.json").read_text())["curves"].keys() == {"random", "combined"}
