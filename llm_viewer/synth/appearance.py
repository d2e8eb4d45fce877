"""Generator version 6: appearance and acquisition randomized over wide ranges around real radiographs.

A model trained on one look learns the look. Real standing long-leg radiographs differ from clinic to
clinic in contrast, in how bright bone is against soft tissue, in texture, noise, sharpness and console
processing, and they carry acquisition artefacts: stitched panels that do not line up, grids, the standing
platform, lead discs. Version 6 keeps version 5's anatomy (the same seed gives the same patient) and
draws, from a stream of its own, an :class:`Appearance`:

* **exposure ranges** widened: coarse and fine trabecular grain from none to strong, scatter, quantum noise,
  dynamic-range compression and edge enhancement from none to strong (:func:`widen_exposure`);
* **bone density** against soft tissue, ×0.55–×1.9 of version 5 (the log image gains ``k·bone``, which
  scales bone attenuation), applied on the coarse image before processing;
* **stitching**: each cassette panel shifted sideways by 0–8 mm (landmarks, masks and boxes move with
  their panel: the ground truth stays exact) and its brightness stepped by up to ±0.12 (log units);
* **blur** (focal spot, detector) up to 0.35 mm and a **tone curve** (gamma 0.6–1.7 and a sigmoid contrast);
* **distractors**: an anti-scatter grid's line pattern (2.5–8 px period: moiré once downscaled), the
  standing platform under the feet, and 0–3 lead discs anywhere in the field.

All changes are pure functions of the case's random stream (see ``generator._rng`` stream 2).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import cv2
import numpy as np

from .imaging import Exposure

F32 = np.float32


@dataclass(frozen=True)
class Appearance:
    """Version-6 appearance of one study (all in the log image's units unless named otherwise)."""

    bone_gain: float
    panel_shift_mm: tuple[float, ...]
    panel_offset: tuple[float, ...]
    blur_mm: float
    gamma: float
    sigmoid: float
    grid_period_px: float
    grid_amplitude: float
    platform: bool
    platform_density: float
    discs: tuple[tuple[float, float, float], ...]
    """``(x_frac, y_frac, radius_mm)`` of lead discs."""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["panel_shift_mm"] = list(self.panel_shift_mm)
        d["panel_offset"] = list(self.panel_offset)
        d["discs"] = [list(v) for v in self.discs]
        return d


def sample_appearance(rng: np.random.Generator, n_panels: int) -> Appearance:
    """Draw a version-6 appearance for a study with ``n_panels`` cassette sections."""
    shifts = tuple(float(v) for v in rng.uniform(-1.0, 1.0, size=n_panels) * rng.uniform(0.0, 8.0) / 2.0)
    if rng.random() < 0.35:  # many studies are stitched well
        shifts = tuple(0.0 for _ in range(n_panels))
    offsets = tuple(float(v) for v in rng.normal(0.0, rng.uniform(0.0, 0.06), size=n_panels))
    n_discs = int(rng.choice([0, 1, 2, 3], p=[0.45, 0.3, 0.15, 0.1]))
    discs = tuple((float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.03, 0.97)), float(rng.uniform(3.0, 9.0)))
                  for _ in range(n_discs))
    return Appearance(
        bone_gain=float(math.exp(rng.uniform(math.log(0.55), math.log(1.9)))) - 1.0,
        panel_shift_mm=shifts, panel_offset=offsets,
        blur_mm=float(rng.uniform(0.0, 0.35)) if rng.random() < 0.6 else 0.0,
        gamma=float(math.exp(rng.uniform(math.log(0.6), math.log(1.7)))),
        sigmoid=float(rng.uniform(0.0, 4.0)) if rng.random() < 0.5 else 0.0,
        grid_period_px=float(rng.uniform(2.5, 8.0)),
        grid_amplitude=float(rng.uniform(0.003, 0.02)) if rng.random() < 0.3 else 0.0,
        platform=bool(rng.random() < 0.4), platform_density=float(rng.uniform(0.15, 0.6)),
        discs=discs)


def widen_exposure(exp: Exposure, rng: np.random.Generator) -> Exposure:
    """Version-6 exposure: version 5's settings rescaled over wide ranges (grain none to strong, etc.)."""
    return replace(
        exp,
        texture=float(exp.texture * rng.uniform(0.0, 2.2)),
        fine_texture=float(exp.fine_texture * (rng.uniform(0.0, 2.5) if rng.random() < 0.85 else 0.0)),
        soft_mottle=float(exp.soft_mottle * rng.uniform(0.3, 2.5)),
        scatter_fraction=float(min(0.9, exp.scatter_fraction * rng.uniform(0.5, 1.8))),
        photons=float(exp.photons * math.exp(rng.uniform(math.log(0.25), math.log(3.0)))),
        compression=float(np.clip(exp.compression * rng.uniform(0.2, 1.35), 0.0, 0.95)),
        detail_gain=float(exp.detail_gain * rng.uniform(0.0, 2.0)),
        heel=float(exp.heel * rng.uniform(0.5, 2.0)),
    )


def add_bone_density(att_bone: np.ndarray, canvas_att: np.ndarray, gain: float) -> None:
    """Scale bone attenuation by ``1 + gain`` in place (total attenuation ``canvas_att`` gains ``gain·bone``)."""
    if gain != 0.0:
        canvas_att += F32(gain) * att_bone


def panel_rows(seams_y_px: tuple[int, ...], height_px: int) -> list[tuple[int, int]]:
    """Row ranges ``[r0, r1)`` of the cassette panels."""
    edges = [0, *seams_y_px, height_px]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def panel_shifts_px(app: Appearance, spacing_mm: float) -> tuple[int, ...]:
    """Whole-pixel sideways shift of each panel (whole pixels keep every landmark and mask row exact)."""
    return tuple(int(round(s / spacing_mm)) for s in app.panel_shift_mm)


def shift_rows(a: np.ndarray, rows: list[tuple[int, int]], shifts: tuple[int, ...], fill: float) -> None:
    """Shift each block of rows of ``a`` sideways by its number of pixels, in place (new columns = ``fill``)."""
    for (r0, r1), dx in zip(rows, shifts):
        if dx == 0 or r1 <= r0:
            continue
        block = a[r0:r1]
        if dx > 0:
            block[:, dx:] = block[:, :-dx].copy()
            block[:, :dx] = fill
        else:
            block[:, :dx] = block[:, -dx:].copy()
            block[:, dx:] = fill


def shift_point(xy: list[float], rows: list[tuple[int, int]], shifts: tuple[int, ...]) -> list[float]:
    """A landmark moved with the panel whose rows hold it (rows by nearest pixel centre)."""
    r = int(round(xy[1]))
    for (r0, r1), dx in zip(rows, shifts):
        if r0 <= r < r1:
            return [float(xy[0]) + dx, float(xy[1])]
    return [float(xy[0]), float(xy[1])]


def apply_acquisition(img: np.ndarray, app: Appearance, seams_y_px: tuple[int, ...], spacing_mm: float,
                      field_value: float, sole_row_px: float, rng: np.random.Generator,
                      field_px: tuple[float, float, float, float] | None = None) -> None:
    """Panel offsets and shifts, grid pattern, platform, lead discs and blur on the full-resolution log image.

    Parameters
    ----------
    img : numpy.ndarray
        Full-resolution log image (bone bright), changed in place.
    field_value : float
        The value of the flat region outside the collimation (what a shifted panel reveals).
    sole_row_px : float
        Row of the soles (the platform sits just below them).
    field_px : tuple of float, optional
        ``(x0, y0, x1, y1)`` of the collimated field: the platform is seen only inside it.
    """
    H, W = img.shape
    rows = panel_rows(seams_y_px, H)
    for (r0, r1), off in zip(rows, app.panel_offset):
        img[r0:r1] += F32(off)
    if app.platform:
        top = int(round(sole_row_px + rng.uniform(2.0, 12.0) / spacing_mm))
        depth = int(round(rng.uniform(15.0, 40.0) / spacing_mm))
        x0, y0, x1, y1 = field_px if field_px is not None else (0.0, 0.0, float(W), float(H))
        bottom = int(min(H, top + depth, y1))
        c0, c1 = int(max(0.0, x0)), int(min(float(W), x1))
        if top < bottom and c0 < c1:
            prof = np.full(bottom - top, F32(app.platform_density))
            prof[: max(1, int(3.0 / spacing_mm))] *= F32(1.6)  # the platform's edge seen tangentially
            img[top:bottom, c0:c1] += prof[:, None]
    if app.grid_amplitude > 0:
        x = np.arange(W, dtype=F32)
        img += F32(app.grid_amplitude) * np.cos(F32(2 * math.pi / app.grid_period_px) * x)[None, :]
    hi = float(np.percentile(img[::16, ::16], 99.9))
    for xf, yf, r_mm in app.discs:
        cv2.circle(img, (int(xf * W), int(yf * H)), max(2, int(r_mm / spacing_mm)), hi + 0.6, -1, cv2.LINE_AA)
    shift_rows(img, rows, panel_shifts_px(app, spacing_mm), field_value)
    if app.blur_mm > 0:
        s = app.blur_mm / spacing_mm
        if s > 0.3:
            cv2.GaussianBlur(img, (0, 0), s, dst=img)


def tone_curve(img: np.ndarray, lo: float, hi: float, app: Appearance) -> None:
    """Monotone tone curve (gamma, then a sigmoid contrast) between ``lo`` and ``hi``, in place."""
    if app.gamma == 1.0 and app.sigmoid == 0.0:
        return
    span = max(hi - lo, 1e-6)
    v = np.clip((img - F32(lo)) * F32(1.0 / span), 0.0, 1.0)
    if app.gamma != 1.0:
        v **= F32(app.gamma)
    if app.sigmoid > 0:
        k = F32(app.sigmoid)
        a, b = 1.0 / (1.0 + math.exp(k * 0.5)), 1.0 / (1.0 + math.exp(-k * 0.5))
        v = (F32(1.0) / (F32(1.0) + np.exp(-k * (v - F32(0.5)))) - F32(a)) * F32(1.0 / (b - a))
    # outside [lo, hi] keep the original offsets so nothing saturates new
    inside = (img >= lo) & (img <= hi)
    np.copyto(img, (F32(lo) + v * F32(span)).astype(F32), where=inside)
