"""Degraded copies of held-out studies as stores with ground truth (the shifted sets of docs/CALIBRATION.md).

Usage::

    python -m training.degrade SRC_STORE OUT_FOLDER N

Writes ``OUT_FOLDER/<src>-gamma-noise``, ``-downscale-blur`` and ``-lowcontrast-noise``: the first N studies of
SRC_STORE (DICOM), re-encoded with gamma 0.6 + Gaussian noise, 0.6x downscaling + blur (spacing and ground truth
scaled), or 0.35x contrast + blur + noise.
"""

import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pydicom

from llm_viewer.core.casefile import Case
from llm_viewer.core.store import Store

KINDS = {
    "gamma-noise": {"gamma": 0.6, "noise": 0.04, "scale": 1.0, "blur": 0.0, "contrast": 1.0},
    "downscale-blur": {"gamma": 1.0, "noise": 0.0, "scale": 0.6, "blur": 1.5, "contrast": 1.0},
    "lowcontrast-noise": {"gamma": 1.0, "noise": 0.02, "scale": 1.0, "blur": 0.8, "contrast": 0.35},
}


def main(argv: list[str]) -> int:
    src_path, out_root, n = argv[0], Path(argv[1]), int(argv[2])
    src = Store.open(src_path)
    for kind, k in KINDS.items():
        dst = Store.create(out_root / f"{Path(src_path).name}-{kind}", exist_ok=True)
        for i, e in enumerate(src.entries()[:n]):
            rng = np.random.default_rng(i)
            ds = pydicom.dcmread(src.image_path(e))
            a = ds.pixel_array.astype(np.float64)
            hi = float(2 ** int(ds.BitsStored) - 1)
            x = a / hi
            if ds.PhotometricInterpretation == "MONOCHROME1":
                x = 1 - x
            x = np.clip(x, 0, 1) ** k["gamma"]
            x = 0.5 + (x - 0.5) * k["contrast"]
            if k["blur"]:
                x = cv2.GaussianBlur(x, (0, 0), k["blur"])
            s = k["scale"]
            if s != 1.0:
                x = cv2.resize(x, (int(round(x.shape[1] * s)), int(round(x.shape[0] * s))), interpolation=cv2.INTER_AREA)
            x = x + rng.normal(0, k["noise"], x.shape) if k["noise"] else x
            x = np.clip(x, 0, 1)
            if ds.PhotometricInterpretation == "MONOCHROME1":
                x = 1 - x
            ds.PixelData = np.round(x * hi).astype(np.uint16).tobytes()
            ds.Rows, ds.Columns = x.shape
            sp = [float(v) / s for v in ds.ImagerPixelSpacing]
            ds.ImagerPixelSpacing = [f"{v:.6g}" for v in sp]
            buf = io.BytesIO()
            ds.save_as(buf)
            case = src.load_case(e)
            c = Case.new(pixel_spacing_mm=sp, spacing_source="synthetic ground truth")
            for side in case.sides:
                for lm, p in case.landmarks(side).items():
                    # pixel-centre convention: x' = (x + 0.5) * s - 0.5
                    c.set_ground_truth(side, lm, [(p.x + 0.5) * s - 0.5, (p.y + 0.5) * s - 0.5], by="degrade.py")
            dst.add_case(f"{e.id}-{kind}", c.to_dict(), image_bytes=buf.getvalue(), image_suffix=".dcm",
                         source="synthetic", split="test")
        print(kind, "done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
