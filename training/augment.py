"""Augmentation: affine (rotation / translation / scale about the crop centre) and intensity changes that
prepare the models for real radiographs (contrast, gamma, noise, blur, inversion, metal implants).

All functions take a ``numpy.random.Generator`` so that a sample is a pure function of (seed, epoch, index).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .presets import AugmentConfig


def affine_about_center(size: int, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """A random 2×3 matrix (crop -> crop): rotation ±``rotation_deg``, scale ±``scale``, shift ±``translation``·S."""
    theta = math.radians(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
    s = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
    tx, ty = rng.uniform(-cfg.translation, cfg.translation, size=2) * size
    c = (size - 1) / 2.0
    a, b = s * math.cos(theta), s * math.sin(theta)
    return np.array([[a, -b, c - a * c + b * c + tx], [b, a, c - b * c - a * c + ty]], dtype=np.float64)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer ∘ inner`` of two 2×3 matrices."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def _implant(img: np.ndarray, rng: np.random.Generator) -> None:
    h, w = img.shape
    for _ in range(int(rng.integers(1, 3))):
        value = float(rng.uniform(0.9, 1.0))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        if rng.random() < 0.5:  # plate / stem: a long thin rotated rectangle
            length, width = rng.uniform(0.3, 0.9) * h, rng.uniform(0.03, 0.1) * w
            box = cv2.boxPoints(((cx, cy), (width, length), rng.uniform(-20, 20)))
            cv2.fillPoly(img, [np.round(box * 16).astype(np.int32)], value, lineType=cv2.LINE_AA, shift=4)
        else:  # screw head, bracelet bead, component: an ellipse
            axes = (int(rng.uniform(0.02, 0.12) * w) + 1, int(rng.uniform(0.02, 0.12) * h) + 1)
            cv2.ellipse(img, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, value, -1, cv2.LINE_AA)


def intensity(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Random intensity changes of a ``[0, 1]`` float32 image; returns a new array clipped to ``[0, 1]``."""
    out = np.array(img, dtype=np.float32, copy=True)
    if rng.random() < cfg.p_implant:
        _implant(out, rng)
    if rng.random() < cfg.p_intensity:
        c = math.exp(rng.uniform(-cfg.contrast, cfg.contrast))
        out = (out - 0.5) * c + 0.5 + rng.uniform(-0.1, 0.1)
        np.clip(out, 0.0, 1.0, out=out)
        out = out ** math.exp(rng.uniform(-cfg.gamma, cfg.gamma))
    if rng.random() < cfg.p_blur:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=rng.uniform(0.3, cfg.blur_sigma_px))
    if cfg.noise_sd > 0 and rng.random() < 0.7:
        out = out + rng.normal(0.0, rng.uniform(0, cfg.noise_sd), size=out.shape).astype(np.float32)
    if rng.random() < cfg.p_invert:
        out = 1.0 - out
    return np.clip(out, 0.0, 1.0).astype(np.float32)
