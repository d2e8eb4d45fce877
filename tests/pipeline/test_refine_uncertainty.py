"""The refined point's uncertainty comes from its own probability map."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


class _BlobModel(torch.nn.Module):
    """Stands in for a refinement U-Net: the same wide, low blob (peak ≈ 0.41) at the patch centre."""

    def forward(self, x):
        n, _, s, _ = x.shape
        yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
        d2 = (xx - (s - 1) / 2) ** 2 + (yy - (s - 1) / 2) ** 2
        prob = 0.412 * torch.exp(-d2 / (2 * (s / 8) ** 2))
        return torch.logit(prob.clamp(1e-6, 1 - 1e-6)).expand(n, 1, s, s).float()


@pytest.mark.parametrize("flag_peak,flag_factor,expected", [(0.5, 8.0, True), (0.25, 2.0, True), (0.25, 3.0, False)])
def test_refined_flag_uses_the_regions_own_thresholds(flag_peak, flag_factor, expected):
    from llm_viewer.pipeline.config import default_region_config
    from llm_viewer.pipeline.engine import AnalysisResult, LandmarkPrediction, LegPrediction, RoiBox
    from llm_viewer.pipeline.refine import Refiner, default_refine_config

    cfg = default_refine_config("hip", input_size_px=64, patch_fraction=0.5, mask_radius_px=6.0, min_peak=0.15,
                                flag_peak=flag_peak, flag_factor=flag_factor)
    refiner = Refiner({"hip": (cfg, _BlobModel())})
    point = LandmarkPrediction(100.0, 100.0, 0.9, 3.0, None, flagged=False)
    result = AnalysisResult({"right": LegPrediction("right", {"femoral_head": point}, [])},
                            [RoiBox("right", "hip", 50, 50, 150, 150, 0.9)], [], {}, "m", "cpu")
    norm = np.zeros((300, 300), np.float32)
    assert refiner.apply(norm, result, {"hip": default_region_config("hip")}) == 2
    assert result.legs["right"].landmarks["femoral_head"].flagged is expected
