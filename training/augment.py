"""Augmentation: affine (rotation / translation / scale about the crop centre) and intensity changes that
prepare the models for real radiographs (contrast, gamma, noise, blur, inversion, metal implants), and the
strong domain randomization of :func:`randomize` (after SyntheX, Gao et al. 2023: a model trained on
simulated radiographs transfers to real ones when the appearance it sees is randomized far beyond the
simulator's own range).

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
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    if cfg.domain_randomization > 0 and rng.random() < cfg.domain_randomization:
        out = randomize(out, rng)
    return out


def tone_curve(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random monotone curve through 5 control points (piecewise linear), ``[0, 1]`` -> ``[0, 1]``."""
    knots = np.linspace(0.0, 1.0, 6)
    steps = rng.dirichlet(np.full(5, 1.5))
    values = np.concatenate([[0.0], np.cumsum(steps)])
    return np.interp(img, knots, values).astype(np.float32)


def randomize(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strong appearance randomization of a ``[0, 1]`` float32 image (a crop or a letterboxed film).

    Each step fires with its own probability, in this order: a random tone curve; CLAHE (clip 0.5–4,
    2–8 tiles); unsharp masking (sigma 1–8 px, amount 0.3–2) or a blur; low resolution (down by 1.5–4×
    and back); JPEG blocking (quality 20–80); multiplicative speckle and additive noise; 1–3 cutout boxes
    (random grey, up to 20 % of a side: rulers, markers and occluders); a narrow grey band (contrast
    squeezed to 0.25–0.8 and shifted, then renormalised by the percentiles, as inference does). Returns a
    new array in ``[0, 1]``.
    """
    out = np.asarray(img, dtype=np.float32)
    h, w = out.shape
    if rng.random() < 0.6:
        out = tone_curve(out, rng)
    if rng.random() < 0.3:
        tiles = int(rng.integers(2, 9))
        u8 = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
        out = cv2.createCLAHE(clipLimit=float(rng.uniform(0.5, 4.0)), tileGridSize=(tiles, tiles)).apply(u8)
        out = out.astype(np.float32) / 255.0
    r = rng.random()
    if r < 0.35:
        sigma = float(rng.uniform(1.0, 8.0))
        out = out + float(rng.uniform(0.3, 2.0)) * (out - cv2.GaussianBlur(out, (0, 0), sigma))
    elif r < 0.55:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.5, 2.0)))
    if rng.random() < 0.3:
        f = float(rng.uniform(1.5, 4.0))
        small = cv2.resize(out, (max(4, int(w / f)), max(4, int(h / f))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.25:
        u8 = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 81))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    if rng.random() < 0.4:
        out = out * (1.0 + rng.normal(0.0, rng.uniform(0.0, 0.15), size=out.shape).astype(np.float32))
        out = out + rng.normal(0.0, rng.uniform(0.0, 0.05), size=out.shape).astype(np.float32)
    if rng.random() < 0.25:
        for _ in range(int(rng.integers(1, 4))):
            bw, bh = int(rng.uniform(0.03, 0.2) * w) + 1, int(rng.uniform(0.03, 0.2) * h) + 1
            x0, y0 = int(rng.integers(0, max(1, w - bw))), int(rng.integers(0, max(1, h - bh)))
            out[y0:y0 + bh, x0:x0 + bw] = float(rng.uniform(0.0, 1.0))
    if rng.random() < 0.3:
        c = float(rng.uniform(0.25, 0.8))
        out = out * c + float(rng.uniform(0.0, 1.0 - c))
        q = np.clip(np.rint(out * 255.0), 0, 255) / 255.0  # an 8-bit export of the narrow band
        lo, hi = np.percentile(q, [0.5, 99.5])
        out = (q - lo) / max(float(hi - lo), 1e-3)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def fov_crop(img: np.ndarray, boxes: np.ndarray, labels: np.ndarray, content_wh: tuple[float, float],
             rng: np.random.Generator, *, keep_frac: float = 0.6, p_anatomical: float = 0.0,
             p_zoom_out: float = 0.0, max_zoom_out: float = 2.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random part of a letterboxed film, letterboxed again into the same canvas (a partial view): one leg,
    a band of 10–75 % of the height (a knee or an ankle alone, hip to knee...), or both.

    With probability ``p_anatomical`` the band's edges are placed at the regions instead of at random heights:
    it starts at or a little above one region box and ends a little below the same or a lower one, as
    clinics cut their films (a knee alone, an ankle alone, hip to knee ending on the proximal tibia). The
    detector otherwise learns that whatever sits on the content's bottom edge is an ankle. A band is then
    shrunk, with probability ``p_zoom_out``, by up to ``max_zoom_out`` below the size that fills the canvas
    (the engine's zoomed-out detection passes, :mod:`llm_viewer.pipeline.multiscale`, show a knee or an ankle
    alone at 1/1.5 and 1/2 of that size).

    Parameters
    ----------
    img : numpy.ndarray
        ``(H, W)`` letterboxed film (content at the top left, ``content_wh`` wide and tall, zeros after).
    boxes : numpy.ndarray
        ``(n, 4)`` torchvision boxes (edges, ``[0, W]`` extent).
    labels : numpy.ndarray
    content_wh : tuple of float
        Width and height of the film inside the canvas.
    keep_frac : float
        A box is kept when at least this share of its area stays in the view (then clipped to it).
    p_anatomical, p_zoom_out, max_zoom_out : float
        See above.

    Returns
    -------
    (image, boxes, labels) of the new view.
    """
    H, W = img.shape
    cw, ch = content_wh
    kind = rng.random()
    if kind < 0.35:  # one leg: a vertical half of the film (which half by chance), full height or not
        x0 = 0.0 if rng.random() < 0.5 else cw * rng.uniform(0.4, 0.55)
        x1 = x0 + cw * rng.uniform(0.45, 0.6)
    else:
        x0, x1 = 0.0, cw
    band = kind >= 0.35 or rng.random() < 0.5
    frac = rng.uniform(0.1, 0.75) if band else 1.0
    y0 = rng.uniform(0.0, 1.0 - frac) * ch
    y1 = y0 + frac * ch
    if band and len(boxes) and rng.random() < p_anatomical:
        y0, y1 = _anatomical_band(boxes, ch, rng)
    x0, x1 = max(0.0, x0), min(cw, x1)
    view = img[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))]
    if view.shape[0] < 8 or view.shape[1] < 8:
        return img, boxes, labels
    s = min(W / view.shape[1], H / view.shape[0])
    if band and rng.random() < p_zoom_out:
        s /= rng.uniform(1.0, max_zoom_out)
    nw, nh = max(1, int(view.shape[1] * s)), max(1, int(view.shape[0] * s))
    out = np.zeros_like(img)
    out[:nh, :nw] = cv2.resize(view, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    ox, oy = float(int(x0)), float(int(y0))
    sx, sy = nw / view.shape[1], nh / view.shape[0]
    keep_b, keep_l = [], []
    for b, lab in zip(boxes, labels):
        area = max(1e-6, (b[2] - b[0]) * (b[3] - b[1]))
        cb = np.array([max(b[0], ox), max(b[1], oy), min(b[2], ox + view.shape[1]), min(b[3], oy + view.shape[0])])
        if cb[2] <= cb[0] or cb[3] <= cb[1] or (cb[2] - cb[0]) * (cb[3] - cb[1]) < keep_frac * area:
            continue
        keep_b.append([(cb[0] - ox) * sx, (cb[1] - oy) * sy, (cb[2] - ox) * sx, (cb[3] - oy) * sy])
        keep_l.append(lab)
    nb = np.asarray(keep_b, dtype=np.float32).reshape(-1, 4)
    return out, nb, np.asarray(keep_l, dtype=labels.dtype)


def _anatomical_band(boxes: np.ndarray, content_h: float, rng: np.random.Generator) -> tuple[float, float]:
    """``(y0, y1)`` of a band that starts at one region box (or the film's top) and ends just below the same
    or a lower one (:func:`fov_crop`)."""
    order = np.argsort(boxes[:, 1])
    i = int(rng.integers(len(order)))
    j = int(rng.integers(i, len(order)))
    top, bottom = boxes[order[i]], boxes[order[j]]
    y0 = 0.0 if rng.random() < 0.3 else max(0.0, top[1] - rng.uniform(0.0, 0.5) * (top[3] - top[1]))
    y1 = min(content_h, bottom[3] + rng.uniform(-0.1, 0.9) * (bottom[3] - bottom[1]))
    if y1 - y0 < 8:
        y1 = min(content_h, y0 + 8)
    return float(y0), float(y1)
