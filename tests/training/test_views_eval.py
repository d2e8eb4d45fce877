"""training/views_eval.py: views cut from a study and the scoring of one analysed view."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from llm_viewer.pipeline.engine import AnalysisResult, LandmarkPrediction, LegPrediction
from training.views_eval import make_views, score_view

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "spec" / "alignment_examples.json"


def _gt():
    case = json.loads(EXAMPLES.read_text())["cases"][0]
    return {s: {k: tuple(v) for k, v in leg["landmarks"].items()} for s, leg in case["legs"].items()}


def _result(legs):
    return AnalysisResult({s: LegPrediction(s, {k: LandmarkPrediction(x, y, 0.9, 1.0, None) for k, (x, y) in pts.items()},
                                            []) for s, pts in legs.items()}, [], [], {}, "m", "cpu")


def test_views_cut_each_leg_at_the_midline_and_keep_the_kinds():
    gt = _gt()
    xs = [p[0] for pts in gt.values() for p in pts.values()]
    ys = [p[1] for pts in gt.values() for p in pts.values()]
    w, h = int(max(xs) + 100), int(max(ys) + 100)
    case = SimpleNamespace(to_dict=lambda: {"synthetic": {"overlays": []}})
    views = make_views(np.zeros((h, w), np.float32), gt, 0.5, case)
    kinds = {k for k, _, _ in views}
    assert {"full pair", "single leg, no pelvis", "knee only", "ankle only", "hip to knee"} <= kinds
    mid = 0.5 * (np.mean([p[0] for p in gt["right"].values()]) + np.mean([p[0] for p in gt["left"].values()]))
    for kind, (x0, y0, x1, _y1), sides in views:
        if kind == "single leg, no pelvis":
            (side,) = sides
            assert (x1 <= mid + 1) if side == "right" else (x0 >= mid - 1)
            assert y0 < gt[side]["femoral_head"][1]


def test_perfect_prediction_scores_everything_found_and_the_right_side():
    gt = {"right": _gt()["right"]}
    r = score_view(_result(gt), gt, (0.5, 0.5))
    assert r["found"] == r["visible"] == 8 and max(r["errors_mm"]) == 0.0
    assert r["side_right"] == 1 and r["phantoms"] == 0 and r["computed"] == r["computable"] == 5


def test_wrong_side_missing_landmarks_and_phantoms_are_counted():
    full = _gt()["right"]
    view = {k: v for k, v in full.items() if not k.startswith("malleolus") and k != "ankle_center"}
    pred = dict(full)  # the model also reports the ankle, which is outside the view
    r = score_view(_result({"left": pred}), {"right": view}, (0.5, 0.5))
    assert r["side_right"] == 0 and r["phantoms"] >= 2
    missing = {k: v for k, v in view.items() if k != "knee_center"}
    r2 = score_view(_result({"right": missing}), {"right": view}, (0.5, 0.5))
    assert r2["found"] == r2["visible"] - 1
