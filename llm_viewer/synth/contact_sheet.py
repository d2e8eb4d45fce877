"""A contact sheet of generated radiographs (whole images plus hip and knee crops) for visual review.

``python -m llm_viewer.synth.contact_sheet docs/synthetic_contact_sheet.png`` regenerates the committed one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from .generator import generate_case
from .params import SynthConfig


def _display(case) -> np.ndarray:  # noqa: ANN001 - SyntheticCase
    img = case.pixels.astype(np.float32)
    c, w = case.window
    if case.photometric == "MONOCHROME1":
        img = 65535.0 - img
        c = 65535.0 - c
    return np.clip((img - (c - w / 2)) / w * 255.0, 0, 255).astype(np.uint8)


def make_contact_sheet(out_png: str | Path, seeds: tuple[int, ...] = (1, 2, 3, 4, 5), *,
                       config: SynthConfig | None = None, thumb_h: int = 900) -> Path:
    """Render ``seeds`` and write a PNG: whole images side by side, then a hip and a knee crop of each."""
    config = config or SynthConfig(implants_rate=0.4, monochrome="random")
    cols = []
    for seed in seeds:
        case = generate_case(seed, config)
        v = _display(case)
        tw = int(round(thumb_h * case.width_px / case.height_px))
        thumb = cv2.resize(v, (tw, thumb_h), interpolation=cv2.INTER_AREA)
        side = case.study.sides[0]
        lm = case.landmarks[side]
        crops = []
        for key, half_mm in (("femoral_head", 55.0), ("knee_center", 55.0)):
            x, y = lm[key]
            r = int(half_mm / case.pixel_spacing_mm)
            pad = np.pad(v, r, mode="constant")
            crop = pad[int(y): int(y) + 2 * r, int(x): int(x) + 2 * r]
            crops.append(cv2.resize(crop, (tw, tw), interpolation=cv2.INTER_AREA))
        cols.append(np.vstack([thumb, np.full((6, tw), 255, np.uint8), crops[0],
                               np.full((6, tw), 255, np.uint8), crops[1]]))
    sep = np.full((cols[0].shape[0], 6), 255, np.uint8)
    sheet = np.hstack([c for col in cols for c in (col, sep)][:-1])
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return out


if __name__ == "__main__":  # pragma: no cover
    print(make_contact_sheet(sys.argv[1] if len(sys.argv) > 1 else "docs/synthetic_contact_sheet.png"))
