"""Reading the lead side marker (pipeline/marker.py): letters of the generator's kind, plain and mirrored."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from llm_viewer.pipeline.marker import classify_letter, marker_warnings, read_side_markers


def _film(letter: str | None, *, mirrored: bool = False, size=(1200, 420), letter_px: int = 40, seed: int = 0,
          at=(60, 120)) -> np.ndarray:
    """A grey film with two bright 'bones' and, optionally, a lead letter in a frame (as synth/overlays draws)."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.full(size, 0.3, np.float32) + rng.normal(0, 0.02, size).astype(np.float32)
    img[:, 120:180] += 0.35  # wide bright structures (bones) must not read as letters
    img[:, 260:300] += 0.3
    if letter is not None:
        tile = np.zeros((letter_px + 16, letter_px + 16), np.uint8)
        cv2.rectangle(tile, (2, 2), (tile.shape[1] - 3, tile.shape[0] - 3), 110, 2)
        scale = letter_px / 22.0 * 0.75
        (tw, th), _ = cv2.getTextSize(letter, cv2.FONT_HERSHEY_DUPLEX, scale, max(1, letter_px // 9))
        cv2.putText(tile, letter, ((tile.shape[1] - tw) // 2, (tile.shape[0] + th) // 2), cv2.FONT_HERSHEY_DUPLEX,
                    scale, 255, max(1, letter_px // 9), cv2.LINE_AA)
        x, y = at
        img[y:y + tile.shape[0], x:x + tile.shape[1]] += tile.astype(np.float32) / 255.0 * 0.6
    img = np.clip(img, 0, 1)
    return np.ascontiguousarray(img[:, ::-1]) if mirrored else img


@pytest.mark.parametrize("letter", ["R", "L"])
@pytest.mark.parametrize("mirrored", [False, True])
def test_reads_the_letter_and_whether_it_is_mirrored(letter, mirrored):
    r = read_side_markers(_film(letter, mirrored=mirrored))
    assert r, "marker not read"
    assert (r[0].letter, r[0].mirrored) == (letter, mirrored)
    x0, y0, x1, y1 = r[0].box_px
    expect_x = 60 if not mirrored else 420 - 60 - 56
    assert abs(x0 - expect_x) < 30 and 110 < y0 < 150 and 20 < y1 - y0 < 60


def test_nothing_read_without_a_marker_or_on_noise():
    assert read_side_markers(_film(None)) == []
    noise = cv2.GaussianBlur(np.random.default_rng(3).uniform(0, 1, (800, 300)).astype(np.float32), (0, 0), 3)
    assert read_side_markers(noise) == []
    assert read_side_markers(np.zeros((20, 20), np.float32)) == []


def test_classify_letter_margin_separates_plain_and_mirrored():
    canvas = np.zeros((80, 80), np.uint8)
    cv2.putText(canvas, "R", (10, 70), cv2.FONT_HERSHEY_SIMPLEX, 2.2, 255, 5)
    ys, xs = np.nonzero(canvas)
    crop = (canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1] > 127).astype(np.float32)
    (letter, mirrored), score, margin = classify_letter(crop)
    assert (letter, mirrored) == ("R", False) and score > 0.8 and margin > 0.1
    (letter, mirrored), _, _ = classify_letter(crop[:, ::-1])
    assert (letter, mirrored) == ("R", True)


def test_warnings_for_a_mirrored_marker_and_a_contradicting_single_leg():
    from llm_viewer.pipeline.marker import MarkerReading

    mirrored = [MarkerReading("R", True, 0.8, 0.3, (0, 0, 10, 10))]
    w = marker_warnings(mirrored, {"left": object()})
    assert len(w) == 1 and "mirrored" in w[0] and "left" in w[0]
    plain_r = [MarkerReading("R", False, 0.9, 0.3, (0, 0, 10, 10))]
    assert marker_warnings(plain_r, {"right": object()}) == []
    assert "check the side" in marker_warnings(plain_r, {"left": object()})[0]
    assert marker_warnings(plain_r, {"right": object(), "left": object()}) == []
    assert marker_warnings([], {"left": object()}) == []


def test_engine_reports_the_marker_and_warns_when_mirrored(tiny_engine):
    from tests.pipeline.conftest import two_leg_boxes

    img = _film("R", mirrored=True, size=(600, 300), letter_px=36, at=(30, 60))
    res = tiny_engine.analyze(img * 1000.0, detections=two_leg_boxes())
    assert res.side_markers and res.side_markers[0].mirrored and res.side_markers[0].letter == "R"
    assert res.mirrored_suspect and any("stored mirrored" in w for w in res.warnings)
