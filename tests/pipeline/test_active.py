"""Active learning: uncertainty scores, strategies, ranking contract, the rank command."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from llm_viewer.core.landmarks import LANDMARK_IDS
from llm_viewer.pipeline.active import (
    MISSING_PENALTY_MM,
    STRATEGIES,
    ImageEvidence,
    RandomStrategy,
    breakdown,
    get_strategy,
    rank_scores,
    register_strategy,
)
from llm_viewer.pipeline.active.tta import UncertaintyAnalyzer, collect_views, perturbed_detections
from llm_viewer.pipeline.engine import AnalysisResult, LandmarkPrediction, LegPrediction, RoiBox

from .conftest import tiny_config, two_leg_boxes

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "spec" / "alignment_examples.json"


def _leg_points() -> dict[str, tuple[float, float]]:
    case = json.loads(EXAMPLES.read_text())["cases"][0]
    return {lm: tuple(xy) for lm, xy in case["legs"]["right"]["landmarks"].items()}


def _result(disagreement_px: float = 0.0, *, drop: tuple[str, ...] = (), offsets=None) -> AnalysisResult:
    """A one-leg result whose SGR maps disagree with the regressed points by ``disagreement_px`` (or per landmark)."""
    lms = {}
    for lm, (x, y) in _leg_points().items():
        if lm in drop:
            continue
        d = (offsets or {}).get(lm, disagreement_px)
        peak = None if lm == "diaphysis_center" else (x + d, y)
        lms[lm] = LandmarkPrediction(x, y, 0.9, 2.0 if peak is None else d, peak)
    return AnalysisResult({"right": LegPrediction("right", lms, [])}, [], [], {}, "fake", "cpu")


def _views(spread_px: float, n: int = 5) -> list[dict]:
    pts = _leg_points()
    out = []
    for v in range(n):
        dx = spread_px * (v - (n - 1) / 2)
        moved = dict(pts)
        moved["knee_center"] = (pts["knee_center"][0] + dx, pts["knee_center"][1])
        for lm in ("femoral_condyle_medial", "tibial_plateau_medial"):  # tilts the joint lines
            moved[lm] = (pts[lm][0], pts[lm][1] + dx)
        out.append({"right": moved})
    return out


def test_sgr_disagreement_score_grows_with_disagreement_and_is_in_mm():
    s = get_strategy("sgr-disagreement")
    scores = [s.score(ImageEvidence(_result(d), pixel_spacing_mm=(0.5, 0.5))) for d in (0.0, 2.0, 8.0, 20.0)]
    assert scores == sorted(scores) and scores[0] < scores[-1]
    # the 8 scored landmarks at 20 px * 0.5 mm; the diaphysis centre (a construction) does not enter
    assert scores[-1] == pytest.approx(10.0)
    # one landmark's disagreement alone raises the score
    one = s.score(ImageEvidence(_result(0.0, offsets={"knee_center": 30.0}), pixel_spacing_mm=(0.5, 0.5)))
    assert one > scores[0]


def test_missing_landmark_counts_as_penalty():
    full = breakdown(ImageEvidence(_result(1.0), pixel_spacing_mm=(1.0, 1.0)))
    missing = breakdown(ImageEvidence(_result(1.0, drop=("knee_center",)), pixel_spacing_mm=(1.0, 1.0)))
    assert missing.n_missing == 1 and full.n_missing == 0
    assert missing.sgr_disagreement_mm == pytest.approx(full.sgr_disagreement_mm + (MISSING_PENALTY_MM - 1.0) / 8)
    # a missing diaphysis centre is penalised too, although a placed one is not scored
    no_dia = breakdown(ImageEvidence(_result(1.0, drop=("diaphysis_center",)), pixel_spacing_mm=(1.0, 1.0)))
    assert no_dia.n_missing == 1
    assert no_dia.sgr_disagreement_mm == pytest.approx((8 * 1.0 + MISSING_PENALTY_MM) / 9)


def test_tta_and_metric_spread_grow_with_view_spread():
    tta, metric, combined = get_strategy("tta"), get_strategy("metric-spread"), get_strategy("combined")
    prev = None
    for spread in (0.0, 3.0, 12.0):
        ev = ImageEvidence(_result(1.0), collect_views(_views(spread), (0.143, 0.143)), (0.143, 0.143))
        vals = (tta.score(ev), metric.score(ev), combined.score(ev))
        assert ev.tta.n_views == 5 and ev.tta.points_px["right"]["knee_center"].shape == (5, 2)
        assert set(ev.tta.metrics["right"]) == {"hka_deg", "mldfa_deg", "mmpta_deg"}
        if prev is not None:
            assert all(v > p for v, p in zip(vals, prev))
        else:
            assert vals[0] == pytest.approx(0.0) and vals[1] == pytest.approx(0.0, abs=1e-9)
        prev = vals
    with pytest.raises(ValueError, match="test-time"):
        tta.score(ImageEvidence(_result(1.0)))


def test_random_strategy_is_a_pure_function_of_seed_and_key():
    a, b = RandomStrategy(seed=1), RandomStrategy(seed=2)
    ev = [ImageEvidence(_result(), key=f"img{i}.dcm") for i in range(50)]
    s1 = [a.score(e) for e in ev]
    assert s1 == [a.score(e) for e in reversed(ev)][::-1]
    assert s1 != [b.score(e) for e in ev]
    assert all(0.0 <= v < 1.0 for v in s1) and len(set(s1)) == 50


def test_rank_scores_sorts_descending_numbers_and_cuts():
    items = [("b.png", 1.0, {}), ("a.png", 3.0, {"x": 1}), ("c.png", 1.0, {}), ("d.png", 2.0, {})]
    ranked = rank_scores(items, "tta", cases={"a.png": "a.case.json"})
    assert [r.image for r in ranked] == ["a.png", "d.png", "b.png", "c.png"]
    assert [r.rank for r in ranked] == [1, 2, 3, 4]
    doc = [r.as_dict() for r in ranked]
    assert doc[0] == {"image": "a.png", "score": 3.0, "strategy": "tta", "rank": 1, "case": "a.case.json",
                      "details": {"x": 1}}
    assert "case" not in doc[1]
    assert [r.image for r in rank_scores(items, "tta", top=2)] == ["a.png", "d.png"]
    with pytest.raises(ValueError, match="not finite"):
        rank_scores([("x.png", float("nan"), {})], "tta")
    with pytest.raises(ValueError, match="top"):
        rank_scores(items, "tta", top=0)


def test_register_custom_strategy():
    class MostMissing:
        name = "most-missing"
        needs_tta = False

        def score(self, evidence):
            return float(breakdown(evidence).n_missing)

    register_strategy("most-missing", MostMissing)
    try:
        s = get_strategy("most-missing")
        assert s.score(ImageEvidence(_result(drop=("knee_center", "femoral_head")))) == 2.0
        with pytest.raises(ValueError, match="already"):
            register_strategy("most-missing", MostMissing)
    finally:
        STRATEGIES.pop("most-missing")
    with pytest.raises(ValueError, match="unknown strategy"):
        get_strategy("most-missing")


def test_perturbed_detections_shift_and_scale_boxes():
    res = AnalysisResult({}, [RoiBox("right", "knee", 0.0, 0.0, 100.0, 50.0, 0.8)], [], {}, "m", "cpu")
    (d,) = perturbed_detections(res, 0.1, -0.1, 1.2)
    assert d.region == "knee" and d.score == 0.8
    assert (d.box.cx, d.box.cy) == pytest.approx((60.0, 15.0))
    assert (d.box.width, d.box.height) == pytest.approx((120.0, 60.0))


def test_analyzer_runs_views_through_the_engine(tiny_engine, leg_image):
    analyzer = UncertaintyAnalyzer(tiny_engine)
    ev, final = analyzer.evidence(leg_image, tta=True, pixel_spacing_mm=(1.0, 1.0), key="x",
                                  detections=two_leg_boxes())
    assert set(ev.result.legs) == {"right", "left"} and final is ev.result
    assert ev.tta is not None and ev.tta.n_views == 1 + len(analyzer.views)
    for side, leg in ev.result.legs.items():
        for lm, p in leg.landmarks.items():
            pts = ev.tta.points_px[side][lm]
            assert pts.shape == (ev.tta.n_views, 2)
            assert np.allclose(pts[0], (p.x_px, p.y_px))  # view 0 is the plain analysis
    for name in ("sgr-disagreement", "tta", "combined"):
        assert np.isfinite(get_strategy(name).score(ev))
    ev2, _ = analyzer.evidence(leg_image, tta=False, detections=two_leg_boxes())
    assert ev2.tta is None


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    import torch

    from llm_viewer.pipeline.bundle import save_bundle
    from llm_viewer.pipeline.models import build_detector, build_landmark_model

    torch.manual_seed(0)
    cfg = tiny_config()
    sd = {"detector": build_detector(cfg.detector).state_dict()}
    sd.update({r: build_landmark_model(c).state_dict() for r, c in cfg.regions.items()})
    out = tmp_path_factory.mktemp("active") / "bundle"
    save_bundle(out, cfg, sd)
    return out


def test_rank_command_writes_sorted_queue_and_skips_bad_files(tiny_bundle, tmp_path, capsys):
    from llm_viewer.cli import main

    pool = tmp_path / "pool"
    pool.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(pool / f"leg{i}.png"), rng.integers(0, 255, size=(192, 64), dtype=np.uint8))
    (pool / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "queue.json"
    rc = main(["rank", str(pool), "--models", str(tiny_bundle), "--strategy", "random", "--out", str(out),
               "--quiet"])
    assert rc == 1  # one file skipped
    assert "broken.png" in capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert [Path(d["image"]).name for d in doc] != [] and len(doc) == 3
    scores = [d["score"] for d in doc]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 3
    assert [d["rank"] for d in doc] == [1, 2, 3] and {d["strategy"] for d in doc} == {"random"}
    assert all(Path(d["image"]).is_file() for d in doc)
    # the random strategy is the hash of the path: the same ranking again, cut to the top one
    rc = main(["rank", str(pool / "leg0.png"), str(pool / "leg1.png"), str(pool / "leg2.png"), "--models",
               str(tiny_bundle), "--strategy", "random", "--top", "1", "--quiet"])
    top = json.loads(capsys.readouterr().out)
    assert rc == 0 and [d["image"] for d in top] == [doc[0]["image"]]


def test_rank_command_rejects_bad_arguments(tiny_bundle, tmp_path, capsys):
    from llm_viewer.cli import main

    assert main(["rank", str(tmp_path), "--models", str(tiny_bundle), "--strategy", "nope"]) == 2
    assert "unknown strategy" in capsys.readouterr().err
    assert main(["rank", str(tmp_path / "missing"), "--models", str(tiny_bundle)]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["rank", str(tmp_path), "--models", str(tiny_bundle), "--top", "0"]) == 2


def test_every_landmark_id_is_scored():
    b = breakdown(ImageEvidence(_result(1.0)))
    assert b.n_landmarks == len(LANDMARK_IDS) and b.units == "px"


def test_combined_leaves_out_sgr_disagreement_unless_weighted():
    ev = ImageEvidence(_result(20.0), collect_views(_views(3.0), (0.5, 0.5)), (0.5, 0.5))
    b = breakdown(ev)
    assert b.sgr_disagreement_mm == pytest.approx(10.0) and b.tta_spread_mm > 0
    plain = get_strategy("combined").score(ev)
    assert plain == pytest.approx(b.tta_spread_mm + 2.0 * b.metric_spread_deg)
    weighted = get_strategy("combined", disagreement_weight=1.0).score(ev)
    assert weighted == pytest.approx(np.hypot(10.0, b.tta_spread_mm) + 2.0 * b.metric_spread_deg)
    assert weighted > plain
