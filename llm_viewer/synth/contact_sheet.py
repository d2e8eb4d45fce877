"""A contact sheet of generated radiographs for visual review, beside a real radiograph.

Columns: one study each; rows: the whole film at full resolution, the same film as a 500-px-wide 8-bit
clinical export (:mod:`llm_viewer.synth.export`), a hip, a knee and an ankle crop (110 mm) at full
resolution, and the knee crop of the 500-px export. The last column is ``RG3_UNCR.dcm`` from pydicom-data
(a real AP film of the distal tibia and ankle, no spacing recorded; shown at an assumed 0.15 mm per pixel,
which makes its tibial shaft as wide as the generator's): the whole film at the top, its ankle in the ankle
row at the same scale as the generated ankles.

``python -m llm_viewer.synth.contact_sheet docs/synthetic_contact_sheet.png`` regenerates the committed one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from .export import ExportSpec, export_case
from .generator import generate_case
from .params import SynthConfig


def _display(case) -> np.ndarray:  # noqa: ANN001 - SyntheticCase
    img = case.pixels.astype(np.float32)
    c, w = case.window
    if case.photometric == "MONOCHROME1":
        img = 65535.0 - img
        c = 65535.0 - c
    return np.clip((img - (c - w / 2)) / w * 255.0, 0, 255).astype(np.uint8)


_GAP = 6


def _crop(v: np.ndarray, centre, r_px: float, size: int, interp: int = cv2.INTER_AREA) -> np.ndarray:
    """A square of half-side ``r_px`` around ``centre`` (zero outside the image), resized to ``size``."""
    r = max(2, int(round(r_px)))
    pad = np.pad(v, r, mode="constant")
    x, y = int(round(centre[0])), int(round(centre[1]))
    return cv2.resize(pad[y: y + 2 * r, x: x + 2 * r], (size, size), interpolation=interp)


def _column(parts: list[np.ndarray]) -> np.ndarray:
    w = parts[0].shape[1]
    out = []
    for p in parts:
        out += [p, np.full((_GAP, w), 255, np.uint8)]
    return np.vstack(out[:-1])


def _real_column(real: tuple[np.ndarray, tuple[float, float], float], thumb_h: int, width: int,
                 rows: list[int]) -> np.ndarray:
    """RG3's column: the whole film scaled like a generated film's thumbnail, its ankle in the ankle row."""
    img, ankle_px, spacing_mm = real
    lo, hi = np.percentile(img[::2, ::2], [0.5, 99.5])
    v = np.clip((img - lo) / max(hi - lo, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    full_h_mm = 1134.0  # the generated films' field of view: their thumbnails are thumb_h px for 1134 mm
    s = thumb_h / full_h_mm * spacing_mm
    whole = cv2.resize(v, (max(1, int(v.shape[1] * s)), max(1, int(v.shape[0] * s))), interpolation=cv2.INTER_AREA)
    parts = []
    for i, h in enumerate(rows):
        tile = np.full((h, width), 255, np.uint8)
        if i == 0:
            tile[:min(h, whole.shape[0]), :min(width, whole.shape[1])] = whole[:h, :width]
        elif i == 4:
            tile = _crop(v, ankle_px, 55.0 / spacing_mm, width)[:h]
        parts.append(tile)
    return _column(parts)


def rg3_real() -> tuple[np.ndarray, tuple[float, float], float] | None:
    """RG3_UNCR.dcm's pixels (bone bright), its ankle centre in pixels (read off the film) and the assumed
    spacing, or ``None`` without pydicom-data."""
    try:
        from pydicom.data import get_testdata_file

        from ..core.imageio import load_image

        img = load_image(get_testdata_file("RG3_UNCR.dcm"))
    except Exception:  # noqa: BLE001 - the real column is optional
        return None
    return np.asarray(img.pixels, dtype=np.float32), (830.0, 1390.0), 0.15


def make_contact_sheet(out_png: str | Path, seeds: tuple[int, ...] = (1, 2, 3, 4, 5), *,
                       config: SynthConfig | None = None, thumb_h: int = 900, with_real: bool = True) -> Path:
    """Render ``seeds`` and write the PNG described in the module docstring."""
    config = config or SynthConfig(implants_rate=0.4, monochrome="random")
    real = rg3_real() if with_real else None
    cols = []
    for seed in seeds:
        case = generate_case(seed, config)
        v = _display(case)
        tw = int(round(thumb_h * case.width_px / case.height_px))
        thumb = cv2.resize(v, (tw, thumb_h), interpolation=cv2.INTER_AREA)
        side = case.study.sides[0]
        lm = case.landmarks[side]
        ex = export_case(case, ExportSpec(kind="bilateral", width_px=500, fmt="jpeg", jpeg_quality=85,
                                          grey_lo=22.0, grey_hi=110.0, noise_sd=1.5))
        ex_thumb = cv2.resize(ex.pixels, (tw, thumb_h), interpolation=cv2.INTER_AREA)
        ankle = [(a + b) / 2 for a, b in zip(lm["malleolus_lateral"], lm["malleolus_medial"])]
        crops = [_crop(v, lm["femoral_head"], 55.0 / case.pixel_spacing_mm, tw),
                 _crop(v, lm["knee_center"], 55.0 / case.pixel_spacing_mm, tw),
                 _crop(v, ankle, 55.0 / case.pixel_spacing_mm, tw),
                 _crop(ex.pixels, ex.landmarks[side]["knee_center"], 55.0 / ex.true_spacing_mm, tw,
                       cv2.INTER_NEAREST)]
        parts = [thumb, ex_thumb, *crops]
        rows = [p.shape[0] for p in parts]
        cols.append(_column(parts))
    if real is not None:
        cols.append(_real_column(real, thumb_h, cols[0].shape[1], rows))
    sep = np.full((cols[0].shape[0], 6), 255, np.uint8)
    sheet = np.hstack([c for col in cols for c in (col, sep)][:-1])
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return out


if __name__ == "__main__":  # pragma: no cover
    print(make_contact_sheet(sys.argv[1] if len(sys.argv) > 1 else "docs/synthetic_contact_sheet.png"))
