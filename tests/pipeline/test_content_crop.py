"""Padding bars: the detector runs on the content inside them, in training and in inference alike."""

from __future__ import annotations

import numpy as np
import pytest

from llm_viewer.pipeline.crop import Box, ContentBox, content_box, detection_crop
from llm_viewer.pipeline.legs import Detection
from llm_viewer.pipeline.multiscale import detect_in_content


def _leg(h: int = 600, w: int = 100, seed: int = 0) -> np.ndarray:
    """Soft tissue with a bright bone down the middle, 0.2-0.9 (normalised)."""
    rng = np.random.default_rng(seed)
    img = rng.uniform(0.2, 0.5, size=(h, w)).astype(np.float32)
    img[:, w // 3: 2 * w // 3] += 0.4
    return img


def _pad(img: np.ndarray, top: int, bottom: int, left: int = 0, right: int = 0, value: float = 0.0) -> np.ndarray:
    return np.pad(img, ((top, bottom), (left, right)), constant_values=value)


def test_black_bars_above_and_below_are_found_exactly():
    img = _pad(_leg(), 200, 224)
    assert content_box(img) == ContentBox(0, 200, 100, 800)


def test_bars_on_every_side_and_white_bars():
    img = _pad(_leg(), 30, 40, 12, 9, value=1.0)
    assert content_box(img) == ContentBox(12, 30, 112, 630)


@pytest.mark.parametrize("pattern", ["across", "along", "noise"])
def test_bars_with_a_moire_pattern_or_noise_are_still_bars(pattern):
    img = _pad(_leg(), 200, 224)
    rng = np.random.default_rng(1)
    bar = np.zeros((200, 100), np.float32)
    if pattern == "across":  # constant down each column: every bar row repeats the edge row
        bar += 0.06 * (1 + np.cos(np.arange(100) * 1.3))[None, :]
    elif pattern == "along":  # constant along each row, varying down the bar
        bar += 0.06 * (1 + np.cos(np.arange(200) * 1.3))[:, None]
    else:
        bar += np.clip(rng.normal(0.03, 0.04, size=bar.shape), 0, None)
    img[:200] = bar
    assert content_box(img) == ContentBox(0, 200, 100, 800)


def test_an_image_without_bars_has_no_content_box():
    assert content_box(_leg()) is None
    assert content_box(np.zeros((50, 50), np.float32)) is None  # all padding: nothing to run on
    assert content_box(np.zeros((0, 0), np.float32)) is None


def test_the_crop_is_used_only_when_it_enlarges_the_anatomy_in_the_canvas():
    # a one-leg export: 128 x 1024 canvas, content 100 x 600 -> letterboxed into 256 x 768 it grows 1.7x
    export = _pad(_pad(_leg(), 0, 0, 14, 14), 200, 224)
    assert detection_crop(export, 256, 768) == ContentBox(14, 200, 114, 800)
    # a film whose width fills the canvas: a flat strip at the bottom changes nothing -> whole image
    film = _pad(_leg(900, 300), 0, 60)
    assert content_box(film) == ContentBox(0, 0, 300, 900)
    assert detection_crop(film, 256, 768) is None


@pytest.mark.parametrize("mode", ["first", "fallback", "off"])
def test_engine_detects_inside_the_bars_and_maps_boxes_back(mode, monkeypatch):
    import dataclasses

    from llm_viewer.pipeline.engine import InferenceEngine

    from .conftest import tiny_config

    cfg = tiny_config()
    engine = InferenceEngine.from_config(dataclasses.replace(
        cfg, detector=dataclasses.replace(cfg.detector, content_crop=mode)), device="cpu", seed=0)
    rng = np.random.default_rng(0)
    leg = rng.normal(100.0, 10.0, size=(600, 300)).astype(np.float32)
    leg[:, 60:100] += 200.0
    img = np.zeros((1200, 300), np.float32)
    img[300:900] = leg
    seen = []

    def fake_detect(image_norm, lb=None):
        seen.append(image_norm.shape)
        return [Detection(r, Box(40.0, 20.0 + 140 * i, 120.0, 120.0 + 140 * i), 0.9)
                for i, r in enumerate(("hip", "diaphysis", "knee", "ankle"))]

    monkeypatch.setattr(engine, "detect", fake_detect)
    res = engine.analyze(img)
    knee = [(r.x0, r.y0, r.x1, r.y1) for r in res.rois + res.unassigned_rois if r.region == "knee"]
    if mode == "first":  # a whole leg inside the bars: the whole image is not run; boxes shifted back
        assert seen == [(600, 300)]
        assert res.detection_box_px == (0, 300, 300, 900)
        assert knee == [(40.0, 600.0, 120.0, 700.0)]
    else:  # the whole image first, and a whole leg there: the content is not run
        assert seen == [(1200, 300)]
        assert res.detection_box_px is None and knee == [(40.0, 300.0, 120.0, 400.0)]
    # an image without bars runs whole
    seen.clear()
    res2 = engine.analyze(leg)
    assert seen == [(600, 300)] and res2.detection_box_px is None


def _dets(score, regions=("knee",), dy=0.0):
    return [Detection(r, Box(10.0, dy + 100.0 * i, 60.0, dy + 100.0 * i + 80), score) for i, r in enumerate(regions)]


def test_a_partial_view_inside_bars_is_also_tried_whole_and_the_better_kept():
    img = np.zeros((1000, 100), np.float32)
    content = ContentBox(0, 200, 100, 800)
    calls = []

    def detect(view):
        calls.append(view.shape)
        # the content pass finds a weak diaphysis, the whole image a confident ankle
        return (_dets(0.6, ("diaphysis",)), 2.0) if view.shape == (600, 100) else (_dets(0.95, ("ankle",)), 1.0)

    kept = detect_in_content(img, content, detect)
    assert calls == [(600, 100), (1000, 100)]
    assert kept.content is None and kept.zoom_out == 1.0 and [d.region for d in kept.detections] == ["ankle"]

    def detect_equal(view):
        return (_dets(0.9), 1.0)

    kept = detect_in_content(img, content, detect_equal)  # no better whole-image reading: the content's stays
    assert kept.content == content and kept.detections[0].box.y0 == 200.0

    def detect_whole_leg(view):
        calls.append(view.shape)
        return (_dets(0.7, ("hip", "diaphysis", "knee", "ankle")), 1.0)

    calls.clear()
    kept = detect_in_content(img, content, detect_whole_leg)
    assert calls == [(600, 100)] and kept.content == content


def test_whole_image_first_tries_the_content_when_it_finds_no_whole_leg():
    img = np.zeros((1000, 100), np.float32)
    content = ContentBox(0, 200, 100, 800)
    calls = []

    def detect(view):
        calls.append(view.shape)
        if view.shape == (1000, 100):  # the whole export: the leg too small, a knee only
            return (_dets(0.9, ("knee",)), 1.0)
        return (_dets(0.8, ("hip", "diaphysis", "knee", "ankle")), 1.0)

    kept = detect_in_content(img, content, detect, content_first=False)
    assert calls == [(1000, 100), (600, 100)]
    assert kept.content == content and len(kept.detections) == 4  # a complete leg beats a higher-scoring part
    assert kept.detections[0].box.y0 == 200.0


def test_a_content_detector_reads_only_the_content():
    img = np.zeros((1000, 100), np.float32)
    content = ContentBox(0, 200, 100, 800)
    calls = []

    def detect(view):
        calls.append(("main", view.shape))
        return (_dets(0.9, ("knee",)), 1.0)  # the whole export: a knee only

    def detect_content(view):
        calls.append(("content", view.shape))
        return (_dets(0.8, ("hip", "diaphysis", "knee", "ankle")), 1.0)

    kept = detect_in_content(img, content, detect, content_first=False, detect_content=detect_content)
    assert calls == [("main", (1000, 100)), ("content", (600, 100))]
    assert kept.content == content and len(kept.detections) == 4 and kept.detections[0].box.y0 == 200.0
    calls.clear()  # read first, the content detector's reading is kept with a complete leg
    kept = detect_in_content(img, content, detect, content_first=True, detect_content=detect_content)
    assert calls == [("content", (600, 100))] and kept.content == content

    def detect_content_partial(view):  # two knees (the other leg's, half cut) scoring higher than the main one
        calls.append(("content", view.shape))
        return (_dets(0.99, ("knee", "knee")), 1.0)

    calls.clear()  # without a complete leg it is never kept, however high it scores: the main detector's is
    kept = detect_in_content(img, content, detect, content_first=True, detect_content=detect_content_partial)
    assert calls == [("content", (600, 100)), ("main", (1000, 100))]
    assert kept.content is None and len(kept.detections) == 1
    kept = detect_in_content(img, content, detect, content_first=False, detect_content=detect_content_partial)
    assert kept.content is None and len(kept.detections) == 1
    calls.clear()  # without bars the content detector never runs
    kept = detect_in_content(img, None, detect, content_first=False, detect_content=detect_content)
    assert calls == [("main", (1000, 100))] and kept.content is None


def test_engine_runs_its_content_detector_on_the_content_when_the_whole_image_has_no_leg(monkeypatch):
    from llm_viewer.pipeline.engine import InferenceEngine
    from llm_viewer.pipeline.models import build_detector

    from .conftest import tiny_config

    cfg = tiny_config()
    engine = InferenceEngine(cfg, build_detector(cfg.detector), InferenceEngine.from_config(cfg).region_models,
                             device="cpu", content_detector=build_detector(cfg.detector))
    img = np.zeros((1200, 300), np.float32)
    img[300:900] = np.random.default_rng(0).normal(100.0, 10.0, size=(600, 300))
    img[300:900, 60:100] += 200.0
    seen = []

    def fake_once(image_norm, lb=None, zoom_out=1.0, *, detector=None):
        who = "content" if detector is engine.content_detector else "main"
        seen.append((who, image_norm.shape, zoom_out))
        if who == "main":
            return [Detection("knee", Box(40.0, 500.0, 120.0, 600.0), 0.9)]
        return [Detection(r, Box(40.0, 20.0 + 140 * i, 120.0, 120.0 + 140 * i), 0.9)
                for i, r in enumerate(("hip", "diaphysis", "knee", "ankle"))]

    monkeypatch.setattr(engine, "_detect_once", fake_once)
    res = engine.analyze(img, side_cues=False)
    assert seen[0] == ("main", (1200, 300), 1.0)
    assert {s[0] for s in seen if s[1] == (600, 300)} == {"content"}  # the content crop: only the second detector
    assert res.detection_box_px == (0, 300, 300, 900)
    assert sorted(r.region for r in res.rois) == ["ankle", "diaphysis", "hip", "knee"]
