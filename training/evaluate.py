"""The paper's evaluation of a model bundle on a store, as Markdown + JSON + PNG.

Usage::

    python -m training.evaluate --data STORE --models MODELDIR --out REPORTDIR [--split auto|test|all|...]

``--split auto`` (the default) evaluates the store's ``test`` split when the store is the one the bundle was
trained on (``train_config.json`` names it, or the bundle's ``training_data_fingerprint`` is the store's), and
the whole store otherwise: a separate held-out store is evaluated whole. The report says which and why.

Runs the whole pipeline (``InferenceEngine`` + the bundle's refinement stage when it has one) on every
case of the split, exactly as ``llm-viewer analyze`` would, and compares with the ground truth:

* Table 1: ROI detection mAP at IoU 0.5, 0.75 and 0.5:0.05:0.95 (detections above a 0.05 score; the
  pipeline itself keeps those above the bundle's threshold);
* Table 2: landmark detection rates at 0.5:0.5:10 mm and their average;
* Table 3: Euclidean error per landmark, mean ± SD (mm);
* Figure 7 counts: errors above 10 mm, false positives (extra blobs) and missed landmarks;
* Table 4: MAE (SD) and RMSE of MAD, mLDFA, mMPTA, FVA, HKA and the share of HKA errors above 1.5°
  (metrics from ``llm_viewer.core.metrics.compute_leg_metrics`` on predicted and true landmarks);
* diaphysis Dice (the U-Net's mask on the ground-truth ROI crop vs the true mask), the detection-rate
  curve (PNG) and the mean time of each inference stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

from llm_viewer.core.imageio import load_image
from llm_viewer.core.landmarks import LANDMARK_IDS, LANDMARK_REGION, REGIONS
from llm_viewer.core.metrics import GeometryError, compute_leg_metrics
from llm_viewer.pipeline.crop import crop_affine, normalize_intensity, warp_crop
from llm_viewer.pipeline.engine import InferenceEngine
from llm_viewer.pipeline.refine import Refiner

from . import evalmetrics as em
from .data import CaseRecord, _load_mask, read_store, store_fingerprint
from .report import write_report

SGR_LANDMARKS = tuple(lm for lm in LANDMARK_IDS if lm != "diaphysis_center")
TABLE4 = ("mad_mm", "mldfa_deg", "mmpta_deg", "fva_deg", "hka_deg")
EXTRA_METRICS = ("mldta_deg", "jlca_deg", "wbl_ratio_pct", "femur_length_mm", "tibia_length_mm")
MAP_SCORE_THRESHOLD = 0.05


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate a model bundle on a store (the paper's tables)",
                                add_help=add_help)
    p.add_argument("--data", required=True, help="store with ground truth")
    p.add_argument("--models", required=True, help="model bundle folder")
    p.add_argument("--out", required=True, help="report folder (report.md, report.json, detection_rate.png)")
    p.add_argument("--split", default="auto",
                   help="store split to evaluate, 'all', or 'auto' (default: 'test' when the bundle was trained on "
                        "this store, the whole store otherwise)")
    p.add_argument("--limit", type=int, default=None, help="at most this many cases")
    p.add_argument("--no-refine", action="store_true", help="skip the bundle's refinement stage")
    p.add_argument("--recentre", action="store_true",
                   help="run the ROI re-centring pass of the refinement stage (helps only when the first stage "
                        "reads the image; see docs/EVALUATION.md)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--title", default=None, help="report title")
    return p


def _diaphysis_dice(engine: InferenceEngine, norm: np.ndarray, case: CaseRecord) -> list[float]:
    cfg = engine.config.regions["diaphysis"]
    out = []
    for side in case.landmarks:
        box = case.rois.get((side, "diaphysis"))
        if box is None or side not in case.mask_paths:
            continue
        m = crop_affine(box, cfg.input_size_px, margin=cfg.margin, mirror=side == "left" and cfg.mirror_left)
        crop = warp_crop(norm, m, cfg.input_size_px)
        x = torch.from_numpy(crop)[None, None].expand(1, cfg.in_channels, -1, -1).contiguous()
        with torch.inference_mode():
            prob = torch.sigmoid(engine.region_models["diaphysis"](x).seg_logits.float())[0, 0].numpy()
        truth = warp_crop(_load_mask(case.mask_paths[side]), m, cfg.input_size_px) > 0.5
        out.append(em.dice(prob > 0.5, truth))
    return out


@dataclasses.dataclass(frozen=True)
class SplitChoice:
    """The split ``--split auto`` evaluates and why."""

    split: str
    reason: str


def choose_split(data: str, models: str) -> SplitChoice:
    """``test`` when ``data`` is the store ``models`` was trained on, else ``all`` (a separate store, whole)."""
    import json

    from llm_viewer.pipeline.bundle import load_bundle

    cfg_file = Path(models) / "train_config.json"
    if cfg_file.is_file():
        try:
            trained_on = json.loads(cfg_file.read_text(encoding="utf-8")).get("args", {}).get("data")
        except (OSError, ValueError):
            trained_on = None
        if trained_on and Path(trained_on).resolve() == Path(data).resolve():
            return SplitChoice("test", "the bundle was trained on this store (train_config.json): its test split "
                                       "is the part training never saw")
    fingerprint = load_bundle(models).config.training_data_fingerprint
    if fingerprint and fingerprint == store_fingerprint(read_store(data)):
        return SplitChoice("test", "the bundle's training-data fingerprint is this store's: its test split is the "
                                   "part training never saw")
    return SplitChoice("all", "the store is not the one the bundle was trained on, so it is evaluated whole")


def evaluate_bundle(data: str, models: str, *, split: str = "test", limit: int | None = None, refine: bool = True,
                    recentre: bool = False, device: str = "cpu", log=print) -> dict:
    """Run the pipeline on a store's split and return every number of the report (JSON-ready after
    :func:`training.report.strict_json`; ``split="auto"``: see :func:`choose_split`)."""
    split_reason = "chosen on the command line"
    if split == "auto":
        choice = choose_split(data, models)
        split, split_reason = choice.split, choice.reason
    store_images = len(read_store(data))
    cases = read_store(data, None if split == "all" else (split,))
    if split != "all":
        log(f"evaluate: split {split!r}: {len(cases)} of {store_images} images of {data} ({split_reason}); "
            "--split all evaluates the whole store")
    if limit:
        cases = cases[:limit]
    engine = InferenceEngine.from_bundle(models, device=device)
    refiner = Refiner.from_bundle_dir(models, device=engine.device) if refine else None
    cfg = engine.config
    low_cfg = dataclasses.replace(cfg, detector=dataclasses.replace(cfg.detector, score_threshold=MAP_SCORE_THRESHOLD))
    low = InferenceEngine(low_cfg, engine.detector, engine.region_models, device=engine.device)
    det_thresh = cfg.detector.score_threshold

    per_lm: dict[str, list[float]] = {lm: [] for lm in LANDMARK_IDS}
    per_leg = []
    dets: dict[str, list] = {r: [] for r in REGIONS}
    gts: dict[str, dict[str, list]] = {r: {} for r in REGIONS}
    timings: dict[str, list[float]] = {}
    dice_vals: list[float] = []
    fp_blobs = missed_maps = 0
    failed_images = 0
    no_detection_images = []
    legs_not_found = 0
    legs_missing_region = {r: 0 for r in REGIONS}
    for n, case in enumerate(cases):
        img = load_image(case.image_path)
        spacing = case.spacing_mm or img.pixel_spacing_mm
        if spacing is None:
            raise ValueError(f"case {case.case_id}: no pixel spacing; errors in mm need it")
        t0 = time.perf_counter()
        norm = normalize_intensity(img.pixels, cfg.intensity)
        t_norm = time.perf_counter() - t0
        engine.detector.roi_heads.score_thresh = MAP_SCORE_THRESHOLD
        t0 = time.perf_counter()
        all_dets = low.detect(norm)
        t_det = time.perf_counter() - t0
        engine.detector.roi_heads.score_thresh = det_thresh
        for d in all_dets:
            dets[d.region].append((case.case_id, d.score, [d.box.x0, d.box.y0, d.box.x1, d.box.y1]))
        for (_side, region), b in case.rois.items():
            gts[region].setdefault(case.case_id, []).append([b.x0, b.y0, b.x1, b.y1])
        kept = [d for d in all_dets if d.score >= det_thresh]
        if not kept:
            no_detection_images.append(case.case_id)
        result = engine.analyze(img.pixels, detections=kept, refine=False)
        result.timings_s["normalize"] = t_norm
        result.timings_s["detect"] = t_det
        if refiner is not None:
            t0 = time.perf_counter()
            if recentre:
                refiner.recentre(engine, norm, result)
            refiner.apply(norm, result, cfg.regions)
            result.timings_s["refine"] = time.perf_counter() - t0
            result.timings_s["total"] += result.timings_s["refine"]
        result.timings_s["total"] += t_det
        for k, v in result.timings_s.items():
            timings.setdefault(k, []).append(v)
        fp_blobs += sum("candidate blobs" in w for w in result.warnings)
        missed_maps += sum("no pixel above 0.5" in w for w in result.warnings)
        dice_vals += _diaphysis_dice(engine, norm, case)
        image_failed = False
        for side, truth in case.landmarks.items():
            leg = result.legs.get(side)
            pred = {lm: (p.x_px, p.y_px) for lm, p in leg.landmarks.items()} if leg else {}
            row = {"case": case.case_id, "side": side, "errors_mm": {}, "metric_errors": {}, "missing": []}
            for lm in LANDMARK_IDS:
                if lm not in pred:
                    row["missing"].append(lm)
                    per_lm[lm].append(float("inf"))
                    continue
                dx = (pred[lm][0] - truth[lm][0]) * spacing[1]
                dy = (pred[lm][1] - truth[lm][1]) * spacing[0]
                e = float(np.hypot(dx, dy))
                row["errors_mm"][lm] = e
                per_lm[lm].append(e)
            true_m = compute_leg_metrics(truth, side, spacing).as_dict()
            # every metric whose own landmarks were found (HKA does not need the diaphysis centre)
            try:
                pred_m = compute_leg_metrics(pred, side, spacing).as_dict() if pred else {}
            except GeometryError:  # a degenerate prediction: no metric of this leg
                pred_m = {}
            for k in TABLE4 + EXTRA_METRICS:
                if true_m.get(k) is not None and pred_m.get(k) is not None:
                    row["metric_errors"][k] = float(pred_m[k] - true_m[k])
            if pred_m.get("hka_deg") is not None:
                row["hka_true_deg"], row["hka_pred_deg"] = true_m["hka_deg"], pred_m["hka_deg"]
            if row["missing"]:
                image_failed = True
            legs_not_found += leg is None
            for region in {LANDMARK_REGION[lm] for lm in row["missing"]}:
                legs_missing_region[region] += 1
            per_leg.append(row)
        failed_images += image_failed
        errs = [e for r in per_leg[-len(case.landmarks):] for e in r["errors_mm"].values()]
        log(f"evaluate: {n + 1}/{len(cases)} {case.case_id} "
            f"mean error {np.mean(errs) if errs else float('nan'):.2f} mm")

    sgr_errors = [e for lm in SGR_LANDMARKS for e in per_lm[lm]]
    finite = [e for e in sgr_errors if np.isfinite(e)]
    hka_abs = [abs(r["metric_errors"]["hka_deg"]) for r in per_leg if "hka_deg" in r["metric_errors"]]
    table4 = {}
    for k in TABLE4 + EXTRA_METRICS:
        s = em.summary([abs(r["metric_errors"][k]) for r in per_leg if k in r["metric_errors"]])
        table4[k] = {"mae": s["mean"], "sd": s["sd"], "rmse": s["rmse"], "max": s["max"], "n": s["n"]}
    rates = em.detection_rates(sgr_errors)
    n_legs = len(per_leg)
    found_nothing = []
    if no_detection_images:
        found_nothing.append(f"detector: no region above its threshold ({det_thresh:g}) in "
                             f"{len(no_detection_images)} of {len(cases)} images")
    if legs_not_found:
        found_nothing.append(f"legs: {legs_not_found} of {n_legs} annotated legs were not found at all")
    for region in REGIONS:
        if legs_missing_region[region]:
            found_nothing.append(f"{region}: landmarks missing on {legs_missing_region[region]} of {n_legs} legs")
    return {
        "models": str(models), "data": str(data), "split": split, "split_reason": split_reason,
        "store_images": store_images, "n_images": len(cases), "n_legs": len(per_leg),
        "found_nothing": found_nothing, "images_without_detection": no_detection_images,
        "legs_not_found": int(legs_not_found), "legs_missing_region": legs_missing_region,
        "model_id": engine.model_id, "refinement": refiner is not None and bool(refiner.models),
        "recentre": bool(refiner is not None and recentre and refiner.recentre_offsets),
        "methods": {r: c.method for r, c in cfg.regions.items()},
        "table1_map": {"iou_0.50": em.mean_ap(dets, gts, (0.5,)), "iou_0.75": em.mean_ap(dets, gts, (0.75,)),
                       "iou_0.50:0.95": em.mean_ap(dets, gts, em.COCO_IOUS),
                       "per_class_ap50": {r: em.average_precision(dets[r], gts[r], 0.5) for r in REGIONS}},
        "table2_detection_rates": {"thresholds_mm": list(em.DETECTION_THRESHOLDS_MM), "rates_pct": rates,
                                   "average_pct": float(np.mean(rates))},
        "table3_errors_mm": {lm: em.summary(per_lm[lm]) for lm in LANDMARK_IDS},
        "mean_error_mm_8_landmarks": em.summary(finite),
        "mean_error_mm_9_landmarks": em.summary([e for lm in LANDMARK_IDS for e in per_lm[lm] if np.isfinite(e)]),
        "figure7": {"outliers_above_10mm": int(sum(e > 10 for e in sgr_errors if np.isfinite(e))),
                    "false_positives": int(fp_blobs), "missed_maps": int(missed_maps),
                    "missing_landmarks": int(sum(len(r["missing"]) for r in per_leg)),
                    "n_landmarks": len(sgr_errors)},
        "table4_metrics": table4,
        "hka_errors_above_1_5_deg_pct": float(100 * np.mean(np.array(hka_abs) > 1.5)) if hka_abs else float("nan"),
        "legs_with_hka_pct": float(100 * len(hka_abs) / n_legs) if n_legs else float("nan"),
        "hka_max_error_deg": float(max(hka_abs)) if hka_abs else float("nan"),
        "failed_images": int(failed_images),
        "diaphysis_dice": em.summary(dice_vals),
        "timings_s": {k: float(np.mean(v)) for k, v in timings.items()},
        "threads": torch.get_num_threads(), "device": engine.device,
        "per_leg": per_leg,
    }


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    res = evaluate_bundle(args.data, args.models, split=args.split, limit=args.limit, refine=not args.no_refine,
                          recentre=args.recentre, device=args.device)
    write_report(res, Path(args.out), title=args.title, command=" ".join(["python -m training.evaluate"] + sys.argv[1:]))
    print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
