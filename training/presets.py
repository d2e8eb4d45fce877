"""Training presets: ``paper`` (the publication's settings) and ``lite`` (CPU-sized, with a refinement stage).

A preset is the bundle configuration the pipeline will run plus every training hyper-parameter, so a
model folder is fully described by ``train_config.json`` (written by :mod:`training.train`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from llm_viewer.core.landmarks import REGIONS
from llm_viewer.pipeline.config import BundleConfig, DetectorConfig, default_region_config, paper_config
from llm_viewer.pipeline.refine import RefineConfig, default_refine_config

PARTS: tuple[str, ...] = ("detector", "hip", "diaphysis", "knee", "ankle", "refine_hip", "refine_knee", "refine_ankle")
"""Models ``--parts`` can name; ``refine_*`` only exist when the preset has a refinement stage."""


@dataclass(frozen=True)
class AugmentConfig:
    """Geometric and intensity augmentation (probabilities and ranges)."""

    rotation_deg: float = 10.0
    translation: float = 0.1
    scale: float = 0.1
    box_shift: float = 0.06
    box_scale: float = 0.08
    p_intensity: float = 0.8
    contrast: float = 0.25
    gamma: float = 0.35
    noise_sd: float = 0.03
    p_blur: float = 0.25
    blur_sigma_px: float = 1.2
    p_invert: float = 0.05
    p_implant: float = 0.15
    domain_randomization: float = 0.0
    """Probability of the strong, SyntheX-style appearance randomization (:func:`training.augment.randomize`):
    random tone curves, local equalization (CLAHE), sharpening, low resolution, JPEG blocking, speckle,
    cutout boxes. 0 keeps the older, mild augmentation only."""
    p_fov_crop: float = 0.0
    """Detector only: probability of training on a random part of the film (a knee alone, hip to knee, one
    leg...), re-letterboxed, with the boxes cut by it dropped."""
    fov_anatomical: float = 0.0
    """Detector only: share of the field-of-view bands cut at the regions (from one region box to just below the
    same or a lower one) instead of at random heights (:func:`training.augment.fov_crop`). 0 (the shipped
    bundle's training) by default: a round with 0.4 (and ``fov_zoom_out`` 0.5) improved the partial views and
    lost accuracy on whole films of other generator versions (docs/EVALUATION.md, "Round 5")."""
    fov_zoom_out: float = 0.0
    """Detector only: share of the field-of-view bands also shrunk by up to 2.2× below the size that fills the
    canvas (the engine's zoomed-out passes, :mod:`llm_viewer.pipeline.multiscale`)."""
    p_negative: float = 0.0
    """Detector only: probability of training on a view with no region at all (shuffled tiles of the film,
    smoothed noise, a band of the film no region touches, rulers and markers: :mod:`training.negatives`),
    so that the detector learns to answer "nothing here"."""


@dataclass(frozen=True)
class StageConfig:
    """Optimiser and schedule of one kind of model."""

    epochs: int
    batch_size: int
    lr: float
    lr_step_epochs: int = 0  # 0: constant learning rate; otherwise ×lr_gamma every lr_step_epochs
    lr_gamma: float = 0.1
    cosine: bool = False  # cosine decay to lr/50 over the epochs (lite)


@dataclass(frozen=True)
class TrainPreset:
    name: str
    bundle: BundleConfig
    detector: StageConfig
    landmark: StageConfig
    diaphysis: StageConfig
    refine_stage: StageConfig
    refine: dict[str, RefineConfig] = field(default_factory=dict)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    alpha: float = 0.2
    samples_per_leg: int = 1  # random crops drawn per leg per epoch
    detector_batch_size_per_image: int = 512  # Faster R-CNN ROI sampler (torchvision default 512)
    detector_rpn_post_nms_train: int = 2000
    refine_offset_sd: float = 0.15  # patch centre offset from the landmark in training, fraction of the side
    refine_offset_max: float = 0.35  # (clip; ≤ 0.5, the cached patch is twice the side)

    def stage(self, part: str) -> StageConfig:
        if part == "detector":
            return self.detector
        if part == "diaphysis":
            return self.diaphysis
        if part.startswith("refine_"):
            return self.refine_stage
        return self.landmark

    def parts(self) -> tuple[str, ...]:
        return tuple(p for p in PARTS if not p.startswith("refine_") or p[len("refine_"):] in self.refine)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bundle": self.bundle.to_dict(),
                "detector": asdict(self.detector), "landmark": asdict(self.landmark),
                "diaphysis": asdict(self.diaphysis), "refine_stage": asdict(self.refine_stage),
                "refine": {r: c.to_dict() for r, c in self.refine.items()}, "augment": asdict(self.augment),
                "alpha": self.alpha, "samples_per_leg": self.samples_per_leg,
                "detector_batch_size_per_image": self.detector_batch_size_per_image,
                "detector_rpn_post_nms_train": self.detector_rpn_post_nms_train,
                "refine_offset_sd": self.refine_offset_sd, "refine_offset_max": self.refine_offset_max}


def paper_preset() -> TrainPreset:
    """The paper: 512 px, VGG-16, 3 channels, r = 15 px, α = 0.2, Adam 1e-5 × 100 epochs, batch 8;
    Faster R-CNN (ResNet-50-FPN) letterboxed to 444×1333 (the paper's 1400×4200 after torchvision's default
    resize, what its network saw; ``paper_config``), Adam 1e-3 ÷10 every 10 epochs, 50 epochs, batch 8."""
    return TrainPreset(
        name="paper",
        bundle=paper_config(name="sgr-paper", version="1"),
        detector=StageConfig(epochs=50, batch_size=8, lr=1e-3, lr_step_epochs=10, lr_gamma=0.1),
        landmark=StageConfig(epochs=100, batch_size=8, lr=1e-5),
        diaphysis=StageConfig(epochs=100, batch_size=8, lr=1e-5),
        refine_stage=StageConfig(epochs=0, batch_size=8, lr=1e-5),
        augment=AugmentConfig(rotation_deg=10.0, translation=0.1, scale=0.1, domain_randomization=0.7,
                              p_fov_crop=0.4, p_negative=0.1),
    )


def lite_preset() -> TrainPreset:
    """CPU preset: MobileNetV3-FPN detector at 256×768, narrow VGG-11 SGR at 96 px (diaphysis 128 px),
    refinement U-Nets: knee and ankle 96 px over 0.35 of the ROI crop (≈ 0.45 mm/px), hip 96 px over half,
    trained on patches offset by up to 0.45 of their side (the first stage is off by up to ~14 mm)."""
    regions = {r: default_region_config(r, depth=11, base_width=8, input_size_px=128 if r == "diaphysis" else 96,
                                        in_channels=1, regressor_hidden=256, margin=0.1, mask_radius_px=4.0)
               for r in REGIONS}
    bundle = BundleConfig(
        name="sgr-lite", version="1",
        detector=DetectorConfig(arch="mobilenet_v3_fpn", input_width_px=256, input_height_px=768,
                                score_threshold=0.5, rpn_pre_nms_top_n=300, rpn_post_nms_top_n=100,
                                detections_per_img=40),
        regions=regions,
    )
    return TrainPreset(
        name="lite",
        bundle=bundle,
        detector=StageConfig(epochs=8, batch_size=4, lr=1e-3, cosine=True),
        landmark=StageConfig(epochs=5, batch_size=16, lr=2e-3, cosine=True),
        diaphysis=StageConfig(epochs=5, batch_size=16, lr=2e-3, cosine=True),
        refine_stage=StageConfig(epochs=4, batch_size=32, lr=2e-3, cosine=True),
        refine={"hip": default_refine_config("hip", input_size_px=96, patch_fraction=0.5, mask_radius_px=6.0,
                                             base_width=8, min_peak=0.15, flag_factor=3.0,
                                             flag_peak=0.25),
                "knee": default_refine_config("knee", input_size_px=96, patch_fraction=0.35, mask_radius_px=6.0,
                                              base_width=8, min_peak=0.15),
                "ankle": default_refine_config("ankle", input_size_px=96, patch_fraction=0.35, mask_radius_px=6.0,
                                               base_width=8, min_peak=0.15)},
        augment=AugmentConfig(rotation_deg=5.0, translation=0.0, scale=0.05, box_shift=0.15, box_scale=0.2,
                              domain_randomization=0.7, p_fov_crop=0.4, p_negative=0.1),
        detector_batch_size_per_image=64,
        detector_rpn_post_nms_train=300,
        refine_offset_sd=0.2,
        refine_offset_max=0.45,
    )


PRESETS = {"paper": paper_preset, "lite": lite_preset}


def get_preset(name: str, *, landmark_method: str | None = None) -> TrainPreset:
    """A preset by name, optionally with another landmark method (``segmentation`` / ``regression``: ablation).

    Raises
    ------
    ValueError
        Unknown preset or method.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    preset = PRESETS[name]()
    if landmark_method and landmark_method != "sgr":
        if landmark_method not in ("segmentation", "regression"):
            raise ValueError(f"unknown landmark method {landmark_method!r}")
        regions = {r: (c if r == "diaphysis" else replace(c, method=landmark_method))
                   for r, c in preset.bundle.regions.items()}
        preset = replace(preset, bundle=replace(preset.bundle, regions=regions,
                                                name=f"{preset.bundle.name}-{landmark_method}"))
    return preset


@dataclass(frozen=True)
class FineTuneConfig:
    """Defaults for fine-tuning an existing bundle (``training.train --init-from``, ``training.adapt``).

    The presets' learning rates are for training from scratch; applied to trained weights they destroy them
    (the lite preset's 1e-3 / 2e-3 took the bundled model from 0.71 mm to 88.5 mm in one epoch, and its
    detector's AP@0.75 from 0.92 to 0.24 in ten). ``lr`` is the rate ``docs/dev/train_v6.sh`` fine-tunes at.
    """

    lr: float = 1e-4
    """Base learning rate of every part (cosine-decayed over the epochs as the preset's schedule says)."""
    epochs: int = 6
    """Most epochs per part; early stopping usually ends a part sooner."""
    patience: int = 2
    """Stop a part when its validation score has not improved for this many epochs (0: never)."""
    freeze_fraction: float = 0.5
    """Share of the early encoder / backbone blocks whose weights and batch-norm statistics stay fixed."""
    min_val_cases: int = 1
    """Early stopping needs at least this many held-out cases; with fewer, the part trains ``epochs`` epochs."""


def finetune_defaults() -> FineTuneConfig:
    """The fine-tuning defaults (:class:`FineTuneConfig`)."""
    return FineTuneConfig()
