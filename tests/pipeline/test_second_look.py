"""A second look at one leg's half of a two-leg film (llm_viewer.pipeline.second_look)."""

from __future__ import annotations

import dataclasses

import numpy as np

from llm_viewer.pipeline.crop import Box
from llm_viewer.pipeline.legs import Detection
from llm_viewer.pipeline.second_look import second_look

H, W = 1200, 400
# a two-leg film: the image-left leg (right) centred at x 100, the other at x 300
ROWS = {"hip": (40, 160), "diaphysis": (200, 500), "knee": (560, 680), "ankle": (1000, 1100)}


def _leg(cx: float, regions=("hip", "diaphysis", "knee", "ankle"), score=0.9) -> list[Detection]:
    return [Detection(r, Box(cx - 50.0, float(ROWS[r][0]), cx + 50.0, float(ROWS[r][1])), score) for r in regions]


def _reader(boxes_in_view, calls, name="reader"):
    def run(view):
        calls.append((name, view.shape))
        return list(boxes_in_view), 1.0
    return run


def test_a_leg_missing_its_ankle_gets_the_ankle_its_half_shows():
    first = _leg(100) + _leg(300, ("hip", "diaphysis", "knee"))
    calls = []
    # in the left half's pixels (x from 200): the ankle in the leg's column, a second one off it, another knee
    half = [Detection("ankle", Box(60.0, 1000.0, 160.0, 1100.0), 0.8),
            Detection("ankle", Box(-40.0, 1000.0, 20.0, 1100.0), 0.95),
            Detection("knee", Box(50.0, 560.0, 150.0, 680.0), 0.99)]
    look = second_look(first, np.zeros((H, W), np.float32), _reader(half, calls))
    assert calls == [("reader", (H, 200))] and look.looked == ("left",)
    assert [(s, d.region, d.box.x0, d.score) for s, d in look.added] == [("left", "ankle", 260.0, 0.8)]
    assert look.detections[:-1] == first and look.detections[-1].box == Box(260.0, 1000.0, 360.0, 1100.0)
    assert look.added[0][1].second_look  # its landmarks are flagged for review
    # an "ankle" in the column but right below the knee, where the leg's knee does not put its ankle: not added
    calls.clear()
    near = [Detection("ankle", Box(60.0, 700.0, 160.0, 800.0), 0.99)]
    assert second_look(first, np.zeros((H, W), np.float32), _reader(near, calls)).added == [] and calls


def test_complete_legs_single_legs_and_regions_outside_the_image_cost_nothing():
    calls = []
    img = np.zeros((H, W), np.float32)
    run = _reader([Detection("ankle", Box(60.0, 1000.0, 160.0, 1100.0), 0.8)], calls)
    both = _leg(100) + _leg(300)
    assert second_look(both, img, run).detections == both  # nothing missing
    one = _leg(100, ("hip", "diaphysis", "knee"))
    assert second_look(one, img, run).added == []  # one leg: its half is the image already read
    lone = _leg(100) + _leg(300, ("ankle",))  # a lone box beside a leg (the other leg's edge): no look
    assert second_look(lone, img, run).added == []
    # hip to knee: the ankles would lie below the bottom edge, so they are "not in the image", not missed
    short = _leg(100, ("hip", "diaphysis", "knee")) + _leg(300, ("hip", "diaphysis", "knee"))
    assert second_look(short, img[:720], run).added == []
    assert calls == []


def test_a_box_the_first_reading_had_is_not_added_again_and_the_next_reader_is_tried():
    first = _leg(100) + _leg(300, ("hip", "diaphysis", "knee"))
    calls = []
    # the content detector's reading of the half: nothing in the column; the main detector's: the ankle
    content = _reader([Detection("knee", Box(50.0, 560.0, 150.0, 680.0), 0.9)], calls, "content")
    main = _reader([Detection("ankle", Box(50.0, 990.0, 150.0, 1090.0), 0.7)], calls, "main")
    look = second_look(first, np.zeros((H, W), np.float32), [content, main])
    assert [c[0] for c in calls] == ["content", "main"]
    assert [(s, d.region) for s, d in look.added] == [("left", "ankle")]
    # an "ankle" box the first reading had but the assignment dropped (on the knee: out of anatomical order)
    # is not offered again when the half shows it once more
    dropped = Detection("ankle", Box(250.0, 560.0, 350.0, 680.0), 0.6)
    again = _reader([Detection("ankle", Box(52.0, 562.0, 150.0, 680.0), 0.7)], calls, "main")
    calls.clear()
    look = second_look(first + [dropped], np.zeros((H, W), np.float32), [again])
    assert calls == [("main", (H, 200))] and look.added == []


def test_engine_adds_the_second_looks_box_and_says_so(monkeypatch):
    from llm_viewer.pipeline.engine import InferenceEngine

    from .conftest import tiny_config

    def fake_view(view):
        if view.shape[1] == W:  # the whole film: the left leg's ankle missed
            return _leg(100) + _leg(300, ("hip", "diaphysis", "knee")), 1.0
        return [Detection("ankle", Box(60.0, 1000.0, 160.0, 1100.0), 0.8)], 1.0

    x = np.arange(W, dtype=np.float32)
    profile = 100.0 + 200.0 * (np.exp(-((x - 100) / 30) ** 2) + np.exp(-((x - 300) / 30) ** 2))
    img = (np.tile(profile, (H, 1)) + np.random.default_rng(0).normal(0.0, 2.0, size=(H, W))).astype(np.float32)
    for enabled in (True, False):
        cfg = tiny_config()
        cfg = dataclasses.replace(cfg, detector=dataclasses.replace(cfg.detector, second_look=enabled,
                                                                    content_crop="off"))
        engine = InferenceEngine.from_config(cfg, device="cpu")
        monkeypatch.setattr(engine, "_detect_view", fake_view)
        res = engine.analyze(img, side_cues=False)
        ankles = [r for r in res.rois if r.side == "left" and r.region == "ankle"]
        said = [w for w in res.warnings if "second look" in w]
        if enabled:
            assert len(ankles) == 1 and ankles[0].x0 == 260.0 and "left leg" in said[0]
            assert ("left", "ankle") in res.review_regions
            assert "second_look" in res.timings_s
        else:
            assert ankles == [] and said == []
