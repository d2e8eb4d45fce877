"""Exact geometry between the original image, the detector input and the landmark crops.

Convention everywhere: pixel-centre coordinates, the centre of the top-left pixel is ``(0, 0)``, ``x`` is the
column. All mappings are affine and stored as 2×3 matrices ``M`` taking original pixels to target pixels
(``[x', y'] = M @ [x, y, 1]``), which is exactly what ``cv2.warpAffine`` samples with, so a point mapped
forward and back returns to itself to floating-point precision (tests hold it to 0.01 px).

Training must use these functions too, so that the models see what inference feeds them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .config import IntensityConfig


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in original pixels, edges at ``x0..x1`` × ``y0..y1`` (``x1 > x0``, ``y1 > y0``)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def cx(self) -> float:
        return 0.5 * (self.x0 + self.x1)

    @property
    def cy(self) -> float:
        return 0.5 * (self.y0 + self.y1)


def normalize_intensity(image: np.ndarray, cfg: IntensityConfig, *, max_samples: int = 2_000_000) -> np.ndarray:
    """Map the ``low_pct``/``high_pct`` percentiles to 0/1 and clip (float32, same shape).

    Percentiles are estimated on a regular subsample of at most ``max_samples`` pixels so that a 9000-px
    image costs little. A constant image maps to zeros. Non-finite pixels become 0.
    """
    img = np.asarray(image, dtype=np.float32)
    step = max(1, int(np.ceil(np.sqrt(img.size / max_samples))))
    sample = img[::step, ::step]
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return np.zeros_like(img)
    lo, hi = np.percentile(sample, [cfg.low_pct, cfg.high_pct])
    if not hi > lo:
        lo, hi = float(sample.min()), float(sample.max())
    if not hi > lo:
        return np.zeros_like(img)
    out = (img - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    np.clip(out, 0.0, 1.0, out=out)
    out[~np.isfinite(out)] = 0.0
    return out


def scale_matrix(sx: float, sy: float, tx: float = 0.0, ty: float = 0.0) -> np.ndarray:
    """2×3 matrix ``x' = sx * x + tx``, ``y' = sy * y + ty``."""
    return np.array([[sx, 0.0, tx], [0.0, sy, ty]], dtype=np.float64)


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine matrix."""
    a = np.vstack([np.asarray(m, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(a)[:2]


def apply_affine(m: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """Apply a 2×3 matrix to ``(..., 2)`` points; returns float64 of the same shape."""
    p = np.asarray(points_xy, dtype=np.float64)
    return p @ np.asarray(m, dtype=np.float64)[:, :2].T + np.asarray(m, dtype=np.float64)[:, 2]


def apply_affine_box(m: np.ndarray, box: Box) -> Box:
    """Map a box's edges with an axis-aligned (scale/translate/mirror) matrix."""
    # Edges are at pixel-centre coordinates -0.5 .. n-0.5, so edges map like points.
    corners = apply_affine(m, np.array([[box.x0, box.y0], [box.x1, box.y1]]))
    x0, x1 = sorted(corners[:, 0])
    y0, y1 = sorted(corners[:, 1])
    return Box(float(x0), float(y0), float(x1), float(y1))


@dataclass(frozen=True)
class Letterbox:
    """An image resampled into a fixed canvas, aspect preserved, padded right and bottom with zeros."""

    pixels: np.ndarray  # (H, W) float32
    matrix: np.ndarray  # original -> canvas, 2×3


def letterbox(image: np.ndarray, width_px: int, height_px: int, zoom_out: float = 1.0) -> Letterbox:
    """Resample ``image`` to fit ``width_px × height_px`` (area averaging when shrinking), pad with zeros.

    The returned matrix uses the exact per-axis scale of the resampled size: a pixel-centre point ``x``
    maps to ``(x + 0.5) * s - 0.5``. ``zoom_out`` > 1 shrinks the image by that factor below the scale that
    fits (the image as if padded right and bottom to ``zoom_out`` times its size: :mod:`.multiscale`).
    """
    if not zoom_out >= 1.0:
        raise ValueError(f"zoom_out must be >= 1, got {zoom_out}")
    h, w = image.shape[:2]
    s = min(width_px / w, height_px / h) / zoom_out
    nw = min(width_px, max(1, int(round(w * s))))
    nh = min(height_px, max(1, int(round(h * s))))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (nw, nh), interpolation=interp)
    canvas = np.zeros((height_px, width_px), dtype=np.float32)
    canvas[:nh, :nw] = small
    sx, sy = nw / w, nh / h
    return Letterbox(canvas, scale_matrix(sx, sy, 0.5 * sx - 0.5, 0.5 * sy - 0.5))


def crop_affine(box: Box, out_size: int, *, margin: float = 0.0, mirror: bool = False) -> np.ndarray:
    """Matrix from original pixels to a square ``out_size`` crop around ``box``.

    The crop is the square of side ``L = max(w, h) * (1 + 2 * margin)`` centred on the box; its full extent
    (pixel edges) maps onto ``[-0.5, out_size - 0.5]``. With ``mirror`` the crop is flipped left-right
    (used for left legs, so that models always see a right leg with medial at +x).

    Parameters
    ----------
    box : Box
        ROI in original pixels.
    out_size : int
        Crop side in pixels.
    margin : float
        Fraction of the larger box side added on each side.
    mirror : bool
        Flip horizontally.

    Returns
    -------
    numpy.ndarray
        2×3 float64 matrix (original -> crop).
    """
    side = max(box.width, box.height) * (1.0 + 2.0 * margin)
    if not side > 0:
        raise ValueError(f"degenerate box {box}")
    k = out_size / side
    # Box edges are in the pixel-centre system (image extent [-0.5, w - 0.5]); the square's extent
    # [left, left + side] maps onto the crop's extent [-0.5, S - 0.5].
    left = box.cx - side / 2.0
    top = box.cy - side / 2.0
    m = scale_matrix(k, k, -left * k - 0.5, -top * k - 0.5)
    if mirror:
        m = np.array([[-1.0, 0.0, out_size - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])
    return m


def warp_crop(image: np.ndarray, m: np.ndarray, out_size: int) -> np.ndarray:
    """Sample the crop that ``m`` describes (bilinear, zero outside, anti-aliased when shrinking).

    Only the window of the image the crop covers is touched, so a crop from a 9000-px image costs
    as much as the crop. When the crop shrinks by more than 1.5×, the window is Gaussian-blurred first
    (sigma = 0.4 × shrink factor) to avoid aliasing, after an exact integer box-average when it shrinks by
    4× or more (which keeps large crops from a 9000-px image cheap); the geometry stays exactly ``m``.
    """
    inv = invert_affine(m)
    corners = apply_affine(inv, np.array([[-0.5, -0.5], [out_size - 0.5, -0.5],
                                          [-0.5, out_size - 0.5], [out_size - 0.5, out_size - 0.5]]))
    shrink = float(np.sqrt(abs(np.linalg.det(inv[:, :2]))))  # original px per crop px
    pad = int(np.ceil(3 * 0.4 * shrink)) + 2
    h, w = image.shape
    x0 = max(0, int(np.floor(corners[:, 0].min())) - pad)
    y0 = max(0, int(np.floor(corners[:, 1].min())) - pad)
    x1 = min(w, int(np.ceil(corners[:, 0].max())) + pad + 1)
    y1 = min(h, int(np.ceil(corners[:, 1].max())) + pad + 1)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((out_size, out_size), dtype=np.float32)
    window = np.ascontiguousarray(image[y0:y1, x0:x1], dtype=np.float32)
    # Window pixel (i, j) is original (x0 + i, y0 + j).
    mw = np.vstack([np.asarray(m, dtype=np.float64), [0.0, 0.0, 1.0]]) @ np.array(
        [[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    f = int(shrink // 2) if shrink >= 4 else 1
    if f > 1 and min(window.shape) >= f:
        # Exact integer box-averaging first (cheap): small pixel i is the mean of window pixels
        # i*f .. i*f + f - 1, centred at window coordinate f*i + (f - 1)/2.
        hh, ww = (window.shape[0] // f) * f, (window.shape[1] // f) * f
        window = cv2.resize(window[:hh, :ww], (ww // f, hh // f), interpolation=cv2.INTER_AREA)
        mw = mw @ np.array([[f, 0.0, (f - 1) / 2.0], [0.0, f, (f - 1) / 2.0], [0.0, 0.0, 1.0]])
        shrink /= f
    if shrink > 1.5:
        window = cv2.GaussianBlur(window, (0, 0), sigmaX=0.4 * shrink, borderType=cv2.BORDER_REFLECT)
    mw = mw[:2]
    return cv2.warpAffine(window, mw, (out_size, out_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def to_normalized(points_crop_px: np.ndarray, out_size: int) -> np.ndarray:
    """Crop pixels -> normalised ``[0, 1]`` over the crop extent: ``u = (x + 0.5) / S``."""
    return (np.asarray(points_crop_px, dtype=np.float64) + 0.5) / out_size


def from_normalized(points_norm: np.ndarray, out_size: int) -> np.ndarray:
    """Normalised crop coordinates -> crop pixels: ``x = u * S - 0.5``."""
    return np.asarray(points_norm, dtype=np.float64) * out_size - 0.5


def circular_masks(points_crop_px: np.ndarray, out_size: int, radius_px: float) -> np.ndarray:
    """Binary disc masks (the paper's training targets), one per point: ``(n, S, S)`` float32.

    A pixel belongs to a disc when its centre lies within ``radius_px`` of the point; points outside
    the crop give (partly) empty masks.
    """
    pts = np.asarray(points_crop_px, dtype=np.float64).reshape(-1, 2)
    yy, xx = np.mgrid[0:out_size, 0:out_size].astype(np.float64)
    out = np.zeros((len(pts), out_size, out_size), dtype=np.float32)
    for i, (px, py) in enumerate(pts):
        out[i] = ((xx - px) ** 2 + (yy - py) ** 2 <= radius_px**2).astype(np.float32)
    return out


#: A border row or column is padding when it differs from the image's edge row (column), or from its own mean,
#: by less than this on average (normalised intensity): flat bars, also with a periodic pattern or codec noise.
PAD_FLAT_TOL = 0.02
#: A noisy bar: a black (white) edge row, mean within this of 0 (1), and rows whose spread, and whose means'
#: distance from the edge row's mean, are below this.
PAD_NOISE_TOL = 0.1
#: The detector runs on the content box only when that enlarges the anatomy in its canvas at least this much.
PAD_MIN_GAIN = 1.1


@dataclass(frozen=True)
class ContentBox:
    """The part of an image inside its flat padding (black bars), in whole pixels ``[x0, x1) × [y0, y1)``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y1 - self.y0, self.x1 - self.x0)


def _pad_run(lines: np.ndarray, reverse: bool) -> int:
    """How many leading (or trailing) rows of ``lines`` are padding (see :func:`content_box`)."""
    order = lines[::-1] if reverse else lines
    if order.shape[0] == 0:
        return 0
    edge = order[0]
    sd = order.std(axis=1)
    e = float(edge.mean())
    dark_or_bright = e < PAD_NOISE_TOL or e > 1.0 - PAD_NOISE_TOL
    if not (sd[0] < PAD_FLAT_TOL or (dark_or_bright and sd[0] < PAD_NOISE_TOL)):
        return 0  # the edge row is anatomy or a label, not a bar
    same = np.abs(order - edge[None, :]).mean(axis=1) < PAD_FLAT_TOL  # a pattern across the bar
    bar = same | (sd < PAD_FLAT_TOL)  # or along it
    if dark_or_bright:  # a black (white) bar with noise in it
        bar |= (sd < PAD_NOISE_TOL) & (np.abs(order.mean(axis=1) - e) < PAD_NOISE_TOL)
    return int(order.shape[0] if bar.all() else np.argmin(bar))


def content_box(image_norm: np.ndarray, *, min_side_px: int = 16) -> ContentBox | None:
    """The image inside padding bars on any side, or ``None`` when it has none.

    Clinical exports put one leg on a tall canvas with black bars above and below (e.g. 128 × 1024 px).
    A row (column) is padding when it repeats the image's edge row (column) or is flat itself, each to within
    :data:`PAD_FLAT_TOL` on average (so a moiré pattern across or along a bar leaves it a bar), or when it
    is a noisy black (white) bar: spread and mean within :data:`PAD_NOISE_TOL` of the edge row's. The edge
    row itself must be bar-like. Bars are stripped from each side inwards, columns within the rows left.

    Parameters
    ----------
    image_norm : numpy.ndarray
        2-D intensity-normalised image (0–1).
    min_side_px : int
        A box narrower or lower than this is not returned (an image that is almost all padding).

    Returns
    -------
    ContentBox or None
    """
    img = np.asarray(image_norm, dtype=np.float32)
    if img.ndim != 2 or img.size == 0:
        return None
    h, w = img.shape
    step = max(1, int(np.ceil(max(h, w) / 2048)))  # rows/columns are subsampled along their length only
    rows = img[:, ::step]
    top = _pad_run(rows, False)
    bottom = _pad_run(rows[top:], True)
    if h - top - bottom < min_side_px:
        return None
    cols = img[top:h - bottom:step, :].T  # columns within the rows left
    left = _pad_run(cols, False)
    right = _pad_run(cols[left:], True)
    y0, y1, x0, x1 = top, h - bottom, left, w - right
    if (x0, y0, x1, y1) == (0, 0, w, h) or x1 - x0 < min_side_px or y1 - y0 < min_side_px:
        return None
    return ContentBox(x0, y0, x1, y1)


def detection_crop(image_norm: np.ndarray, width_px: int, height_px: int, *, min_gain: float = PAD_MIN_GAIN
                   ) -> ContentBox | None:
    """The content box the detector should run on, or ``None`` to run it on the whole image.

    The detector letterboxes what it sees, so padding bars shrink the anatomy in its canvas below the scale
    it was trained on: a one-leg export on a 128 × 1024 canvas comes out 40–70 % smaller than its content
    alone. The box is used when letterboxing it instead of the whole image enlarges the anatomy by
    ``min_gain`` or more; an ordinary film (whose flat margin, if any, changes the scale little) is left
    whole.

    Parameters
    ----------
    image_norm : numpy.ndarray
        2-D intensity-normalised image.
    width_px, height_px : int
        The detector's canvas.
    min_gain : float
        Least enlargement worth the crop.

    Returns
    -------
    ContentBox or None
    """
    box = content_box(image_norm)
    if box is None:
        return None
    h, w = np.asarray(image_norm).shape[:2]
    ch, cw = box.shape
    gain = min(width_px / cw, height_px / ch) / min(width_px / w, height_px / h)
    return box if gain >= min_gain else None


def letterbox_content(image: np.ndarray, content: ContentBox | None, width_px: int, height_px: int) -> Letterbox:
    """:func:`letterbox` of ``content``'s part of ``image`` (the whole image when ``None``), its matrix taking the
    whole image's pixels to the canvas (what the detector's boxes map back with)."""
    if content is None:
        return letterbox(image, width_px, height_px)
    lb = letterbox(image[content.y0:content.y1, content.x0:content.x1], width_px, height_px)
    shift = np.array([[1.0, 0.0, -content.x0], [0.0, 1.0, -content.y0], [0.0, 0.0, 1.0]])
    return Letterbox(lb.pixels, lb.matrix @ shift)
