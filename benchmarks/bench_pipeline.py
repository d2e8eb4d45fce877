"""Per-stage and end-to-end time of the landmark pipeline on one 2800×8100 full-leg-sized image.

Random-weight models in the paper configuration (ResNet-50-FPN at 444×1333, the paper's 1400×4200 after
torchvision's default resize; SGR VGG-16 at 512 px) and the light configuration (MobileNetV3-FPN at 512×1536,
SGR VGG-11/16-wide at 128 px); speed does not depend on the weights. Batch norms are folded into the
convolutions as ``InferenceEngine.from_bundle`` does (``--no-fold``: as trained). A random detector finds random boxes, so the landmark stages run on eight realistic ROI boxes
(two legs) given to the engine, and the detector is timed on its own on the same image:
``end_to_end = normalize + detect + assign + hip + diaphysis + knee + ankle``. Models are built and
loaded once, as the engine does (the authors' code rebuilt each model for every image).

Usage::

    .venv/bin/python benchmarks/bench_pipeline.py [--config lite|paper|both] [--device cpu|cuda|auto]
                                                  [--repeats N] [--threads N] [--no-fold]
                                                  [--paper-detector WxH]

``--paper-detector 1400x4200`` times the paper detector at the size this code used before (the issue's 23.5 s).
The table ends with the paper target: detector time <= 0.25 of the landmark models' (hip+diaphysis+knee+ankle;
the knee and ankle passes the landmark stage reuses from the side cue counted as half of ``side_cue_models``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as llm_viewer/__init__ does, before torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._machine import describe  # noqa: E402
from llm_viewer.pipeline.config import lite_config, paper_config  # noqa: E402
from llm_viewer.pipeline.crop import Box  # noqa: E402
from llm_viewer.pipeline.engine import InferenceEngine  # noqa: E402
from llm_viewer.pipeline.legs import Detection  # noqa: E402

W, H = 2800, 8100
STAGES = ("normalize", "detect", "assign", "hip", "diaphysis", "knee", "ankle")
EXTRA = ("side_cue_models",)  # inside "assign", not added to end_to_end


def synthetic_image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.normal(1000, 50, (H, W)).astype(np.float32)
    for cx in (900, 1900):
        img[300:7900, cx - 150 : cx + 150] += 2000
    return img


def boxes() -> list[Detection]:
    out = []
    for cx in (900, 1900):  # hip 450 px, diaphysis 350x2600, knee 600, ankle 400 (typical at 0.143 mm/px)
        out += [Detection("hip", Box(cx - 225, 250, cx + 225, 700), 0.99),
                Detection("diaphysis", Box(cx - 175, 900, cx + 175, 3500), 0.99),
                Detection("knee", Box(cx - 300, 3700, cx + 300, 4300), 0.99),
                Detection("ankle", Box(cx - 200, 7300, cx + 200, 7700), 0.99)]
    return out


def bench(name: str, config, device: str, repeats: int, fold: bool = True) -> dict[str, float]:
    t0 = time.perf_counter()
    engine = InferenceEngine.from_config(config, device=device, fold_bn=fold)
    build_s = time.perf_counter() - t0
    img = synthetic_image()
    dets = boxes()
    from llm_viewer.pipeline.crop import normalize_intensity

    norm = normalize_intensity(img, config.intensity)
    engine.detect(norm)  # warm-up
    engine.analyze(img, detections=dets)
    runs: dict[str, list[float]] = {k: [] for k in STAGES + EXTRA + ("end_to_end",)}
    for _ in range(repeats):
        if engine.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        engine.detect(norm)
        if engine.device.startswith("cuda"):
            torch.cuda.synchronize()
        det_s = time.perf_counter() - t
        res = engine.analyze(img, detections=dets)
        n = sum(len(leg.landmarks) for leg in res.legs.values())
        assert n >= 16, f"{name}: only {n} landmarks"
        res.timings_s["detect"] = det_s
        for k in STAGES + EXTRA:
            runs[k].append(res.timings_s.get(k, 0.0))
        runs["end_to_end"].append(sum(res.timings_s.get(k, 0.0) for k in STAGES))
    med = {k: statistics.median(v) for k, v in runs.items()}
    # The knee and ankle models run first in the assign stage (the model-mirror side cue, on the plain and the
    # mirrored crop of every leg), and the landmark stage reuses the leg's own orientation: half of that time
    # is the landmark models' own work.
    med["landmark_models"] = statistics.median([sum(t[:4]) + 0.5 * t[4] for t in zip(
        *(runs[r] for r in ("hip", "diaphysis", "knee", "ankle", "side_cue_models")))])
    med["build_once"] = build_s
    return med


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=("lite", "paper", "both"), default="lite")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--no-fold", action="store_true", help="keep the batch norms (as trained)")
    ap.add_argument("--paper-detector", default=None, metavar="WxH", help="paper detector input size override")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paper = paper_config()
    if args.paper_detector:
        import dataclasses

        pw, ph = (int(v) for v in args.paper_detector.lower().split("x"))
        paper = dataclasses.replace(paper, detector=dataclasses.replace(paper.detector, input_width_px=pw,
                                                                         input_height_px=ph))
    configs = {"lite": lite_config(), "paper": paper}
    names = ["lite", "paper"] if args.config == "both" else [args.config]
    dev = args.device
    desc = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}"
    if dev.startswith("cuda") and torch.cuda.is_available():
        desc += f", GPU {torch.cuda.get_device_name(0)}"
    print(f"# pipeline benchmark: one {W}x{H} image, device {dev}, {desc}, torch {torch.__version__}, "
          f"median of {args.repeats}, batch norms {'as trained' if args.no_fold else 'folded'}")
    print(f"# machine at start: {describe()}")
    det_sizes = {n: f"{configs[n].detector.input_width_px}x{configs[n].detector.input_height_px}" for n in names}
    print("# detector input: " + ", ".join(f"{n} {det_sizes[n]}" for n in names))
    results = {n: bench(n, configs[n], dev, args.repeats, fold=not args.no_fold) for n in names}
    print(f"{'stage (s)':<16}" + "".join(f"{n:>12}" for n in names))
    for k in STAGES + EXTRA + ("landmark_models", "end_to_end", "build_once"):
        print(f"{k:<16}" + "".join(f"{results[n][k]:>12.3f}" for n in names))
    print(f"{'detect/landmark':<16}" + "".join(f"{results[n]['detect'] / results[n]['landmark_models']:>12.3f}"
                                               for n in names))
    print(f"# machine at end: {describe()}")
    if "paper" in names:
        ratio = results["paper"]["detect"] / results["paper"]["landmark_models"]
        print(f"target paper: detector <= 0.25 x landmark models: {ratio:.3f} {'met' if ratio <= 0.25 else 'NOT met'}")
    targets = {"lite": ("cpu", 3.0), "paper": ("cuda", 0.150)}
    for n in names:
        kind, limit = targets[n]
        if dev.startswith(kind):
            ok = results[n]["end_to_end"] <= limit
            print(f"target {n} on {kind}: end_to_end <= {limit:g} s: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
