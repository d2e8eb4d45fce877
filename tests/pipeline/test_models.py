"""Architectures: output shapes of every variant, loss, detector, pretrained-encoder layout."""

from __future__ import annotations

import pytest
import torch

from llm_viewer.pipeline.config import DetectorConfig, default_region_config, lite_config, paper_config
from llm_viewer.pipeline.losses import landmark_loss, sgr_loss
from llm_viewer.pipeline.models import (
    DirectRegModel,
    DirectSegModel,
    SGRModel,
    VGGUNet,
    build_detector,
    build_landmark_model,
    load_vgg_encoder,
)


@pytest.mark.parametrize("depth", [11, 16])
def test_vgg_unet_returns_one_map_per_output_at_input_size(depth):
    net = VGGUNet(3, 5, depth=depth, base_width=4).eval()
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 5, 64, 64)


@pytest.mark.parametrize("method,maps,coords", [("sgr", True, True), ("segmentation", True, False),
                                                ("regression", False, True)])
def test_variants_share_one_output_type(method, maps, coords):
    cfg = default_region_config("knee", method=method, base_width=4, input_size_px=32, regressor_hidden=8)
    model = build_landmark_model(cfg).eval()
    out = model(torch.rand(3, 1, 32, 32))
    assert (out.seg_logits is not None) == maps and (out.coords is not None) == coords
    if maps:
        assert out.seg_logits.shape == (3, 5, 32, 32)
    if coords:
        assert out.coords.shape == (3, 5, 2)
    target_masks = torch.zeros(3, 5, 32, 32)
    target_masks[:, :, 10:14, 10:14] = 1
    loss = landmark_loss(out, target_masks, torch.full((3, 5, 2), 0.4))
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()


def test_sgr_loss_is_weighted_dicece_plus_mse():
    model = SGRModel(1, 2, depth=11, base_width=4, hidden=8)
    out = model(torch.rand(2, 1, 32, 32))
    masks = torch.zeros(2, 2, 32, 32)
    coords = torch.rand(2, 2, 2)
    seg_only = landmark_loss(type(out)(out.seg_logits, None), masks, None)
    mse = torch.nn.functional.mse_loss(out.coords, coords)
    assert torch.allclose(sgr_loss(out, masks, coords), 0.2 * seg_only + mse)
    assert torch.allclose(sgr_loss(out, masks, coords, alpha=0.5), 0.5 * seg_only + mse)
    with pytest.raises(ValueError):
        sgr_loss(DirectRegModel(1, 2, base_width=4, hidden=8)(torch.rand(1, 1, 32, 32)), masks, coords)


def test_mask_model_has_one_output():
    cfg = default_region_config("diaphysis", base_width=4, input_size_px=32)
    model = build_landmark_model(cfg).eval()
    assert isinstance(model, DirectSegModel) and model(torch.rand(1, 1, 32, 32)).seg_logits.shape == (1, 1, 32, 32)


def test_encoder_layout_matches_torchvision_vgg_bn_for_pretrained_weights():
    from torchvision.models import vgg11_bn

    tv = vgg11_bn(weights=None).features
    net = VGGUNet(3, 1, depth=11, base_width=64)
    assert list(net.features.state_dict()) == list(tv.state_dict())
    load_vgg_encoder(net.features, tv.state_dict())
    assert torch.equal(net.features[0].weight, tv[0].weight)


def test_detector_builds_both_archs_and_returns_boxes():
    det = build_detector(DetectorConfig(arch="mobilenet_v3_fpn", input_width_px=64, input_height_px=192)).eval()
    with torch.inference_mode():
        out = det([torch.rand(3, 192, 64)])[0]
    assert set(out) == {"boxes", "labels", "scores"}
    assert det.roi_heads.box_predictor.cls_score.out_features == 5
    assert det.transform.min_size == (64,) and det.transform.max_size == 192
    assert det.roi_heads.nms_thresh == 0.5  # torchvision's default unless the bundle says otherwise
    det = build_detector(DetectorConfig(arch="mobilenet_v3_fpn", input_width_px=64, input_height_px=192,
                                        nms_threshold=0.7))
    assert det.roi_heads.nms_thresh == 0.7


def test_paper_and_lite_configs_are_valid_round_trips():
    from llm_viewer.pipeline.config import BundleConfig

    for cfg in (paper_config(), lite_config()):
        assert BundleConfig.from_dict(cfg.to_dict()) == cfg
    assert paper_config().detector.arch == "resnet50_fpn" and paper_config().regions["knee"].depth == 16
