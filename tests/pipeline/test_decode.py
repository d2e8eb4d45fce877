"""Decoding maps into points and trust: peaks, thresholded centroids, diaphysis geometry, formula."""

from __future__ import annotations

import cv2
import numpy as np

from llm_viewer.pipeline.decode import diaphysis_point, map_peak, sgr_uncertainty, threshold_centroid


def _disc(size, cx, cy, r, value=0.9):
    yy, xx = np.mgrid[0:size, 0:size]
    return np.where((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r, value, 0.01).astype(np.float32)


def test_map_peak_finds_a_disc_centre_sub_pixel():
    peak, c = map_peak(_disc(64, 20.5, 30.5, 4), 8)
    assert abs(peak - 0.9) < 1e-6 and np.hypot(c[0] - 20.5, c[1] - 30.5) < 0.2


def test_threshold_centroid_counts_blobs_and_keeps_the_largest():
    prob = np.maximum(_disc(64, 20, 20, 5), _disc(64, 50, 50, 2))
    c, n = threshold_centroid(prob)
    assert n == 2 and np.allclose(c, [20, 20])
    assert threshold_centroid(np.zeros((8, 8), np.float32)) == (None, 0)


def test_uncertainty_formula():
    assert sgr_uncertainty(3.0, 4.0, 0.9, 400) == 5.0
    assert sgr_uncertainty(0.0, 0.0, 0.25, 400) == 50.0  # half-confident map: + L/8


def _bar(angle_deg, size=128, half_w=8, top=10, bottom=100, cx=64):
    """A tilted shaft whose distal cross-section midpoint is (cx, bottom) in the image."""
    img = np.zeros((size, size), np.uint8)
    a = np.radians(angle_deg)
    axis = np.array([np.sin(a), np.cos(a)])
    perp = np.array([axis[1], -axis[0]])
    end = np.array([cx, bottom], float)
    start = end - axis * (bottom - top)
    poly = np.array([start + perp * half_w, end + perp * half_w, end - perp * half_w, start - perp * half_w])
    cv2.fillPoly(img, [np.round(poly * 16).astype(np.int32)], 1, shift=4)
    return img.astype(np.float32) * 0.95, end


def test_diaphysis_point_is_the_midpoint_of_the_distal_cross_section():
    for angle in (0.0, 8.0, -12.0):
        prob, end = _bar(angle)
        prob[5:8, 100:104] = 0.9  # speck removed by the opening / largest component
        dp = diaphysis_point(prob)
        assert dp.point_xy is not None and not dp.touches_border
        assert np.hypot(*(dp.point_xy - end)) < 2.0, (angle, dp.point_xy, end)
        assert 14 <= dp.width_px <= 20 and dp.score > 0.9


def test_diaphysis_point_reports_empty_masks_and_border_contact():
    assert diaphysis_point(np.zeros((64, 64), np.float32)).point_xy is None
    prob, _ = _bar(0, bottom=127)
    assert diaphysis_point(prob).touches_border
