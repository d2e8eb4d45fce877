"""Export a trained bundle in compact form (for shipping, e.g. ``resources/models/demo``).

Usage::

    python -m training.export --models MODELDIR --out BUNDLEDIR [--check-image IMAGE]
        [--content-detector OTHER_BUNDLE [--content-crop first|fallback|off]]

Every floating-point tensor is stored as float16, except the detector's largest layer
(``roi_heads.box_head.fc6.weight``, 12544×1024: two thirds of the MobileNet detector) which is stored as
8-bit floats (``float8_e4m3fn``) after multiplying it, and its bias, by a power of two ``2^k``; the next
layer's weight (``fc7``) is divided by the same ``2^k``. Because ``relu(2^k·z) = 2^k·relu(z)`` this
rescaling is exact, and it moves the weights into the well-resolved range of the 8-bit format.
``load_state_dict`` converts every tensor to the model's float32 on loading, so the pipeline needs no
change. Only ``*.safetensors`` and JSON are written (nothing pickled); the bundle keeps its config and
gets new SHA-256 sums. ``--check-image`` runs both bundles on an image and prints the largest landmark
and box differences.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file

from llm_viewer.pipeline.bundle import load_bundle, save_bundle

FC6, FC6_BIAS, FC7 = "roi_heads.box_head.fc6.weight", "roi_heads.box_head.fc6.bias", "roi_heads.box_head.fc7.weight"


def compact_state(state: dict[str, torch.Tensor], *, fc8: bool = False) -> dict[str, torch.Tensor]:
    """float16 copy of a state dict; with ``fc8`` the detector's fc6 as rescaled float8 (see module doc)."""
    out = {k: (v.to(torch.float16) if v.is_floating_point() else v) for k, v in state.items()}
    if fc8 and FC6 in state:
        w = state[FC6].float()
        k = int(math.floor(math.log2(240.0 / float(w.abs().max()))))  # largest |w|·2^k stays below 240
        s = 2.0**k
        out[FC6] = (w * s).to(torch.float8_e4m3fn)
        out[FC6_BIAS] = (state[FC6_BIAS].float() * s).to(torch.float16)
        out[FC7] = (state[FC7].float() / s).to(torch.float16)
    return {key: out[key] for key in sorted(out)}


def rebalance_detector_head(state: dict[str, torch.Tensor], *, max_ratio: float = 64.0) -> dict[str, torch.Tensor]:
    """Undo the export's fc6/fc7 rescaling before training from a compact bundle.

    The compact export multiplies fc6 by ``2^k`` and divides fc7 by it (exact for inference). For training it
    is not harmless: Adam moves every weight by about the learning rate, so the ~2^11-times-too-small fc7
    weights change by their own size within a few steps and the detector's losses jump from 1 to 7–10 (seen
    with ``--init-from resources/models/demo --parts detector`` even at lr 5e-5). If the RMS of fc6 and fc7
    differ by more than ``max_ratio``, both are brought back to comparable scales by a power of two (exact:
    ``relu(c·z) = c·relu(z)``). A float32 training checkpoint (ratio ≈ 0.4) is returned unchanged.
    """
    if FC6 not in state or FC7 not in state:
        return state
    w6, w7 = state[FC6].float(), state[FC7].float()
    r6, r7 = float(w6.pow(2).mean().sqrt()), float(w7.pow(2).mean().sqrt())
    if r6 <= 0 or r7 <= 0 or 1.0 / max_ratio <= r6 / r7 <= max_ratio:
        return state
    c = 2.0 ** round(0.5 * math.log2(r6 / r7))
    out = dict(state)
    out[FC6] = w6 / c
    if FC6_BIAS in state:
        out[FC6_BIAS] = state[FC6_BIAS].float() / c
    out[FC7] = w7 * c
    return out


def export_bundle(models: str | Path, out: str | Path, *, content_detector: str | Path | None = None,
                  content_crop: str | None = None) -> int:
    """Write the compact bundle; returns its size in bytes.

    Parameters
    ----------
    models, out : path-like
        The trained bundle and the folder to write.
    content_detector : path-like, optional
        A bundle whose detector becomes this bundle's ``detector_content``: the second detector that reads
        the content inside padding bars (docs/PIPELINE.md "Padding bars"). Its detector config must match.
    content_crop : str, optional
        ``detector.content_crop`` of the written bundle; with a content detector the default is ``"first"``.

    Raises
    ------
    BundleError
        A bundle is unreadable, or the content detector's architecture or input size differs.
    """
    from llm_viewer.pipeline.bundle import BundleError

    bundle = load_bundle(models)
    out = Path(out)
    if Path(models).resolve() == out.resolve():
        raise BundleError(f"export writes a new bundle: --out {out} is the bundle it reads")
    states = {name: compact_state(bundle.state_dict(name), fc8=name.startswith("detector")) for name in bundle.files}
    config = bundle.config
    if content_detector is not None:
        other = load_bundle(content_detector)
        mine, theirs = config.detector, other.config.detector
        keys = ("arch", "input_width_px", "input_height_px")
        if any(getattr(mine, k) != getattr(theirs, k) for k in keys):
            raise BundleError(f"the content detector of {content_detector} ({', '.join(str(getattr(theirs, k)) for k in keys)}) "
                              f"does not match the detector of {models} ({', '.join(str(getattr(mine, k)) for k in keys)})")
        states["detector_content"] = compact_state(other.state_dict("detector"), fc8=True)
        content_crop = content_crop or "first"
    if content_crop is not None:
        config = replace(config, detector=replace(config.detector, content_crop=content_crop))
    save_bundle(out, config, states)
    refine = Path(models) / "refine.json"
    if refine.is_file():
        from llm_viewer.pipeline.refine import RefineConfig, save_refiners

        doc = json.loads(refine.read_text(encoding="utf-8"))
        save_refiners(out, {r: (RefineConfig.from_dict({k: v for k, v in e.items() if k not in ("file", "sha256")}),
                                compact_state(load_file(str(Path(models) / e["file"]))))
                            for r, e in doc["regions"].items()},
                      recentre={r: tuple(o) for r, o in doc.get("recentre", {}).items()})
    elif (out / "refine.json").exists():
        (out / "refine.json").unlink()
    for extra in ("README.md",):
        if (Path(models) / extra).is_file():
            shutil.copy2(Path(models) / extra, out / extra)
    return sum(p.stat().st_size for p in out.iterdir() if p.is_file())


def compare(models_a: str | Path, models_b: str | Path, image_path: str) -> dict[str, float]:
    """Largest landmark (px) and ROI edge (px) differences of two bundles on one image."""
    import numpy as np

    from llm_viewer.core.imageio import load_image
    from llm_viewer.pipeline.engine import InferenceEngine

    img = load_image(image_path).pixels
    outs = []
    for m in (models_a, models_b):
        eng = InferenceEngine.from_bundle(m, device="cpu")
        outs.append(eng.analyze(img))  # the engine applies the bundle's refinement stage itself
    a, b = outs
    lm = [float(np.hypot(p.x_px - b.legs[s].landmarks[k].x_px, p.y_px - b.legs[s].landmarks[k].y_px))
          for s, leg in a.legs.items() if s in b.legs for k, p in leg.landmarks.items() if k in b.legs[s].landmarks]
    boxes_a = sorted((r.side, r.region, r.x0, r.y0, r.x1, r.y1) for r in a.rois)
    boxes_b = sorted((r.side, r.region, r.x0, r.y0, r.x1, r.y1) for r in b.rois)
    box = [max(abs(u - v) for u, v in zip(ra[2:], rb[2:])) for ra, rb in zip(boxes_a, boxes_b)]
    return {"max_landmark_diff_px": max(lm) if lm else float("nan"), "max_box_diff_px": max(box) if box else 0.0,
            "n_landmarks": len(lm), "same_boxes": len(boxes_a) == len(boxes_b)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write a compact copy of a model bundle (float16 + 8-bit fc6)")
    p.add_argument("--models", required=True, help="trained bundle folder")
    p.add_argument("--out", required=True, help="target folder")
    p.add_argument("--check-image", default=None, help="compare both bundles on this image")
    p.add_argument("--content-detector", default=None, metavar="BUNDLE",
                   help="add BUNDLE's detector as the second detector for the content inside padding bars")
    p.add_argument("--content-crop", default=None, choices=("first", "fallback", "off"),
                   help="detector.content_crop of the written bundle (default: kept; 'first' with --content-detector)")
    args = p.parse_args(argv)
    from llm_viewer.pipeline.bundle import BundleError

    try:
        size = export_bundle(args.models, args.out, content_detector=args.content_detector,
                             content_crop=args.content_crop)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {size / 1e6:.1f} MB")
    if args.check_image:
        print(json.dumps(compare(args.models, args.out, args.check_image)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
