"""Unit tests of the training pieces: metrics, schedules, checkpoints, backbone loading, crop consistency."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from llm_viewer.pipeline.config import default_region_config
from llm_viewer.pipeline.crop import apply_affine, crop_affine, normalize_intensity, to_normalized, warp_crop
from llm_viewer.pipeline.models import build_landmark_model
from training import checkpoint
from training import evalmetrics as em
from training.data import build_cache, load_npz, read_store
from training.datasets import RegionDataset
from training.presets import get_preset, paper_preset
from training.train import load_backbone, lr_at


def test_average_precision_counts_false_positives_and_misses():
    gt = {"a": [[0, 0, 10, 10]], "b": [[0, 0, 10, 10]]}
    assert em.average_precision([("a", 0.9, [0, 0, 10, 10]), ("b", 0.8, [0, 0, 10, 10])], gt, 0.5) == 1.0
    half = em.average_precision([("a", 0.9, [0, 0, 10, 10])], gt, 0.5)
    assert half == pytest.approx(51 / 101)  # recall reaches 0.5 only
    fp_first = em.average_precision([("a", 0.95, [50, 50, 60, 60]), ("a", 0.9, [0, 0, 10, 10]),
                                     ("b", 0.8, [0, 0, 10, 10])], gt, 0.5)
    assert 0.5 < fp_first < 1.0
    assert em.average_precision([("a", 0.9, [2, 0, 12, 10])], {"a": [[0, 0, 10, 10]]}, 0.75) == 0.0  # IoU 0.67


def test_detection_rates_treat_missing_as_failures():
    rates = em.detection_rates([0.4, 1.2, math.inf, 20.0])
    assert rates[0] == 25.0 and rates[2] == 50.0 and rates[-1] == 50.0 and len(rates) == 20


def test_paper_schedule_divides_detector_lr_by_ten_every_ten_epochs():
    det = paper_preset().detector
    assert [lr_at(det, e, det.lr) for e in (0, 9, 10, 25, 49)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5, 1e-7])
    assert paper_preset().landmark.lr == 1e-5 and paper_preset().landmark.epochs == 100
    assert paper_preset().bundle.regions["hip"].mask_radius_px == 15.0


def test_ablation_presets_switch_the_landmark_method_only():
    p = get_preset("lite", landmark_method="regression")
    assert {r: c.method for r, c in p.bundle.regions.items()} == {
        "hip": "regression", "diaphysis": "mask", "knee": "regression", "ankle": "regression"}
    with pytest.raises(ValueError):
        get_preset("huge")


def test_checkpoint_round_trip_restores_adam_state(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.rand(4, 3)).sum().backward()
    opt.step()
    checkpoint.save_checkpoint(tmp_path, model.state_dict(), opt, {"epoch": 3, "best_score": 1.5, "best_epoch": 2},
                               best=True)
    model2 = torch.nn.Linear(3, 2)
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.5)
    meta = checkpoint.load_checkpoint(tmp_path, model2, opt2)
    assert meta["epoch"] == 3 and opt2.param_groups[0]["lr"] == 0.1
    for p, q in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p, q)
        assert torch.equal(opt.state[p]["exp_avg_sq"], opt2.state[q]["exp_avg_sq"])
    assert checkpoint.load_best(tmp_path) is not None
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))  # never pickled


def test_backbone_weights_load_into_every_encoder(tmp_path):
    import torchvision

    tv = torchvision.models.vgg11_bn(weights=None)
    path = tmp_path / "vgg11_bn.pth"
    torch.save(tv.state_dict(), path)
    model = build_landmark_model(default_region_config("knee", base_width=64, input_size_px=32, in_channels=1))
    n = load_backbone(model, str(path))
    assert n > 0
    src = tv.features.state_dict()
    unet = model.unet.encoder.features.state_dict()
    assert torch.allclose(unet["0.weight"], src["0.weight"].sum(dim=1, keepdim=True))  # grey = sum of RGB
    assert torch.equal(unet["4.weight"], src["4.weight"])
    assert torch.equal(model.regressor.encoder.features.state_dict()["4.weight"], src["4.weight"])


def test_cached_training_crop_equals_the_inference_crop(tiny_store, tmp_path):
    """Eval-mode crops from the cache match crops the engine takes from the image (mirroring included)."""
    from llm_viewer.core.imageio import load_image

    preset = get_preset("lite")
    cases = read_store(tiny_store)
    cache = build_cache(cases[:1], preset, tmp_path)
    arrays = load_npz(cache / "region_knee.npz")
    cfg = preset.bundle.regions["knee"]
    ds = RegionDataset(arrays, range(len(arrays["side"])), cfg, preset.augment, train=False, jitter=False)
    case = cases[0]
    norm = normalize_intensity(load_image(case.image_path).pixels, preset.bundle.intensity)
    for i, side in enumerate(arrays["side"]):
        x, masks, coords = ds[i]
        m = crop_affine(case.rois[(side, "knee")], cfg.input_size_px, margin=cfg.margin, mirror=side == "left")
        direct = warp_crop(norm, m, cfg.input_size_px)
        truth = apply_affine(m, np.array([case.landmarks[side][k] for k in cfg.landmark_ids]))
        assert np.allclose(coords.numpy(), to_normalized(truth, cfg.input_size_px), atol=1e-5)
        assert np.corrcoef(x[0].numpy().ravel(), direct.ravel())[0, 1] > 0.97
        assert masks.shape == (5, cfg.input_size_px, cfg.input_size_px) and masks.sum() > 0


def test_refine_patches_are_offset_like_the_first_stage_and_keep_their_landmark(tiny_store, tmp_path):
    """Training offsets follow the preset (lite: up to 0.45 of the side), the target disc stays inside the patch."""
    from training.datasets import RefineDataset

    preset = get_preset("lite")
    assert preset.refine_offset_max == 0.45 and preset.refine["knee"].patch_fraction == 0.35
    cache = build_cache(read_store(tiny_store)[:1], preset, tmp_path)
    arrays = load_npz(cache / "refine_knee.npz")
    cfg = preset.refine["knee"]
    p = cfg.input_size_px
    idx = np.repeat(np.arange(len(arrays["index"])), 20)
    far = RefineDataset(arrays, idx, cfg, preset.augment, train=True, seed=1,
                        offset_sd=preset.refine_offset_sd, offset_max=preset.refine_offset_max)
    near = RefineDataset(arrays, idx, cfg, preset.augment, train=True, seed=1, offset_sd=0.05, offset_max=0.1)
    d_far = np.array([np.abs(far[i][3].numpy() - (p - 1) / 2).max() for i in range(len(far))])
    d_near = np.array([np.abs(near[i][3].numpy() - (p - 1) / 2).max() for i in range(len(near))])
    assert d_near.max() <= 0.1 * p * 1.2 + 1  # rotation and scale jitter add a little
    assert d_far.max() > 0.3 * p and d_far.max() <= 0.45 * p * 1.2 + 1
    for i in range(0, len(far), 7):
        mask = far[i][2]
        assert mask.shape == (p, p) and mask.sum() > 0
    with pytest.raises(ValueError, match="offset"):
        RefineDataset(arrays, idx, cfg, preset.augment, train=True, offset_max=0.6)


def test_compact_detector_is_rebalanced_for_training_without_changing_its_output():
    """The export's exact fc6×2^k / fc7÷2^k trick is undone before fine-tuning (Adam blew it up)."""
    from llm_viewer.pipeline.config import DetectorConfig
    from llm_viewer.pipeline.models import build_detector
    from training.export import FC6, FC7, compact_state, rebalance_detector_head

    torch.manual_seed(0)
    det = build_detector(DetectorConfig(arch="mobilenet_v3_fpn", input_width_px=64, input_height_px=192)).eval()
    compact = compact_state(det.state_dict(), fc8=True)
    ratio = lambda s: float(s[FC6].float().pow(2).mean().sqrt() / s[FC7].float().pow(2).mean().sqrt())  # noqa: E731
    assert ratio(compact) > 1e4  # what the export ships
    balanced = rebalance_detector_head(compact)
    assert 1 / 64 <= ratio(balanced) <= 64
    a = build_detector(DetectorConfig(arch="mobilenet_v3_fpn", input_width_px=64, input_height_px=192)).eval()
    b = build_detector(DetectorConfig(arch="mobilenet_v3_fpn", input_width_px=64, input_height_px=192)).eval()
    a.load_state_dict(compact)
    b.load_state_dict(balanced)
    feats = torch.rand(2, 256, 7, 7)  # pooled ROI features, what the box head sees
    with torch.inference_mode():
        fa, fb = a.roi_heads.box_head(feats), b.roi_heads.box_head(feats)
    assert fa.abs().max() > 0 and torch.allclose(fa, fb, rtol=1e-4, atol=1e-6)
    assert rebalance_detector_head(balanced)[FC7] is balanced[FC7]  # already balanced: unchanged


def test_training_data_fingerprint_changes_with_content_not_only_ids(tiny_store):
    """Stores made with the same seed by two generator versions share ids and names but not pixels."""
    import dataclasses

    from training.data import store_fingerprint

    cases = read_store(tiny_store)
    assert all(c.content_sha256 for c in cases)
    same = store_fingerprint(read_store(tiny_store))
    assert store_fingerprint(cases) == same
    changed = [dataclasses.replace(cases[0], content_sha256="0" * 64 + ":" + "1" * 64), *cases[1:]]
    assert store_fingerprint(changed) != same


def test_detector_cache_crops_padding_bars_like_inference(tmp_path):
    """A one-leg export with black bars: the cached canvas is its content letterboxed, boxes on the bone."""
    import cv2

    from llm_viewer.pipeline.crop import Box, detection_crop, letterbox
    from training.data import CaseRecord, _process_case, cache_spec

    rng = np.random.default_rng(0)
    img = np.zeros((1024, 128), np.uint8)
    img[200:800] = rng.integers(40, 90, size=(600, 128))
    img[500:560, 40:90] = 230  # the "knee"
    path = tmp_path / "export.png"
    cv2.imwrite(str(path), img)
    spec = cache_spec(get_preset("lite"))
    assert spec["det_content_crop"] is True
    case = CaseRecord("c", "train", path, None, {}, {("right", "knee"): Box(39.5, 499.5, 89.5, 559.5)}, {})
    canvas, boxes, labels = _process_case((case, {**spec, "regions": {}, "refine": {}}))["detector"]
    norm = normalize_intensity(img.astype(np.float32), get_preset("lite").bundle.intensity)
    content = detection_crop(norm, spec["det_w"], spec["det_h"])
    assert content is not None and (content.y0, content.y1) == (200, 800)
    expected = letterbox(norm[200:800], spec["det_w"], spec["det_h"]).pixels
    assert np.abs(canvas / 255.0 - expected).max() < 0.01
    (x0, y0, x1, y1), = boxes
    assert labels.tolist() == [3]
    inside = canvas[int(y0) + 2:int(y1) - 2, int(x0) + 2:int(x1) - 2]
    assert inside.size > 0 and inside.min() > 200  # the box is on the bright square in the canvas
    assert canvas[int(y1) + 4:int(y1) + 10, int(x0):int(x1)].max() < 200
