"""Image formation of a stitched long-leg radiograph from a coarse attenuation map.

Coarse stage (``1/scale`` resolution): heel effect per cassette section, collimation, primary
transmission ``exp(−∫μ)``, scatter haze (a wide blur of the primary), log conversion, an electronic
shutter behind the collimator blades, and the dynamic-range compression a DR console applies (soft
tissue grey, bone detail kept). Full-resolution stage: bilinear upsampling, quantum noise whose standard
deviation follows the local dose, cassette seams with small intensity steps, and the trabecular lattice
inside bone (computed on the tiles that hold bone). Overlays and quantisation: ``generator.py``.
"""

from __future__ import annotations

import functools
import math
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
    # electronic shutter: like a DR console, set the region behind the collimator blades to one flat value
    # (otherwise the faint leakage shows a full-contrast copy of the body outside the field)
    field = np.outer(cy, cx).astype(F32)
    outside = field < 0.02
    if outside.any():
        v_out = F32(np.median(value[outside]))
        value = field * value + (F32(1.0) - field) * v_out
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


class NoiseField:
    """White Gaussian noise over a ``height × width`` grid, drawn cheaply and read in blocks.

    Each row is a window, at a random offset, of one shared pool of normal deviates, so drawing costs
    ``pool + width`` deviates instead of ``height × width``. Any block of rows and columns can be read on
    its own (:meth:`block`), and blocks read separately agree where they overlap: one field, tiled.
    """

    def __init__(self, rng: np.random.Generator, height: int, width: int, pool: int = NOISE_POOL) -> None:
        self.width = width
        self._deviates = rng.standard_normal(pool + width, dtype=np.float32)
        self._offsets = rng.integers(0, pool, size=height)

    def block(self, r0: int, r1: int, c0: int = 0, c1: int | None = None) -> np.ndarray:
        """Rows ``r0:r1`` and columns ``c0:c1`` of the field (a new array)."""
        c1 = self.width if c1 is None else c1
        view = np.lib.stride_tricks.sliding_window_view(self._deviates[c0:], c1 - c0)
        return view[self._offsets[r0:r1]]


def noise_field(rng: np.random.Generator, height: int, width: int, pool: int = NOISE_POOL) -> np.ndarray:
    """White Gaussian noise, fast: the whole of a :class:`NoiseField`."""
    return NoiseField(rng, height, width, pool).block(0, height)


def to_full_resolution(value: np.ndarray, sigma: np.ndarray, canvas: Canvas, exp: Exposure,
                       rng: np.random.Generator) -> np.ndarray:
    """Upsample, add quantum noise and the cassette seams; float32 log image at full resolution."""
    W, H, f = canvas.width_px, canvas.height_px, canvas.scale
    img = _upsample(value, f, W, H)
    sig = _upsample(sigma, f, W, H)
    # seams: each section has its own small offset; the join itself is a thin line
    row_off = np.zeros(H, dtype=F32)
    edges = [0, *exp.seams_y_px, H]
    for i in range(len(edges) - 1):
        row_off[edges[i]:edges[i + 1]] = exp.section_gain[i]
    for y in exp.seams_y_px:
        row_off[max(0, y - 1):y + 2] += F32(0.03)
    # quantum noise and seam offsets, in blocks of rows (cache-sized temporaries)
    noise = NoiseField(rng, H, W)
    for r0 in range(0, H, 256):
        r1 = min(H, r0 + 256)
        block = noise.block(r0, r1)
        block *= sig[r0:r1]
        block += row_off[r0:r1, None]
        img[r0:r1] += block
    if exp.fine_texture > 0:
        add_trabecular_grain(img, rng, canvas, exp.fine_texture)
    return img


GRAIN_TILE = 384
"""Tile edge (half-resolution pixels) of the trabecular grain; only tiles that contain bone are computed."""
GRAIN_RIDGE = 0.45
"""Width (in standard deviations of the band-pass noise) of the ridges that draw the trabecular lattice;
0 gives the plain band-pass grain."""


def _gauss_ksize(sigma: float) -> int:
    """The kernel size ``cv2.GaussianBlur`` picks for a float32 image and ``ksize=(0, 0)``."""
    return (int(round(sigma * 4 * 2 + 1))) | 1


def _grain_filter(spacing_mm: float) -> tuple[tuple[float, float], tuple[int, int], tuple[int, int]]:
    """The grain's band-pass filter on the half-resolution grid.

    Returns
    -------
    (fine_sigma, coarse_box, pad)
        Fine edge: Gaussian sigmas (x, y) of about 0.3 × 1 mm. Coarse edge: odd box widths (x, y) of a
        three-pass box filter, a Gaussian of about 1 × 3 mm at constant cost per pixel. Pad: the
        filter's half support (x, y) plus one pixel.
    """
    px = 2.0 * spacing_mm
    fine = (max(0.5, 0.3 / px), max(0.8, 1.0 / px))
    coarse = (max(1.0, 1.0 / px), max(2.0, 3.0 / px))
    box = tuple(int(round(np.sqrt(4.0 * sg * sg + 1.0))) | 1 for sg in coarse)
    pad = tuple(max(_gauss_ksize(fine[i]) // 2, 3 * (box[i] // 2)) + 1 for i in (0, 1))
    return fine, box, pad  # type: ignore[return-value]


def _band_pass(n: np.ndarray, fine: tuple[float, float], box: tuple[int, int]) -> np.ndarray:
    """Fine Gaussian blur minus a three-pass box blur (a band-pass of white noise)."""
    coarse = n
    for _ in range(3):
        coarse = cv2.blur(coarse, box)
    band = cv2.GaussianBlur(n, (0, 0), sigmaX=fine[0], sigmaY=fine[1])
    band -= coarse
    return band


@functools.lru_cache(maxsize=8)
def _band_pass_std(spacing_mm: float) -> float:
    """Standard deviation of the band-pass of unit white noise (exact: the impulse response's norm)."""
    fine, box, pad = _grain_filter(spacing_mm)
    delta = np.zeros((4 * pad[1] + 1, 4 * pad[0] + 1), dtype=np.float32)
    delta[2 * pad[1], 2 * pad[0]] = 1.0
    h = _band_pass(delta, fine, box).astype(np.float64)
    return float(np.sqrt(max(float((h * h).sum()), 1e-12)))


SHAFT_GRAIN = 0.3
"""Fraction of the trabecular grain left over a diaphysis (compact cortex and marrow, few trabeculae)."""


def grain_gain(canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    """Where cancellous bone shows its lattice, and how strongly (coarse grid, about 0.25–1.7).

    Trabecular density is not uniform: it varies over centimetres (denser under joint surfaces and along
    load lines, sparser in Ward's triangle and the metaphyses), so the grain's amplitude is modulated by a
    smooth random field (≈ 8 mm). Over the diaphyses registered in ``canvas.shafts`` (compact cortex
    around a marrow canal) only ``SHAFT_GRAIN`` of it is left, fading in over a few millimetres.

    Parameters
    ----------
    canvas : Canvas
        The rendered anatomy (its grid and ``shafts``).
    rng : numpy.random.Generator
        Draws the modulation field (one draw per image: deterministic for a seed).

    Returns
    -------
    numpy.ndarray
        float32 gain on the canvas's coarse grid.
    """
    hc, wc = canvas.att.shape
    q = 4
    m = noise_field(rng, max(1, hc // q), max(1, wc // q), pool=1 << 14)
    m = cv2.GaussianBlur(m, (0, 0), 8.0 / (canvas.step_mm * q))
    m /= F32(max(float(m.std()), 1e-6))
    gain = np.clip(F32(1.0) + F32(0.45) * m, F32(0.25), F32(1.7))
    if canvas.shafts:
        mask = np.zeros_like(gain)
        for a, b, half in canvas.shafts:
            pa = np.round(canvas.to_px(a) / q * 16.0).astype(np.int64)
            pb = np.round(canvas.to_px(b) / q * 16.0).astype(np.int64)
            thick = max(1, int(round(2.0 * half / (canvas.step_mm * q))))
            cv2.line(mask, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), 1.0, thick, cv2.LINE_8, shift=4)
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, 6.0 / (canvas.step_mm * q)))
        gain *= F32(1.0) - F32(1.0 - SHAFT_GRAIN) * np.minimum(mask * F32(1.25), F32(1.0))
    return cv2.resize(gain, (wc, hc), interpolation=cv2.INTER_LINEAR)


def add_trabecular_grain(img: np.ndarray, rng: np.random.Generator, canvas: Canvas, amplitude: float) -> None:
    """Add the full-resolution trabecular grain, ``amplitude ×`` unit-variance pattern, to ``img`` in place.

    Cancellous bone projects as a lattice of thin, mostly longitudinal trabeculae (they follow the load
    lines of the femur and tibia): band-pass noise of about 0.3–3 mm, stretched along the limb, turned
    into ridges along its zero crossings (``GRAIN_RIDGE``), rendered on a half-resolution grid, weighted
    by the bone's projected thickness (zero outside bone) and upsampled.

    Only the tiles of the half-resolution grid that contain bone are computed (bones cover a fraction of
    a long-leg image). The white noise is one global :class:`NoiseField`, and
    every tile is blurred with a margin wider than the kernels, so tiles join without seams: the result
    equals blurring the whole field.
    """
    W, H = canvas.width_px, canvas.height_px
    h2, w2 = -(-H // 2), -(-W // 2)
    f = canvas.scale
    fine, box, (pad_x, pad_y) = _grain_filter(canvas.spacing_mm)
    norm = F32(1.0 / _band_pass_std(canvas.spacing_mm))
    amp = F32(amplitude)
    r2 = GRAIN_RIDGE ** 2 if GRAIN_RIDGE else 1.0
    # moments of exp(−x²/2r²) for x ~ N(0, 1): exact, so the ridge pattern has zero mean and unit variance
    ridge_mean = np.sqrt(r2 / (r2 + 1.0))
    ridge_sd = np.sqrt(max(np.sqrt(r2 / (r2 + 2.0)) - r2 / (r2 + 1.0), 1e-12))
    weight_c = np.minimum(canvas.bone * F32(1.5), F32(1.0)) * grain_gain(canvas, rng)
    noise = NoiseField(rng, h2, w2, pool=1 << 18)
    active = weight_c > F32(1e-3)
    if not active.any():
        return
    integral = cv2.integral(active.astype(np.uint8))  # (hc + 1, wc + 1)

    def coarse_pos(m: float) -> float:
        # half-res pixel m has its centre at full-res 2m + 0.5; coarse pixel i at f·i + (f − 1)/2
        return (2.0 * m + 0.5 - (f - 1) / 2.0) / f

    T = GRAIN_TILE
    for r0 in range(0, h2, T):
        r1 = min(h2, r0 + T)
        for c0 in range(0, w2, T):
            c1 = min(w2, c0 + T)
            # coarse window covering the tile (plus one pixel for interpolation)
            ci0 = max(0, math.floor(coarse_pos(r0 - 1.0)) - 1)
            ci1 = min(canvas.hc, math.ceil(coarse_pos(r1 + 1.0)) + 2)
            cj0 = max(0, math.floor(coarse_pos(c0 - 1.0)) - 1)
            cj1 = min(canvas.wc, math.ceil(coarse_pos(c1 + 1.0)) + 2)
            if integral[ci1, cj1] - integral[ci0, cj1] - integral[ci1, cj0] + integral[ci0, cj0] == 0:
                continue
            # half-res tile with one pixel of margin (for the ×2 upsampling) and the blur margin
            m0, m1 = max(0, r0 - 1), min(h2, r1 + 1)
            n0, n1 = max(0, c0 - 1), min(w2, c1 + 1)
            p0, p1 = max(0, m0 - pad_y), min(h2, m1 + pad_y)
            q0, q1 = max(0, n0 - pad_x), min(w2, n1 + pad_x)
            n = noise.block(p0, p1, q0, q1)
            band = _band_pass(n, fine, box)[m0 - p0:m1 - p0, n0 - q0:n1 - q0]
            # bone weight on the tile: bilinear from the coarse grid (an exact affine map of pixel centres)
            affine = np.array([[2.0 / f, 0.0, coarse_pos(n0) - cj0], [0.0, 2.0 / f, coarse_pos(m0) - ci0]])
            w = cv2.warpAffine(weight_c[ci0:ci1, cj0:cj1], affine, (n1 - n0, m1 - m0),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
            band *= norm
            if GRAIN_RIDGE:
                # trabecular lattice: the zero crossings of the band-pass noise form a connected network
                # of thin, mostly longitudinal ridges (rods and plates), not a speckle
                band *= band
                band *= F32(-0.5 / GRAIN_RIDGE ** 2)
                band = cv2.exp(band)
                band -= F32(ridge_mean)
                band *= F32(1.0 / ridge_sd)
            band *= w
            band *= amp
            up = cv2.resize(band, ((n1 - n0) * 2, (m1 - m0) * 2), interpolation=cv2.INTER_LINEAR)
            y0, y1 = 2 * r0, min(H, 2 * r1)
            x0, x1 = 2 * c0, min(W, 2 * c1)
            img[y0:y1, x0:x1] += up[y0 - 2 * m0:y1 - 2 * m0, x0 - 2 * n0:x1 - 2 * n0]
