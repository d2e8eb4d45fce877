"""Negative views for the detector (training/negatives.py): no complete region survives in any of them."""

import numpy as np
import pytest
import torch

from training import negatives
from training.datasets import DetectorDataset
from training.presets import AugmentConfig, lite_preset, paper_preset


def _film():
    """A letterboxed 'film': a bright disc (a femoral head) in a hip box, a shaft, a knee box, a gap, an ankle box."""
    img = np.zeros((192, 96), np.float32)
    img[:180, :80] = 0.3
    yy, xx = np.mgrid[0:192, 0:96]
    img[(yy - 20) ** 2 + (xx - 30) ** 2 < 100] = 1.0
    img[30:100, 27:33] = 0.8
    boxes = np.array([[15, 5, 45, 35], [20, 30, 40, 100], [15, 95, 50, 125], [15, 150, 45, 178]], np.float32)
    return img, boxes


@pytest.mark.parametrize("kind", negatives.KINDS)
def test_each_kind_is_a_letterboxed_image_in_range_and_repeatable(kind):
    img, boxes = _film()
    a = negatives.negative_view(img, boxes, (80.0, 180.0), np.random.default_rng(4), kind)
    b = negatives.negative_view(img, boxes, (80.0, 180.0), np.random.default_rng(4), kind)
    assert a.shape == img.shape and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0.01
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, img)


def test_jigsaw_breaks_the_femoral_head_apart():
    """The disc of radius 10 px no longer appears whole: tiles are smaller than the smallest region."""
    img, boxes = _film()
    for seed in range(5):
        out = negatives.negative_view(img, boxes, (80.0, 180.0), np.random.default_rng(seed), "jigsaw")
        bright = (out > 0.95).astype(np.uint8)
        import cv2

        n, _, stats, _ = cv2.connectedComponentsWithStats(bright)
        assert n == 1 or stats[1:, cv2.CC_STAT_AREA].max() < 0.8 * np.pi * 100


def test_gap_band_holds_only_rows_no_box_touches():
    img, boxes = _film()
    img2 = img.copy()
    img2[125:150, :80] = np.linspace(0.0, 1.0, 80)[None, :]  # the only free band is 127..148: mark it
    out = negatives.negative_view(img2, boxes, (80.0, 180.0), np.random.default_rng(0), "gap")
    content = out[out.max(axis=1) > 0]
    # a letterboxed copy of the marked band: its left-to-right ramp, never the disc
    assert content.shape[0] > 0 and out.max() <= 1.0
    cols = content[:, : int((content > 0).sum(axis=1).max())]
    assert np.all(np.diff(cols.mean(axis=0)) >= -0.02)


def test_gap_falls_back_to_jigsaw_when_every_row_holds_a_region():
    img, _ = _film()
    full = np.array([[0, 0, 80, 180]], np.float32)
    out = negatives.negative_view(img, full, (80.0, 180.0), np.random.default_rng(0), "gap")
    assert out.shape == img.shape and not np.allclose(out, img)


def test_unknown_kind_is_refused():
    img, boxes = _film()
    with pytest.raises(ValueError, match="unknown negative kind"):
        negatives.negative_view(img, boxes, (80.0, 180.0), np.random.default_rng(0), "chest")


def test_detector_dataset_yields_empty_targets_for_negatives_and_presets_use_them():
    for preset in (lite_preset(), paper_preset()):
        assert 0 < preset.augment.p_negative < 0.5
    img, boxes = _film()
    arrays = {"images": np.stack([np.round(img * 255).astype(np.uint8)] * 4),
              "boxes": np.stack([boxes] * 4), "labels": np.array([[1, 2, 3, 4]] * 4)}
    ds = DetectorDataset(arrays, [0, 1, 2, 3], AugmentConfig(p_negative=0.5), train=True)
    sizes = []
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(4):
            x, t = ds[i]
            assert x.shape == (3, 192, 96) and t["boxes"].shape[1] == 4
            assert t["boxes"].dtype == torch.float32 and len(t["labels"]) == len(t["boxes"])
            sizes.append(len(t["boxes"]))
    assert 0 in sizes and 4 in sizes
    off = DetectorDataset(arrays, [0, 1, 2, 3], AugmentConfig(p_negative=0.0), train=True)
    assert all(len(off[i][1]["boxes"]) == 4 for i in range(4))


def test_a_torchvision_detector_trains_on_an_empty_target():
    """Faster R-CNN accepts a negative image: the loss is finite and only the classifier/objectness terms act."""
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn

    torch.manual_seed(0)
    model = fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=5,
                                              min_size=192, max_size=192)
    model.train()
    x = torch.rand(3, 192, 96)
    losses = model([x], [{"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)}])
    total = sum(losses.values())
    assert torch.isfinite(total) and losses["loss_box_reg"].item() == 0.0
