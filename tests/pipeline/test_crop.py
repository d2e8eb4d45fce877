"""Exact geometry: crop, letterbox and back-mapping round trips hold to 0.01 px."""

from __future__ import annotations

import numpy as np
import pytest

from llm_viewer.pipeline.config import IntensityConfig
from llm_viewer.pipeline.crop import (
    Box,
    apply_affine,
    apply_affine_box,
    circular_masks,
    crop_affine,
    from_normalized,
    invert_affine,
    letterbox,
    normalize_intensity,
    to_normalized,
    warp_crop,
)


@pytest.mark.parametrize("mirror", [False, True])
def test_point_round_trip_through_crop_and_normalised_coords(mirror):
    rng = np.random.default_rng(1)
    for _ in range(50):
        x0, y0 = rng.uniform(0, 3000, 2)
        box = Box(x0, y0, x0 + rng.uniform(20, 900), y0 + rng.uniform(20, 900))
        m = crop_affine(box, int(rng.choice([32, 128, 512])), margin=rng.uniform(0, 0.3), mirror=mirror)
        size = 128
        m = crop_affine(box, size, margin=0.1, mirror=mirror)
        pts = rng.uniform(-100, 4000, (20, 2))
        norm = to_normalized(apply_affine(m, pts), size)
        back = apply_affine(invert_affine(m), from_normalized(norm, size))
        assert np.abs(back - pts).max() < 0.01


def test_crop_extent_maps_box_square_onto_crop_edges():
    box = Box(100.0, 50.0, 140.0, 250.0)  # 40 x 200: square side 200 centred at (120, 150)
    m = crop_affine(box, 64)
    edges = apply_affine(m, np.array([[120 - 100 - 0.0, 50.0], [120 + 100, 250.0]]))
    np.testing.assert_allclose(edges, [[-0.5, -0.5], [63.5, 63.5]], atol=1e-9)
    mm = crop_affine(box, 64, mirror=True)
    np.testing.assert_allclose(apply_affine(mm, np.array([20.0, 50.0])), [63.5, -0.5], atol=1e-9)


def _blob(shape, cx, cy, sigma):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)


@pytest.mark.parametrize("box_side,mirror", [(48.0, False), (64.0, True), (200.0, False), (400.0, True), (1000.0, False)])
def test_image_content_round_trip_to_a_hundredth_of_a_pixel(box_side, mirror):
    """A blob's centre found in the crop and mapped back lands on its true sub-pixel position."""
    size = 64
    k = box_side / size
    cx, cy = 1001.37, 1012.81
    img = _blob((2100, 2000), cx, cy, sigma=5.0 * max(1.0, k))
    box = Box(cx - box_side / 2 + 7.3, cy - box_side / 2 - 4.1, cx + box_side / 2 + 7.3, cy + box_side / 2 - 4.1)
    m = crop_affine(box, size, mirror=mirror)
    crop = warp_crop(img, m, size).astype(np.float64)
    yy, xx = np.mgrid[0:size, 0:size]
    c = np.array([(crop * xx).sum() / crop.sum(), (crop * yy).sum() / crop.sum()])
    back = apply_affine(invert_affine(m), c)
    assert np.hypot(*(back - [cx, cy])) < 0.01


def test_warp_crop_outside_image_is_zero_and_shape_is_fixed():
    img = np.ones((100, 100), np.float32)
    crop = warp_crop(img, crop_affine(Box(500, 500, 600, 600), 32), 32)
    assert crop.shape == (32, 32) and float(crop.max()) == 0.0


def test_letterbox_maps_points_and_boxes_exactly():
    img = np.zeros((8100, 2800), np.float32)
    img[4000:4010, 1400:1410] = 1.0
    lb = letterbox(img, 512, 1536)
    assert lb.pixels.shape == (1536, 512)
    # aspect preserved, padding right
    s = lb.matrix[0, 0]
    assert abs(lb.matrix[1, 1] - s) / s < 2e-3
    p = np.array([[1404.5, 4004.5], [0.0, 0.0], [2799.0, 8099.0]])
    np.testing.assert_allclose(apply_affine(invert_affine(lb.matrix), apply_affine(lb.matrix, p)), p, atol=1e-6)
    # image extent maps onto the resampled extent
    ext = apply_affine(lb.matrix, np.array([[-0.5, -0.5], [2799.5, 8099.5]]))
    nw = 512
    nh = int(round(8100 * 512 / 2800))
    np.testing.assert_allclose(ext, [[-0.5, -0.5], [nw - 0.5, nh - 0.5]], atol=1e-6)
    # the bright square is where the matrix says it is
    ys, xs = np.nonzero(lb.pixels > 0)
    centre = apply_affine(lb.matrix, np.array([1404.5, 4004.5]))
    w = lb.pixels[ys, xs]
    np.testing.assert_allclose([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()], centre, atol=0.1)
    b = Box(10, 20, 300, 900)
    b2 = apply_affine_box(invert_affine(lb.matrix), apply_affine_box(lb.matrix, b))
    np.testing.assert_allclose([b2.x0, b2.y0, b2.x1, b2.y1], [10, 20, 300, 900], atol=1e-6)


def test_circular_masks_are_discs_at_the_points():
    m = circular_masks(np.array([[10.0, 20.0], [40.0, 5.0]]), 64, 4.0)
    assert m.shape == (2, 64, 64)
    assert m[0, 20, 10] == 1 and m[0, 20, 15] == 0 and m[0, 24, 10] == 1
    assert abs(m[0].sum() - np.pi * 16) < 8
    ys, xs = np.nonzero(m[1])
    assert abs(xs.mean() - 40) < 1e-9 and abs(ys.mean() - 5) < 1e-9


def test_normalize_intensity_is_robust_and_handles_constant_and_nan():
    rng = np.random.default_rng(0)
    img = rng.uniform(1000, 2000, (200, 100)).astype(np.float32)
    img[0, 0] = 1e9  # outlier (a marker) must not squash the range
    out = normalize_intensity(img, IntensityConfig())
    assert out.dtype == np.float32 and out.min() == 0 and out.max() == 1
    assert 0.4 < float(np.median(out)) < 0.6
    assert not normalize_intensity(np.full((10, 10), 7.0, np.float32), IntensityConfig()).any()
    img[5, 5] = np.nan
    assert np.isfinite(normalize_intensity(img, IntensityConfig())).all()
