"""Overlay lines are cut to the view before drawing (drag speed at high zoom): the cut itself."""

from __future__ import annotations

import pytest

from llm_viewer.gui.overlays import clip_segment

RECT = (0.0, 0.0, 100.0, 50.0)


def test_segment_inside_is_unchanged():
    assert clip_segment(10, 10, 90, 40, RECT) == (10, 10, 90, 40)


def test_long_segment_is_cut_at_the_edges_and_keeps_its_direction():
    x0, y0, x1, y1 = clip_segment(-100, 25, 300, 25, RECT)
    assert (x0, y0, x1, y1) == pytest.approx((0, 25, 100, 25))
    x0, y0, x1, y1 = clip_segment(50, -1000, 50, 1000, RECT)
    assert (x0, y0, x1, y1) == pytest.approx((50, 0, 50, 50))
    x0, y0, x1, y1 = clip_segment(-50, -25, 150, 75, RECT)  # diagonal through both corners' region
    assert (x0, y0, x1, y1) == pytest.approx((0, 0, 100, 50))


def test_segment_outside_is_dropped():
    assert clip_segment(-10, -10, -1, 60, RECT) is None
    assert clip_segment(110, 0, 200, 50, RECT) is None
    assert clip_segment(0, 60, 100, 70, RECT) is None
