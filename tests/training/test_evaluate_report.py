"""The evaluation report: strict JSON, a separate store evaluated whole, and what a stage did not find."""

from __future__ import annotations

import json

from training import evaluate
from training.report import strict_json


def test_strict_json_turns_non_finite_numbers_into_null():
    doc = strict_json({"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf")}, "e": 2})
    assert doc == {"a": None, "b": [1.0, None], "c": {"d": None}, "e": 2}
    json.dumps(doc, allow_nan=False)  # would raise on a NaN


def test_auto_split_is_test_on_the_training_store_and_whole_on_another(tiny_store, tiny_bundle, tmp_path):
    from llm_viewer.cli import main

    assert evaluate.choose_split(str(tiny_store), str(tiny_bundle)).split == "test"
    other = tmp_path / "other"
    assert main(["synth", "--count", "2", "--seed", "9", "--out", str(other), "--height-px", "640",
                 "--one-leg-rate", "0", "--no-progress"]) == 0
    choice = evaluate.choose_split(str(other), str(tiny_bundle))
    assert choice.split == "all" and "not the one" in choice.reason

    rep = tmp_path / "report"
    args = evaluate.get_args_parser().parse_args(["--data", str(other), "--models", str(tiny_bundle), "--out",
                                                  str(rep), "--threads", "1"])
    assert evaluate.main(args) == 0
    text = (rep / "report.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    res = json.loads(text)
    assert res["split"] == "all" and res["n_images"] == res["store_images"] == 2
    md = (rep / "report.md").read_text()
    # a detector trained for one step finds nothing above its threshold: the report says so
    assert res["images_without_detection"], "expected the one-step detector to find nothing"
    assert any(m.startswith("detector: no region") for m in res["found_nothing"])
    assert "What was not found" in md and "detector: no region above its threshold" in md
    assert res["legs_with_hka_pct"] == 0.0 and res["table4_metrics"]["hka_deg"]["mae"] is None


def test_active_loop_headlines_the_8_landmark_mean_and_trains_on_every_split():
    from training import active_loop

    res = {"n_images": 1, "mean_error_mm_8_landmarks": {"mean": 1.0}, "mean_error_mm_9_landmarks": {"mean": 5.0},
           "table4_metrics": {k: {"mae": 0.1} for k in ("hka_deg", "mldfa_deg", "mmpta_deg")},
           "failed_images": 0, "figure7": {"missing_landmarks": 2}, "legs_with_hka_pct": 50.0}
    summary = active_loop._summary(res)
    assert summary["mean_error_mm"] == 1.0 and summary["missing_landmarks"] == 2
    args = active_loop.get_args_parser().parse_args(["--store", "s", "--models", "m", "--round-dir", "r"])
    assert set(args.train_splits.split(",")) == {"train", "val", "test"} and args.val_split == "none"
    assert args.lr_factor is None  # the fine-tuning rate, not a fraction of the from-scratch rate
