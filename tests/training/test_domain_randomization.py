"""Strong domain randomization and field-of-view crops of the training data."""

import numpy as np
import pytest

from training import augment
from training.datasets import DetectorDataset, _content_wh
from training.presets import AugmentConfig, lite_preset, paper_preset


def _film():
    img = np.zeros((96, 64), np.float32)
    img[:90, :60] = np.linspace(0.2, 0.8, 60)[None, :]
    img[20:30, 10:20] = 1.0
    return img


def test_randomize_stays_in_range_and_is_a_function_of_the_generator():
    img = _film()
    a = augment.randomize(img, np.random.default_rng(3))
    b = augment.randomize(img, np.random.default_rng(3))
    assert a.dtype == np.float32 and a.shape == img.shape
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)


def test_randomize_changes_appearance_widely():
    """Over many draws the same film comes out with very different contrast (the point of the exercise)."""
    img = _film()
    spreads = [float(np.std(augment.randomize(img, np.random.default_rng(i)))) for i in range(60)]
    assert max(spreads) > 1.5 * min(spreads)
    changed = [not np.allclose(augment.randomize(img, np.random.default_rng(i)), img) for i in range(20)]
    assert sum(changed) >= 18


def test_tone_curve_is_monotone():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    for i in range(20):
        y = augment.tone_curve(x, np.random.default_rng(i))
        assert np.all(np.diff(y) >= -1e-7) and y[0] == pytest.approx(0) and y[-1] == pytest.approx(1)


def test_fov_crop_keeps_boxes_in_view_and_maps_them():
    img = np.zeros((120, 60), np.float32)
    img[:100, :40] = 0.5
    img[10:20, 5:15] = 1.0  # a "hip" box target
    boxes = np.array([[5, 10, 15, 20], [25, 80, 35, 95]], np.float32)
    labels = np.array([1, 4])
    seen_partial = False
    for i in range(40):
        out, b, lab = augment.fov_crop(img, boxes, labels, (40.0, 100.0), np.random.default_rng(i))
        assert out.shape == img.shape and len(b) == len(lab)
        for box, lb in zip(b, lab):
            assert 0 <= box[0] < box[2] <= img.shape[1] + 1e-3 and 0 <= box[1] < box[3] <= img.shape[0] + 1e-3
            if lb == 1:  # the bright square moved with its box
                x0, y0, x1, y1 = (int(round(v)) for v in box)
                inner = out[y0 + 1:y1 - 1, x0 + 1:x1 - 1]
                if inner.size:
                    assert inner.mean() > 0.8
        seen_partial |= len(b) < 2
    assert seen_partial


def test_content_size_of_a_letterboxed_film():
    img = np.zeros((50, 30), np.float32)
    img[:40, :20] = 0.3
    assert _content_wh(img) == (20.0, 40.0)


def test_presets_randomize_by_default_and_detector_sees_partial_views():
    for preset in (lite_preset(), paper_preset()):
        assert preset.augment.domain_randomization > 0.5 and preset.augment.p_fov_crop > 0
    arrays = {"images": np.stack([np.round(_film() * 255).astype(np.uint8)] * 3),
              "boxes": np.array([[[10, 20, 20, 30], [5, 60, 25, 85]]] * 3, np.float32),
              "labels": np.array([[1, 3]] * 3)}
    ds = DetectorDataset(arrays, [0, 1, 2], AugmentConfig(p_fov_crop=1.0, domain_randomization=1.0), train=True)
    counts = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(3):
            x, t = ds[i]
            assert x.shape == (3, 96, 64)
            counts.add(len(t["boxes"]))
    assert min(counts) < 2  # some views cut a region out


def test_anatomical_bands_start_and_end_at_the_regions_and_zoomed_out_views_shrink():
    img = np.zeros((400, 100), np.float32)
    img[:380, :80] = 0.4
    # four regions down one narrow leg in the middle of the film (hip, diaphysis, knee, ankle)
    boxes = np.array([[36, 20, 44, 60], [36, 80, 44, 180], [36, 200, 44, 240], [36, 330, 44, 360]], np.float32)
    labels = np.array([1, 2, 3, 4])

    def ends_below_a_region(p_anatomical: float) -> float:
        """Share of views whose content ends less than a box height below the bottom of a kept box."""
        hits = []
        for i in range(80):
            out, b, _ = augment.fov_crop(img, boxes, labels, (80.0, 380.0), np.random.default_rng(i),
                                         p_anatomical=p_anatomical)
            bottom = np.flatnonzero(out.max(axis=1) > 0)[-1] + 1
            hits.append(any(0 <= bottom - bb[3] < (bb[3] - bb[1]) for bb in b))
        return float(np.mean(hits))

    # a band cut at the regions ends just below one (a knee alone, hip to knee); random bands end anywhere
    assert ends_below_a_region(1.0) > ends_below_a_region(0.0) + 0.2
    shrunk = 0
    for i in range(30):
        base = augment.fov_crop(img, boxes, labels, (80.0, 380.0), np.random.default_rng(i))[0]
        small = augment.fov_crop(img, boxes, labels, (80.0, 380.0), np.random.default_rng(i), p_zoom_out=1.0)[0]
        shrunk += (small > 0).sum() < (base > 0).sum()
        assert (small > 0).sum() <= (base > 0).sum()
    assert shrunk >= 10  # every band view (not the whole-height ones) is smaller in the canvas
