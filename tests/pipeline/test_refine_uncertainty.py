"""The refined point's uncertainty comes from its own probability map."""

from __future__ import annotations

import numpy as np
import pytest

from llm_viewer.pipeline.refine import refined_uncertainty_px


def _disc(size, centre, radius, value=1.0):
    yy, xx = np.mgrid[0:size, 0:size]
    return (((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) <= radius**2).astype(np.float32) * value


def test_crisp_confident_disc_is_about_radius_over_sqrt2():
    prob = _disc(64, (32, 32), 6)
    u = refined_uncertainty_px(prob, np.array([32.0, 32.0]), 1.0, 6.0, k=1.0)
    assert u == pytest.approx(6 / np.sqrt(2), rel=0.1)
    # scales with original px per patch px
    assert refined_uncertainty_px(prob, np.array([32.0, 32.0]), 1.0, 6.0, k=2.5) == pytest.approx(2.5 * u)


def test_weak_peak_and_smeared_or_double_maps_are_less_certain():
    c = np.array([32.0, 32.0])
    crisp = refined_uncertainty_px(_disc(64, (32, 32), 6), c, 1.0, 6.0, k=1.0)
    weak = refined_uncertainty_px(_disc(64, (32, 32), 6, 0.4), c, 0.4, 6.0, k=1.0)
    smeared = refined_uncertainty_px(_disc(64, (32, 32), 14, 0.9), c, 0.9, 6.0, k=1.0)
    double = refined_uncertainty_px(_disc(64, (32, 32), 6) + _disc(64, (46, 32), 6), c, 1.0, 6.0, k=1.0)
    assert weak > crisp + 6 and smeared > crisp and double > crisp
