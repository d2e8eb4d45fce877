"""Tiny random-weight models and hand-made boxes shared by the pipeline tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llm_viewer.core.landmarks import REGIONS
from llm_viewer.pipeline.config import BundleConfig, DetectorConfig, default_region_config
from llm_viewer.pipeline.crop import Box
from llm_viewer.pipeline.legs import Detection

torch.set_num_threads(1)


def tiny_config(method: str = "sgr", depth: int = 11) -> BundleConfig:
    return BundleConfig(
        name="tiny",
        version="0.0",
        detector=DetectorConfig(arch="mobilenet_v3_fpn", input_width_px=64, input_height_px=192,
                                rpn_pre_nms_top_n=50, rpn_post_nms_top_n=20, detections_per_img=10),
        regions={r: default_region_config(r, method=method, depth=depth, base_width=4, input_size_px=32,
                                          regressor_hidden=16)
                 for r in REGIONS},
        training_data_fingerprint="test",
    )


def leg_boxes(cx: float, *, top: float = 20.0, step: float = 140.0, half_w: float = 40.0, score: float = 0.9,
              regions=REGIONS, dx_per_region: float = 0.0) -> list[Detection]:
    """A vertical chain of boxes (hip at the top), optionally shifted by ``dx_per_region`` per step."""
    out = []
    for i, r in enumerate(REGIONS):
        if r not in regions:
            continue
        x = cx + i * dx_per_region
        out.append(Detection(r, Box(x - half_w, top + i * step, x + half_w, top + i * step + 100), score))
    return out


def two_leg_boxes() -> list[Detection]:
    return leg_boxes(80) + leg_boxes(220)


@pytest.fixture(scope="session")
def tiny_engine():
    from llm_viewer.pipeline.engine import InferenceEngine

    return InferenceEngine.from_config(tiny_config(), device="cpu", seed=0)


@pytest.fixture()
def leg_image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.normal(100.0, 10.0, size=(600, 300)).astype(np.float32)
    img[:, 60:100] += 200.0  # two bright "bones"
    img[:, 200:240] += 200.0
    return img
