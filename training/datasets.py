"""Torch datasets over the cache (:mod:`training.data`): ROI crops, refinement patches, detector images.

A sample is a pure function of ``(seed, epoch, index)`` (call :meth:`set_epoch` each epoch), so runs are
reproducible and a resumed run draws the same samples as an uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from llm_viewer.pipeline.config import MASK_METHOD, RegionModelConfig
from llm_viewer.pipeline.crop import Box, apply_affine, circular_masks, crop_affine, to_normalized, warp_crop
from llm_viewer.pipeline.refine import RefineConfig

from . import augment, negatives
from .presets import AugmentConfig


class _Seeded(Dataset):
    def __init__(self, seed: int, train: bool) -> None:
        self.seed, self.train, self.epoch = seed, train, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rng(self, index: int) -> np.random.Generator:
        # validation draws the same perturbations every epoch
        return np.random.default_rng([self.seed, self.epoch if self.train else 10**6, index])


class RegionDataset(_Seeded):
    """Training crops of one region: ``(x, masks, coords)``; the diaphysis yields its bone mask instead.

    Parameters
    ----------
    arrays : dict
        ``region_<r>.npz`` content.
    indices : sequence of int
        Rows used (a split).
    cfg : RegionModelConfig
    aug : AugmentConfig
    train : bool
        Random box jitter, affine and intensity augmentation; otherwise no augmentation but still the box
        jitter (the same every epoch): annotated boxes are a function of the landmarks, so a model that
        ignores the image and returns the mean position would look perfect on exact boxes.
    """

    def __init__(self, arrays: dict[str, np.ndarray], indices, cfg: RegionModelConfig, aug: AugmentConfig, *,
                 train: bool, seed: int = 0, jitter: bool = True) -> None:
        super().__init__(seed, train)
        self.a, self.idx, self.cfg, self.aug = arrays, np.asarray(indices, dtype=np.int64), cfg, aug
        self.jitter = jitter

    def __len__(self) -> int:
        return len(self.idx)

    def crop_matrix(self, row: int, rng: np.random.Generator) -> np.ndarray:
        x0, y0, x1, y1 = (float(v) for v in self.a["boxes"][row])
        box = Box(x0, y0, x1, y1)
        size = self.cfg.input_size_px
        if self.train or self.jitter:
            side = max(box.width, box.height)
            cx = box.cx + rng.uniform(-1, 1) * self.aug.box_shift * side
            cy = box.cy + rng.uniform(-1, 1) * self.aug.box_shift * side
            sw, sh = 1 + rng.uniform(-1, 1, size=2) * self.aug.box_scale
            box = Box(cx - box.width * sw / 2, cy - box.height * sh / 2, cx + box.width * sw / 2, cy + box.height * sh / 2)
        m = crop_affine(box, size, margin=self.cfg.margin)
        if self.train:
            m = augment.compose(augment.affine_about_center(size, rng, self.aug), m)
        return m

    def __getitem__(self, i: int):
        row = int(self.idx[i])
        rng = self.rng(i)
        size = self.cfg.input_size_px
        m = self.crop_matrix(row, rng)
        img = warp_crop(self.a["images"][row].astype(np.float32) / 255.0, m, size)
        if self.train:
            img = augment.intensity(img, rng, self.aug)
        x = torch.from_numpy(img)[None].expand(self.cfg.in_channels, -1, -1).contiguous()
        if self.cfg.method == MASK_METHOD:
            mask = warp_crop(self.a["masks"][row].astype(np.float32) / 255.0, m, size) > 0.5
            return x, torch.from_numpy(mask[None].astype(np.float32)), torch.zeros(0, 2)
        pts = apply_affine(m, self.a["points"][row].astype(np.float64))
        masks = circular_masks(pts, size, self.cfg.mask_radius_px)
        coords = to_normalized(pts, size).astype(np.float32)
        return x, torch.from_numpy(masks), torch.from_numpy(coords)


class RefineDataset(_Seeded):
    """Refinement patches centred on a perturbed landmark (imitating first-stage error): ``(x, index, mask, xy)``.

    The offset is Gaussian with σ = ``offset_sd`` of the patch side, clipped to ±``offset_max`` (at most 0.5:
    the cached patch is twice the side); the patch side varies ±10 % (the ROI box it derives from is a
    detection) and turns ±5°. Offsets as large as the first stage's real errors matter: a model that only saw
    its landmark near the centre fires on whatever look-alike sits at the centre (the lateral femoral condyle
    for the lateral tibial plateau).
    """

    def __init__(self, arrays: dict[str, np.ndarray], indices, cfg: RefineConfig, aug: AugmentConfig, *,
                 train: bool, seed: int = 0, offset_sd: float = 0.15, offset_max: float = 0.35) -> None:
        super().__init__(seed, train)
        self.a, self.idx, self.cfg, self.aug = arrays, np.asarray(indices, dtype=np.int64), cfg, aug
        if not 0.0 <= offset_max <= 0.5 or offset_sd < 0.0:
            raise ValueError(f"refine offsets must satisfy 0 <= offset_max <= 0.5 and offset_sd >= 0, "
                             f"got {offset_sd}, {offset_max}")
        self.offset_sd, self.offset_max = offset_sd, offset_max

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: int):
        row = int(self.idx[i])
        rng = self.rng(i)
        p = self.cfg.input_size_px  # the cached patch is 2p px for twice the patch side: 1 cache px = 1 patch px
        point = self.a["points"][row].astype(np.float64)
        off = np.clip(rng.normal(0.0, self.offset_sd * p, size=2), -self.offset_max * p, self.offset_max * p)
        side = p * (1 + rng.uniform(-0.1, 0.1))
        c = point + off
        m = crop_affine(Box(c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2), p)
        rot = AugmentConfig(rotation_deg=5.0, translation=0.0, scale=0.0)
        m = augment.compose(augment.affine_about_center(p, rng, rot), m)
        img = warp_crop(self.a["images"][row].astype(np.float32) / 255.0, m, p)
        if self.train:
            img = augment.intensity(img, rng, self.aug)
        pt = apply_affine(m, point)
        mask = circular_masks(pt[None], p, self.cfg.mask_radius_px)[0]
        return (torch.from_numpy(img)[None], int(self.a["index"][row]), torch.from_numpy(mask),
                torch.from_numpy(pt.astype(np.float32)))


class DetectorDataset(_Seeded):
    """Letterboxed images (3 identical channels, as the engine feeds them) and torchvision targets."""

    def __init__(self, arrays: dict[str, np.ndarray], indices, aug: AugmentConfig, *, train: bool, seed: int = 0
                 ) -> None:
        super().__init__(seed, train)
        self.a, self.idx, self.aug = arrays, np.asarray(indices, dtype=np.int64), aug

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: int):
        row = int(self.idx[i])
        rng = self.rng(i)
        img = self.a["images"][row].astype(np.float32) / 255.0
        keep = self.a["labels"][row] > 0
        boxes = self.a["boxes"][row][keep].copy()
        labels = self.a["labels"][row][keep].copy()
        if self.train:
            if self.aug.p_negative > 0 and rng.random() < self.aug.p_negative:
                img = negatives.negative_view(img, boxes, _content_wh(img), rng)
                boxes, labels = boxes[:0].reshape(0, 4), labels[:0]
            elif self.aug.p_fov_crop > 0 and rng.random() < self.aug.p_fov_crop:
                img, boxes, labels = augment.fov_crop(img, boxes, labels, _content_wh(img), rng,
                                                      p_anatomical=self.aug.fov_anatomical,
                                                      p_zoom_out=self.aug.fov_zoom_out)
            img = augment.intensity(img, rng, self.aug)
            if rng.random() < 0.5:  # the detector has no notion of side: mirror freely
                w = img.shape[1]
                img = np.ascontiguousarray(img[:, ::-1])
                boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
        x = torch.from_numpy(img)[None].expand(3, -1, -1).contiguous()
        return x, {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels)}


def _content_wh(img: np.ndarray) -> tuple[float, float]:
    """Width and height of a letterboxed film's content (the canvas is padded right and bottom with zeros)."""
    cols = np.flatnonzero(img.max(axis=0) > 0)
    rows = np.flatnonzero(img.max(axis=1) > 0)
    if len(cols) == 0 or len(rows) == 0:
        return float(img.shape[1]), float(img.shape[0])
    return float(cols[-1] + 1), float(rows[-1] + 1)


def detection_collate(batch):
    return tuple(zip(*batch))


def refine_collate(batch):
    x, idx, mask, pt = zip(*batch)
    return torch.stack(x), torch.tensor(idx), torch.stack(mask), torch.stack(pt)
