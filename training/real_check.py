"""The bundle on a real radiograph: ``RG3_UNCR.dcm`` from pydicom-data (a real AP film of the distal tibia,
fibula and ankle), or any image given, drawn as an overlay PNG with what the pipeline reported.

Usage::

    python -m training.real_check --models resources/models/demo --out docs/evaluation/rg3 [IMAGE]

Writes ``overlay.png`` (the image, each detected ROI box with its region and side, each landmark with its
name) and ``result.json`` (boxes, landmarks, warnings, side evidence when the engine reports it). RG3 has
no landmark annotation: the overlay is for a person to judge, and ``result.json`` says what was found.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

SHORT = {"femoral_head": "FH", "diaphysis_center": "D", "femoral_condyle_lateral": "CL",
         "femoral_condyle_medial": "CM", "knee_center": "K", "tibial_plateau_lateral": "PL",
         "tibial_plateau_medial": "PM", "malleolus_lateral": "ML", "malleolus_medial": "MM"}
COLOURS = {"right": (60, 60, 255), "left": (255, 160, 40)}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Run a bundle on a real radiograph and draw the result",
                                add_help=add_help)
    p.add_argument("image", nargs="?", default=None, help="image (default: RG3_UNCR.dcm from pydicom-data)")
    p.add_argument("--models", required=True, help="model bundle folder")
    p.add_argument("--out", required=True, help="folder for overlay.png and result.json")
    p.add_argument("--width", type=int, default=700, help="overlay width in pixels (default 700)")
    return p


def draw(pixels: np.ndarray, result, width: int) -> np.ndarray:
    """The image (percentile window, bone bright) with boxes and landmarks, ``width`` px wide, BGR uint8."""
    lo, hi = np.percentile(pixels[::2, ::2], [0.5, 99.5])
    grey = np.clip((pixels - lo) / max(hi - lo, 1e-6), 0, 1)
    s = width / pixels.shape[1]
    img = cv2.resize((grey * 255).astype(np.uint8), (width, max(1, int(round(pixels.shape[0] * s)))),
                     interpolation=cv2.INTER_AREA)
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    for r in result.rois:
        c = COLOURS.get(r.side, (200, 200, 200))
        cv2.rectangle(img, (int(r.x0 * s), int(r.y0 * s)), (int(r.x1 * s), int(r.y1 * s)), c, 1, cv2.LINE_AA)
        cv2.putText(img, f"{r.side} {r.region} {r.score:.2f}", (int(r.x0 * s) + 2, int(r.y0 * s) + 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, c, 1, cv2.LINE_AA)
    for side, leg in result.legs.items():
        c = COLOURS.get(side, (200, 200, 200))
        for lm, p in leg.landmarks.items():
            x, y = int(round(p.x_px * s)), int(round(p.y_px * s))
            cv2.drawMarker(img, (x, y), c, cv2.MARKER_CROSS, 10, 2, cv2.LINE_AA)
            cv2.putText(img, SHORT.get(lm, lm), (x + 5, y - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, c, 1, cv2.LINE_AA)
    y = 16
    for w in result.warnings[:6]:
        cv2.putText(img, w[:95], (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 220, 255), 1, cv2.LINE_AA)
        y += 14
    return img


def main(args: argparse.Namespace) -> int:
    import torch

    from llm_viewer.core.imageio import load_image
    from llm_viewer.pipeline.engine import InferenceEngine

    torch.set_num_threads(2)
    path = args.image
    if path is None:
        from pydicom.data import get_testdata_file

        path = get_testdata_file("RG3_UNCR.dcm")
    img = load_image(path)
    px = np.asarray(img.pixels, dtype=np.float32)
    engine = InferenceEngine.from_bundle(args.models, device="cpu")
    res = engine.analyze(px)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / "overlay.png"), draw(px, res, args.width))
    doc = {"image": Path(path).name, "model_id": engine.model_id, "image_size_px": list(res.image_size_px),
           "rois": [vars(r) for r in res.rois], "warnings": res.warnings,
           "legs": {side: {"landmarks": {k: {"x_px": p.x_px, "y_px": p.y_px, "score": p.score,
                                            "uncertainty_px": p.uncertainty_px, "flagged": p.flagged}
                                        for k, p in leg.landmarks.items()},
                           "missing_regions": leg.missing_regions} for side, leg in res.legs.items()}}
    for extra in ("side_evidence",):
        if hasattr(res, extra):
            doc[extra] = getattr(res, extra)
    (out / "result.json").write_text(json.dumps(doc, indent=1, allow_nan=False, default=str))
    print(json.dumps({"rois": [(r.side, r.region, round(r.score, 2)) for r in res.rois],
                      "legs": {s: sorted(leg.landmarks) for s, leg in res.legs.items()},
                      "warnings": res.warnings}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
