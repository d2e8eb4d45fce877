"""Network architectures: VGG U-Net, VGG coordinate regressor, the SGR model and its ablations, the detector.

Segmentation-guided regression (SGR, the paper's Fig. 4): a U-Net with a VGG encoder produces one
probability map per landmark; the maps are concatenated with the image and a VGG regressor with a fully
connected head returns normalised ``(x, y)`` per landmark. The two ablation variants (direct segmentation,
direct regression) share the same output type so the engine treats all three alike.

Normalised coordinates: ``u = (x_crop + 0.5) / S`` where ``x_crop`` is in crop pixels (pixel-centre
convention) and ``S`` the crop side, so ``[0, 1]`` spans the crop's full extent. ``crop.py`` converts.

The encoders are laid out exactly like torchvision's ``vgg11_bn`` / ``vgg16_bn`` ``features`` (same module
indices) so that, at ``base_width=64`` and 3 input channels, ImageNet weights load with
``model.features.load_state_dict(tv_vgg.features.state_dict())`` (see :func:`load_vgg_encoder`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .config import MASK_METHOD, DetectorConfig, RegionModelConfig

_VGG_BLOCKS: dict[int, tuple[tuple[int, ...], ...]] = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
}


def _w(channels: int, base_width: int) -> int:
    return max(1, int(round(channels * base_width / 64)))


@dataclass
class LandmarkModelOutput:
    """What every landmark model returns.

    Attributes
    ----------
    seg_logits : Tensor or None
        ``(B, n_maps, S, S)`` logits of the landmark (or bone) maps; ``None`` for direct regression.
    coords : Tensor or None
        ``(B, n_landmarks, 2)`` normalised ``(x, y)``; ``None`` for direct segmentation and masks.
    """

    seg_logits: torch.Tensor | None
    coords: torch.Tensor | None


class VGGFeatures(nn.Module):
    """VGG(-BN) convolutional stack; ``forward`` returns the output of each of the five blocks (before pooling)."""

    def __init__(self, in_ch: int, depth: int = 11, base_width: int = 64) -> None:
        super().__init__()
        if depth not in _VGG_BLOCKS:
            raise ValueError(f"VGG depth must be 11 or 16, got {depth}")
        layers: list[nn.Module] = []
        self.block_ends: list[int] = []
        self.block_channels: list[int] = []
        c_in = in_ch
        for block in _VGG_BLOCKS[depth]:
            for c in block:
                c_out = _w(c, base_width)
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
                c_in = c_out
            self.block_ends.append(len(layers))
            self.block_channels.append(c_in)
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs: list[torch.Tensor] = []
        start = 0
        for end in self.block_ends:
            for i in range(start, end):
                x = self.features[i](x)
            outs.append(x)
            x = self.features[end](x)  # max-pool
            start = end + 1
        outs.append(x)  # pooled output of the last block (1/32)
        return outs


def _conv_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class VGGUNet(nn.Module):
    """U-Net with a VGG-11/16 encoder (TernausNet-style), returning ``n_out`` logit maps at input resolution.

    Parameters
    ----------
    in_ch : int
        Input channels.
    n_out : int
        Output maps (one per landmark, or 1 for a bone mask).
    depth : int
        11 or 16.
    base_width : int
        Width of the first block (64 = VGG); others scale proportionally.
    """

    def __init__(self, in_ch: int, n_out: int, depth: int = 11, base_width: int = 64) -> None:
        super().__init__()
        self.encoder = VGGFeatures(in_ch, depth, base_width)
        ch = self.encoder.block_channels  # 5 skip widths
        c_center = _w(512, base_width)
        self.center = _conv_relu(ch[4], c_center)
        dec_widths = [_w(c, base_width) for c in (256, 256, 128, 64, 32)]
        self.decoders = nn.ModuleList()
        c_prev = c_center
        for skip, c_out in zip(reversed(ch), dec_widths):
            self.decoders.append(nn.Sequential(_conv_relu(c_prev + skip, c_out), _conv_relu(c_out, c_out)))
            c_prev = c_out
        self.head = nn.Conv2d(c_prev, n_out, 1)
        self.n_out = n_out

    @property
    def features(self) -> nn.Sequential:
        return self.encoder.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = self.encoder(x)
        y = self.center(skips[-1])
        for dec, skip in zip(self.decoders, reversed(skips[:-1])):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = dec(torch.cat([y, skip], dim=1))
        return self.head(y)


class VGGRegressor(nn.Module):
    """VGG encoder + fully connected head returning ``(B, n_landmarks, 2)`` normalised coordinates."""

    def __init__(self, in_ch: int, n_landmarks: int, depth: int = 11, base_width: int = 64, hidden: int = 256) -> None:
        super().__init__()
        self.encoder = VGGFeatures(in_ch, depth, base_width)
        c5 = self.encoder.block_channels[-1]
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c5 * 16, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 2 * n_landmarks),
        )
        with torch.no_grad():  # start at the crop centre
            self.head[-1].bias.fill_(0.5)
        self.n_landmarks = n_landmarks

    @property
    def features(self) -> nn.Sequential:
        return self.encoder.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.encoder(x)[-1])
        # The coordinates in float32 even under autocast: bfloat16's 8-bit mantissa would round a normalised
        # coordinate to 1/256 of the crop (2 px at 512 px); the head is small, its cost does not matter.
        with torch.autocast(device_type=y.device.type, enabled=False):
            out = self.head(y.float())
        return out.view(x.shape[0], self.n_landmarks, 2)


class SGRModel(nn.Module):
    """Segmentation-guided regression: U-Net maps, concatenated with the image, into a VGG regressor."""

    def __init__(self, in_ch: int, n_landmarks: int, depth: int = 11, base_width: int = 64, hidden: int = 256) -> None:
        super().__init__()
        self.unet = VGGUNet(in_ch, n_landmarks, depth, base_width)
        self.regressor = VGGRegressor(in_ch + n_landmarks, n_landmarks, depth, base_width, hidden)

    def forward(self, x: torch.Tensor) -> LandmarkModelOutput:
        logits = self.unet(x)
        coords = self.regressor(torch.cat([x, torch.sigmoid(logits)], dim=1))
        return LandmarkModelOutput(seg_logits=logits, coords=coords)


class DirectSegModel(nn.Module):
    """Ablation: landmark segmentation only (landmark = centroid of the thresholded map); also the bone mask model."""

    def __init__(self, in_ch: int, n_out: int, depth: int = 11, base_width: int = 64) -> None:
        super().__init__()
        self.unet = VGGUNet(in_ch, n_out, depth, base_width)

    def forward(self, x: torch.Tensor) -> LandmarkModelOutput:
        return LandmarkModelOutput(seg_logits=self.unet(x), coords=None)


class DirectRegModel(nn.Module):
    """Ablation: direct coordinate regression from the image."""

    def __init__(self, in_ch: int, n_landmarks: int, depth: int = 11, base_width: int = 64, hidden: int = 256) -> None:
        super().__init__()
        self.regressor = VGGRegressor(in_ch, n_landmarks, depth, base_width, hidden)

    def forward(self, x: torch.Tensor) -> LandmarkModelOutput:
        return LandmarkModelOutput(seg_logits=None, coords=self.regressor(x))


def build_landmark_model(cfg: RegionModelConfig) -> nn.Module:
    """Build the (untrained) model a region config describes.

    Parameters
    ----------
    cfg : RegionModelConfig

    Returns
    -------
    nn.Module
        ``SGRModel``, ``DirectSegModel`` (``"segmentation"``; also ``"mask"`` with one output map) or
        ``DirectRegModel``; all return :class:`LandmarkModelOutput`.
    """
    if cfg.method == "sgr":
        return SGRModel(cfg.in_channels, cfg.n_landmarks, cfg.depth, cfg.base_width, cfg.regressor_hidden)
    if cfg.method == "segmentation":
        return DirectSegModel(cfg.in_channels, cfg.n_landmarks, cfg.depth, cfg.base_width)
    if cfg.method == "regression":
        return DirectRegModel(cfg.in_channels, cfg.n_landmarks, cfg.depth, cfg.base_width, cfg.regressor_hidden)
    if cfg.method == MASK_METHOD:
        return DirectSegModel(cfg.in_channels, 1, cfg.depth, cfg.base_width)
    raise ValueError(f"unknown landmark method {cfg.method!r}")


def build_detector(cfg: DetectorConfig) -> nn.Module:
    """Build the Faster R-CNN ROI detector (5 classes: background + hip, diaphysis, knee, ankle), untrained.

    The torchvision transform is set so that it does not rescale the already letterboxed input
    (``min_size``/``max_size`` equal the input sides), so boxes come out in letterbox pixels.
    """
    from .runtime import import_detection

    detection = import_detection()
    kw = dict(
        weights=None,
        weights_backbone=None,
        num_classes=5,
        min_size=min(cfg.input_width_px, cfg.input_height_px),
        max_size=max(cfg.input_width_px, cfg.input_height_px),
        box_score_thresh=cfg.score_threshold,
        box_nms_thresh=cfg.nms_threshold,
        rpn_pre_nms_top_n_test=cfg.rpn_pre_nms_top_n,
        rpn_post_nms_top_n_test=cfg.rpn_post_nms_top_n,
        box_detections_per_img=cfg.detections_per_img,
    )
    if cfg.arch == "resnet50_fpn":
        return detection.fasterrcnn_resnet50_fpn(**kw)
    if cfg.arch == "mobilenet_v3_fpn":
        return detection.fasterrcnn_mobilenet_v3_large_fpn(**kw)
    raise ValueError(f"unknown detector arch {cfg.arch!r}")


def load_vgg_encoder(encoder_features: nn.Sequential, vgg_features_state: dict[str, torch.Tensor]) -> None:
    """Copy torchvision ``vgg*_bn().features`` weights into an encoder (layers whose shapes differ are skipped).

    Useful for training with ImageNet initialisation as in the paper; the first convolution of the SGR
    regressor (image + maps channels) is skipped automatically.
    """
    own = encoder_features.state_dict()
    compatible = {k: v for k, v in vgg_features_state.items() if k in own and own[k].shape == v.shape}
    encoder_features.load_state_dict(compatible, strict=False)


# ---------------------------------------------------------------------------------------------- loading fast
_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                   "sparse_")
_init_lock = threading.Lock()


@contextlib.contextmanager
def skip_random_init() -> Iterator[None]:
    """Build modules without random initialisation (``torch.nn.init`` functions do nothing inside).

    For models whose every parameter is then loaded from a checkpoint with a strict ``load_state_dict``: the
    tensors are allocated but keep whatever memory held, so the strict load must follow. Saves the cost of
    initialising (1.3 s for the paper configuration on 2 cores). Buffers that modules compute themselves
    (anchors, running statistics' zeros) are unaffected: they are not made by ``torch.nn.init``.
    """
    with _init_lock:
        saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS if hasattr(nn.init, name)}
        try:
            for name in saved:
                setattr(nn.init, name, _no_init)
            yield
        finally:
            for name, fn in saved.items():
                setattr(nn.init, name, fn)


def _no_init(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    return tensor


def _is_batchnorm(m: nn.Module) -> bool:
    if isinstance(m, nn.BatchNorm2d):
        return True
    return type(m).__name__ == "FrozenBatchNorm2d" and all(hasattr(m, a) for a in ("weight", "bias", "running_mean",
                                                                                   "running_var"))


def _fold_pair(conv: nn.Conv2d, bn: nn.Module) -> None:
    """Fold ``bn`` (eval statistics) into ``conv`` in place: ``bn(conv(x)) == conv'(x)``."""
    with torch.no_grad():
        eps = float(getattr(bn, "eps", 1e-5))
        std = torch.sqrt(bn.running_var.float() + eps)
        weight = bn.weight.float() if getattr(bn, "weight", None) is not None else torch.ones_like(std)
        shift = bn.bias.float() if getattr(bn, "bias", None) is not None else torch.zeros_like(std)
        scale = weight / std
        bias = conv.bias.float() if conv.bias is not None else torch.zeros_like(std)
        new_bias = (bias - bn.running_mean.float()) * scale + shift
        conv.weight.mul_(scale.to(conv.weight.dtype).view(-1, 1, 1, 1))
        if conv.bias is None:
            conv.bias = nn.Parameter(new_bias.to(conv.weight.dtype), requires_grad=conv.weight.requires_grad)
        else:
            conv.bias.copy_(new_bias)


def _sequential_children(m: nn.Module) -> bool:
    """Modules that run their children in registration order (Sequential, torchvision's IntermediateLayerGetter)."""
    return isinstance(m, nn.Sequential) or type(m).__name__ == "IntermediateLayerGetter"


_PAIRED_ATTRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))
"""torchvision ResNet blocks (and the stem) name each convolution's batch norm alike."""


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every batch norm that directly follows a convolution into it, for inference; returns how many.

    The model must be in eval mode (running statistics are used); the folded batch norms become
    ``nn.Identity`` so module indices (and ``VGGFeatures.block_ends``) stay valid. Folded in: a convolution
    followed by a batch norm inside an ``nn.Sequential`` (VGG blocks, torchvision's ``Conv2dNormActivation``,
    ResNet downsample) or a torchvision ResNet block's ``convN``/``bnN`` pairs. The state dict changes (fewer
    tensors): fold only a model that is used for inference, never one that is trained or saved afterwards.

    Raises
    ------
    ValueError
        The model is in training mode.
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (it folds the running statistics)")
    count = 0
    for parent in list(model.modules()):
        if _sequential_children(parent):
            names = list(parent._modules)
            for a, b in zip(names, names[1:]):
                conv, bn = parent._modules[a], parent._modules[b]
                if isinstance(conv, nn.Conv2d) and bn is not None and _is_batchnorm(bn):
                    _fold_pair(conv, bn)
                    parent._modules[b] = nn.Identity()
                    count += 1
        elif type(parent).__name__ in ("Bottleneck", "BasicBlock"):
            for conv_name, bn_name in _PAIRED_ATTRS:
                conv, bn = getattr(parent, conv_name, None), getattr(parent, bn_name, None)
                if isinstance(conv, nn.Conv2d) and bn is not None and _is_batchnorm(bn):
                    _fold_pair(conv, bn)
                    setattr(parent, bn_name, nn.Identity())
                    count += 1
    return count
