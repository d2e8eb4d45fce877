"""Detector input size: accuracy and time of a bundle with its detector run at other letterbox sizes.

For each size the detector letterboxes the image into ``W×H`` (torchvision's own resize is matched, so it
does not rescale again), then the whole analysis runs as usual. Against the ground truth of a synthetic
store it prints the detection time, the mean landmark error (mm) and the mean |HKA error| (degrees) over
the legs found, and how many legs were found. A bundle's own size is the one it was trained at; other
sizes show what a change would cost or gain without retraining.

Usage::

    .venv/bin/python benchmarks/bench_detector_size.py --store DIR [--models DIR] [--sizes 192x576,256x768]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import llm_viewer  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads)
from benchmarks._machine import describe  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="llm-viewer synth store (cases/ + images/)")
    ap.add_argument("--models", default=None)
    ap.add_argument("--sizes", default="192x576,256x768,320x960")
    args = ap.parse_args(argv)
    from llm_viewer.core.imageio import load_image
    from llm_viewer.core.metrics import compute_leg_metrics
    from llm_viewer.pipeline.engine import InferenceEngine
    from llm_viewer.pipeline.runtime import configure_threads

    configure_threads()
    engine = InferenceEngine.from_bundle(args.models, device="cpu")
    trained = (engine.config.detector.input_width_px, engine.config.detector.input_height_px)
    store = Path(args.store)
    cases = sorted((store / "cases").glob("*.case.json"))
    studies = []
    for c in cases:
        doc = json.loads(c.read_text())
        img = load_image((c.parent / doc["image"]["path"]).resolve())
        studies.append((img, doc))
    print(f"# detector size: bundle {engine.model_id} (trained at {trained[0]}x{trained[1]}), {len(studies)} studies "
          f"of {store}")
    print(f"# machine at start: {describe()}")
    engine.analyze(studies[0][0].pixels)  # warm-up
    rows = []
    base_cfg = engine.config
    for spec in args.sizes.split(","):
        w, h = (int(v) for v in spec.lower().split("x"))
        engine.config = dataclasses.replace(base_cfg, detector=dataclasses.replace(base_cfg.detector,
                                                                                  input_width_px=w, input_height_px=h))
        engine.detector.transform.min_size = (min(w, h),)
        engine.detector.transform.max_size = max(w, h)
        det_s, errs_mm, hka_err, found, total = [], [], [], 0, 0
        for img, doc in studies:
            res = engine.analyze(img.pixels)
            det_s.append(res.timings_s["detect"])
            sp = doc["pixel_spacing_mm"]
            mm = math.sqrt(sp[0] * sp[1])
            for side, gt in doc["legs"].items():
                gt_lm = gt["landmarks"]
                total += 1
                leg = res.legs.get(side)
                if leg is None or len(leg.landmarks) < len(gt_lm):
                    continue
                found += 1
                errs_mm += [math.hypot(leg.landmarks[k].x_px - xy[0], leg.landmarks[k].y_px - xy[1]) * mm
                            for k, xy in gt_lm.items()]
                pred = {k: (p.x_px, p.y_px) for k, p in leg.landmarks.items()}
                a = compute_leg_metrics(pred, side, sp).hka_deg
                b = compute_leg_metrics({k: tuple(v) for k, v in gt_lm.items()}, side, sp).hka_deg
                if a is not None and b is not None:
                    hka_err.append(abs(a - b))
        rows.append((f"{w}x{h}" + (" (trained)" if (w, h) == trained else ""), statistics.median(det_s),
                     statistics.mean(errs_mm) if errs_mm else float("nan"),
                     statistics.mean(hka_err) if hka_err else float("nan"), f"{found}/{total}"))
    engine.config = base_cfg
    print(f"{'detector input':<20} {'detect s':>9} {'landmark mm':>12} {'|HKA err| deg':>14} {'legs':>7}")
    for name, d, e, k, f in rows:
        print(f"{name:<20} {d:>9.3f} {e:>12.3f} {k:>14.3f} {f:>7}")
    print(f"# machine at end: {describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
