"""Detection zoomed out for views without a whole leg (llm_viewer.pipeline.multiscale)."""

from __future__ import annotations

import numpy as np
import pytest

from llm_viewer.pipeline.config import BundleError, DetectorConfig
from llm_viewer.pipeline.crop import Box, letterbox
from llm_viewer.pipeline.legs import Detection
from llm_viewer.pipeline.multiscale import (
    SWITCH_MARGIN,
    clip_to_image,
    complete_leg,
    detect_multiscale,
    mean_top_score,
)


def _det(region: str, score: float, box=(10, 10, 50, 50)) -> Detection:
    return Detection(region, Box(*map(float, box)), score)


def test_a_whole_leg_costs_no_second_pass():
    first = [_det(r, 0.9) for r in ("hip", "diaphysis", "knee", "ankle")]
    calls = []
    dets, choice = detect_multiscale(np.zeros((100, 40), np.float32), lambda f: calls.append(f) or [],
                                     first)
    assert calls == [] and dets == first and choice.zoom_out == 1.0 and choice.tried == (1.0,)
    assert complete_leg(first) and not complete_leg(first[:3])


def test_a_better_zoomed_out_pass_is_kept_and_clipped_to_the_image():
    img = np.ones((200, 100), np.float32)
    first = [_det("knee", 0.6), _det("hip", 0.55)]  # half a knee and a phantom hip
    factors = []

    def run(f):
        factors.append(f)
        if f == 1.5:  # a good knee, partly over the right edge; a box in the (virtual) padding
            return [_det("knee", 0.95, (20, 40, 110, 120)), _det("ankle", 0.9, (105, 210, 140, 260))]
        return [_det("knee", 0.7)]

    dets, choice = detect_multiscale(img, run, first, (1.5, 2.0))
    assert factors == [1.5, 2.0]
    assert choice.zoom_out == 1.5 and choice.tried == (1.0, 1.5, 2.0)
    assert [d.region for d in dets] == ["knee"]  # the ankle box lay in the padding
    assert dets[0].box.x1 == pytest.approx(99.5) and dets[0].box.x0 == 20.0  # clipped to the image
    assert choice.mean_top_score[1.0] == pytest.approx(0.575)
    with pytest.raises(ValueError):
        detect_multiscale(img, run, first, (1.0,))


def test_a_zoomed_out_letterbox_is_the_padded_image_letterboxed_without_the_copy():
    img = np.random.default_rng(0).uniform(0.2, 1.0, (300, 100)).astype(np.float32)
    padded = np.zeros((600, 200), np.float32)
    padded[:300, :100] = img
    a, b = letterbox(img, 64, 192, zoom_out=2.0), letterbox(padded, 64, 192)
    assert a.pixels.shape == b.pixels.shape == (192, 64)
    assert np.abs(a.pixels - b.pixels).max() < 0.02 and a.pixels[96:].max() == 0.0
    assert np.allclose(a.matrix, b.matrix)
    with pytest.raises(ValueError):
        letterbox(img, 64, 192, zoom_out=0.5)


def test_the_engine_runs_its_zoom_out_passes_on_the_image_itself(tiny_engine, monkeypatch):
    import llm_viewer.pipeline.engine_detect as engine_mod

    sizes = []
    real = engine_mod.letterbox
    monkeypatch.setattr(engine_mod, "letterbox", lambda im, w, h, z=1.0: sizes.append((im.shape, z)) or real(im, w, h, z))
    tiny_engine.detect(np.zeros((300, 100), np.float32))  # nothing found: both zoom-out passes run
    assert sizes == [((300, 100), 1.0), ((300, 100), 1.5), ((300, 100), 2.0)]


def test_the_first_pass_stays_unless_beaten_by_the_margin():
    first = [_det("knee", 0.8)]
    dets, choice = detect_multiscale(np.zeros((50, 50), np.float32),
                                     lambda im: [_det("knee", 0.8 + 0.5 * SWITCH_MARGIN)], first, (1.5,))
    assert choice.zoom_out == 1.0 and dets == first
    dets, choice = detect_multiscale(np.zeros((50, 50), np.float32), lambda im: [], [], (1.5, 2.0))
    assert dets == [] and choice.zoom_out == 1.0
    dets, choice = detect_multiscale(np.zeros((50, 50), np.float32), lambda im: [_det("knee", 0.99)], first, ())
    assert dets == first and choice.tried == (1.0,)


def test_helpers():
    assert mean_top_score([]) == 0.0
    assert mean_top_score([_det("knee", 0.6), _det("knee", 0.8), _det("ankle", 0.4)]) == pytest.approx(0.6)
    assert clip_to_image([_det("knee", 0.9, (0, 0, 10, 100))], 20, 30) == []  # 70 % outside
    assert len(clip_to_image([_det("knee", 0.9, (0, 0, 10, 40))], 20, 30)) == 1


def test_bundle_config_reads_and_checks_the_factors():
    base = {"arch": "mobilenet_v3_fpn", "input_width_px": 64, "input_height_px": 192}
    assert DetectorConfig.from_dict(base).zoom_out_factors == (1.5, 2.0)
    assert DetectorConfig.from_dict({**base, "zoom_out_factors": []}).zoom_out_factors == ()
    assert DetectorConfig.from_dict({**base, "zoom_out_factors": [3]}).zoom_out_factors == (3.0,)
    for bad in ([0.5], "1.5", [1.5] * 5):
        with pytest.raises(BundleError):
            DetectorConfig.from_dict({**base, "zoom_out_factors": bad})
