"""Image formation of a stitched long-leg radiograph from a coarse attenuation map.

Coarse stage (``1/scale`` resolution): heel effect per cassette section, collimation, primary
transmission ``exp(−∫μ)``, scatter haze (a wide blur of the primary), log conversion and the
dynamic-range compression a DR console applies (soft tissue grey, bone detail kept). Full-resolution
stage: bilinear upsampling, quantum noise whose standard deviation follows the local dose, fine overlays
(ruler, markers, calibration ball), cassette seams with small intensity steps, and 16-bit quantisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .primitives import F32, Canvas

NOISE_POOL = 1 << 20


@dataclass(frozen=True)
class Exposure:
    """Acquisition settings of one image."""

    seams_y_px: tuple[int, ...]
    """Rows where cassette sections meet."""
    section_gain: tuple[float, ...]
    """Log-domain offset of each section (len = seams + 1)."""
    heel: float
    """Relative intensity drop across one section (anode heel effect)."""
    collimation_x_px: tuple[float, float]
    collimation_y_px: tuple[float, float]
    photons: float
    """Photons per full-resolution pixel in air (sets quantum noise)."""
    scatter_fraction: float
    compression: float
    """Strength of the dynamic-range compression (0 = raw log image)."""
    detail_gain: float = 0.8
    """Unsharp-mask gain at about 3 mm (edge enhancement of the console)."""
    texture: float = 0.5
    """Amplitude of the coarse trabecular texture (log units, where bone is thick)."""
    fine_texture: float = 0.0
    """Amplitude of the full-resolution trabecular streaks (log units, where bone is thick)."""
    soft_mottle: float = 0.0
    """Amplitude of the soft-tissue mottling (log units, where the body is thick)."""


def _upsample(a: np.ndarray, scale: int, width: int, height: int) -> np.ndarray:
    if scale == 1:
        return a[:height, :width]
    up = cv2.resize(a, (a.shape[1] * scale, a.shape[0] * scale), interpolation=cv2.INTER_LINEAR)
    return up[:height, :width]


def form_log_image(canvas: Canvas, exp: Exposure, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Coarse log image (``-ln`` of detected intensity, processed) and its noise standard deviation.

    Returns
    -------
    (value, sigma) : float32 arrays at coarse resolution.
    """
    hc, wc = canvas.att.shape
    f = canvas.scale
    rows_px = np.arange(hc, dtype=np.float64) * f + (f - 1) / 2.0
    cols_px = np.arange(wc, dtype=np.float64) * f + (f - 1) / 2.0
    # heel effect: intensity falls linearly across each section (anode side at the section's top)
    edges = np.array([0, *exp.seams_y_px, canvas.height_px], dtype=np.float64)
    sec = np.clip(np.searchsorted(edges, rows_px, side="right") - 1, 0, len(edges) - 2)
    frac = (rows_px - edges[sec]) / np.maximum(edges[sec + 1] - edges[sec], 1.0)
    heel = (1.0 - exp.heel * (1.0 - frac)).astype(F32)
    # collimation: soft-edged blades; outside them only a little leakage reaches the detector
    soft = 4.0 / f
    cx = (1.0 / (1.0 + np.exp(-(cols_px - exp.collimation_x_px[0]) / (soft * f)))
          * 1.0 / (1.0 + np.exp((cols_px - exp.collimation_x_px[1]) / (soft * f))))
    cy = (1.0 / (1.0 + np.exp(-(rows_px - exp.collimation_y_px[0]) / (soft * f)))
          * 1.0 / (1.0 + np.exp((rows_px - exp.collimation_y_px[1]) / (soft * f))))
    beam = (0.004 + 0.996 * np.outer(cy, cx)).astype(F32) * heel[:, None]
    primary = beam * np.exp(-canvas.att)
    # scatter: produced where matter interacts, spread widely (about 35 mm)
    small = cv2.resize(primary * (F32(1.0) - np.exp(-canvas.att * F32(0.5))), (max(1, wc // 4), max(1, hc // 4)),
                       interpolation=cv2.INTER_AREA)
    sig = 35.0 / (canvas.step_mm * 4)
    small = cv2.GaussianBlur(small, (0, 0), sig)
    scatter = cv2.resize(small, (wc, hc), interpolation=cv2.INTER_LINEAR)
    detected = primary + F32(exp.scatter_fraction) * scatter
    detected = np.maximum(detected, F32(1e-5))
    value = -np.log(detected)
    # dynamic range compression: subtract part of the large-scale trend (like a console's processing)
    if exp.compression > 0:
        # like a console's shutter detection: the collimated area does not take part in the trend
        capped = np.where(np.outer(cy, cx) > 0.5, np.minimum(value, F32(6.0)), F32(np.median(value[::4, ::4])))
        small_v = cv2.resize(capped.astype(F32), (max(1, wc // 4), max(1, hc // 4)), interpolation=cv2.INTER_AREA)
        small_v = cv2.GaussianBlur(small_v, (0, 0), 25.0 / (canvas.step_mm * 4))
        trend = cv2.resize(small_v, (wc, hc), interpolation=cv2.INTER_LINEAR)
        value = value - F32(exp.compression) * (trend - F32(np.median(trend[::4, ::4])))
    # detail enhancement (unsharp mask at a few mm): crisp cortices, as processed DR images show
    detail = value - cv2.GaussianBlur(value, (0, 0), 3.0 / canvas.step_mm)
    value = value + F32(exp.detail_gain) * detail
    # trabecular texture inside bone: band-limited noise modulated by the bone's projected thickness
    tex = noise_field(rng, hc, wc, pool=1 << 16)
    tex = cv2.GaussianBlur(tex, (0, 0), max(0.6, 0.5 / canvas.step_mm))
    tex -= cv2.GaussianBlur(tex, (0, 0), max(1.5, 2.0 / canvas.step_mm))
    value = value + F32(exp.texture) * tex * np.minimum(canvas.bone * F32(2.0), F32(1.0))
    # soft tissue is not a uniform gel: muscle bellies, fat and vessels give a faint mottling (~10 mm)
    if exp.soft_mottle > 0:
        mot = noise_field(rng, max(1, hc // 4), max(1, wc // 4), pool=1 << 16)
        mot = cv2.GaussianBlur(mot, (0, 0), 10.0 / (canvas.step_mm * 4), sigmaY=25.0 / (canvas.step_mm * 4))
        mot /= F32(max(float(mot.std()), 1e-6))
        mot = cv2.resize(mot, (wc, hc), interpolation=cv2.INTER_LINEAR)
        soft = np.clip((canvas.att - canvas.bone) * F32(0.6), F32(0.0), F32(1.0))
        value = value + F32(exp.soft_mottle) * mot * soft
    sigma = (F32(1.0) / np.sqrt(F32(exp.photons) * detected)).astype(F32)
    return value.astype(F32), sigma


def noise_field(rng: np.random.Generator, height: int, width: int, pool: int = NOISE_POOL) -> np.ndarray:
    """White Gaussian noise, fast: each row is a random window of a shared pool of normal deviates."""
    deviates = rng.standard_normal(pool + width, dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(deviates, width)
    offsets = rng.integers(0, pool, size=height)
    return view[offsets]


def to_full_resolution(value: np.ndarray, sigma: np.ndarray, canvas: Canvas, exp: Exposure,
                       rng: np.random.Generator) -> np.ndarray:
    """Upsample, add quantum noise and the cassette seams; float32 log image at full resolution."""
    W, H, f = canvas.width_px, canvas.height_px, canvas.scale
    img = _upsample(value, f, W, H)
    noise = noise_field(rng, H, W)
    sig = _upsample(sigma, f, W, H)
    img = img + noise * sig
    if exp.fine_texture > 0:
        img += F32(exp.fine_texture) * trabecular_streaks(rng, canvas)
    # seams: each section has its own small offset; the join itself is a thin line
    row_off = np.zeros(H, dtype=F32)
    edges = [0, *exp.seams_y_px, H]
    for i in range(len(edges) - 1):
        row_off[edges[i]:edges[i + 1]] = exp.section_gain[i]
    for y in exp.seams_y_px:
        row_off[max(0, y - 1):y + 2] += F32(0.03)
    img += row_off[:, None]
    return img


def trabecular_streaks(rng: np.random.Generator, canvas: Canvas) -> np.ndarray:
    """Full-resolution trabecular pattern: band-pass noise (~0.3–3 mm) stretched along the limb.

    Cancellous bone projects as a mottled, mostly longitudinal grain (trabeculae follow the load lines
    of the femur and tibia). Rendered at half resolution, weighted by the bone's projected thickness
    (zero outside bone) and upsampled. Unit variance before weighting.
    """
    W, H = canvas.width_px, canvas.height_px
    h2, w2 = -(-H // 2), -(-W // 2)
    px = 2.0 * canvas.spacing_mm
    n = noise_field(rng, h2, w2, pool=1 << 18)
    a = cv2.GaussianBlur(n, (0, 0), sigmaX=max(0.5, 0.3 / px), sigmaY=max(0.8, 1.0 / px))
    b = cv2.GaussianBlur(n, (0, 0), sigmaX=max(1.0, 1.0 / px), sigmaY=max(2.0, 3.0 / px))
    t = a - b
    t /= F32(max(float(t[::8, ::8].std()), 1e-6))
    weight = np.minimum(canvas.bone * F32(1.5), F32(1.0))
    weight = cv2.resize(weight, (canvas.wc * canvas.scale // 2, canvas.hc * canvas.scale // 2),
                        interpolation=cv2.INTER_LINEAR)[:h2, :w2]
    t *= weight
    return cv2.resize(t, (w2 * 2, h2 * 2), interpolation=cv2.INTER_LINEAR)[:H, :W]
