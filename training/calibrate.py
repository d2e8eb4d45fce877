"""Calibrate a bundle's landmark radii (split-conformal, 90 %) and OOD references; check them on other stores.

Usage::

    python -m training.calibrate --models BUNDLE --data CAL_STORE [--data2 STORE ...] [--radii-only STORE ...] --out BUNDLE
    python -m training.calibrate --models BUNDLE --check STORE [STORE ...] [--tta] [--json OUT]

The first form runs the bundle (``InferenceEngine.analyze`` with refinement, exactly as ``llm-viewer analyze``,
with test-time augmentation on so that both modes are calibrated from one pass: points are the same with and
without it) on every study of the calibration stores, compares with their ground truth and writes
``calibration.json`` into ``--out`` (normally the bundle folder itself; see
:mod:`llm_viewer.pipeline.calibration` for the formulas). The second form loads the bundle *with* its
calibration and prints, per store, the share of true points inside the 90 % radius per region, the share of
HKA / mLDFA / mMPTA true values inside their intervals (``llm_viewer.core.uncertainty``), the image OOD rate
and the mean radius in mm.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from llm_viewer.core.landmarks import LANDMARK_IDS, LANDMARK_REGION, REGIONS

CHECK_METRICS = ("hka_deg", "mldfa_deg", "mmpta_deg")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Conformal calibration of landmark radii and the OOD flag",
                                add_help=add_help)
    p.add_argument("--models", required=True, help="model bundle folder")
    p.add_argument("--data", nargs="+", default=[], help="calibration store(s) with ground truth")
    p.add_argument("--data2", nargs="+", default=[], help="more calibration stores (pooled with --data)")
    p.add_argument("--radii-only", nargs="+", default=[], metavar="STORE",
                   help="more stores for the radii and metric intervals only, not the OOD references (e.g. exports "
                        "of other generator versions, whose weak detections would loosen the OOD flag)")
    p.add_argument("--out", default=None, help="folder that receives calibration.json (normally the bundle)")
    p.add_argument("--check", nargs="+", default=None, metavar="STORE", help="evaluate the calibration on stores")
    p.add_argument("--coverage", type=float, default=0.9, help="probability the radius holds (default 0.9)")
    p.add_argument("--margin", type=float, default=1.25, help="OOD thresholds = margin x calibration max")
    p.add_argument("--tta", action="store_true", help="--check: run with test-time augmentation (tta mode)")
    p.add_argument("--limit", type=int, default=None, help="at most this many studies per store")
    p.add_argument("--json", default=None, help="--check: also write every number to this JSON file")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    return p


# --------------------------------------------------------------------------- one store through the engine
def run_store(engine: Any, store_path: str | Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Analyse every study of a store; per study the features, predictions and ground truth (JSON-able)."""
    from llm_viewer.core.imageio import load_image
    from llm_viewer.core.store import Store
    from llm_viewer.pipeline.calibration import image_features
    from llm_viewer.pipeline.crop import normalize_intensity

    store = Store.open(store_path)
    out = []
    for e in store.entries()[:limit]:
        case = store.load_case(e)
        img = load_image(store.image_path(e))
        px = np.asarray(img.pixels, dtype=np.float32)
        res = engine.analyze(px)
        norm = normalize_intensity(px, engine.config.intensity)
        feats = image_features(norm, res, engine.config.regions)
        gt = {side: {k: [float(p.x), float(p.y)] for k, p in case.landmarks(side).items()} for side in case.sides}
        pred = {side: {k: {"xy": [p.x_px, p.y_px], "radius90_px": p.radius90_px, "ood": p.ood}
                       for k, p in leg.landmarks.items()} for side, leg in res.legs.items()}
        unc = res.uncertainty.as_dict() if res.uncertainty is not None else None
        out.append({"id": e.id, "store": str(store_path), "gt": gt, "pred": pred, "features": feats.to_json(),
                    "gt_spacing_mm": [float(v) for v in case.pixel_spacing_mm] if case.pixel_spacing_mm else None,
                    "image_spacing_mm": list(img.pixel_spacing_mm) if img.pixel_spacing_mm else None,
                    "uncertainty": unc,
                    "metric_factors": res.uncertainty.metric_factors if res.uncertainty is not None else {}})
    return out


# --------------------------------------------------------------------------- fitting
def fit(records: list[dict[str, Any]], model_id: str, *, coverage: float = 0.9, margin: float = 1.25,
        data: list[dict[str, Any]] | None = None):
    """Build a :class:`~llm_viewer.pipeline.calibration.Calibration` from :func:`run_store` records.

    Records with ``"ood_reference": False`` (``--radii-only`` stores) feed the radii and metric factors only, not
    the OOD flag's references (histograms, detector scores, texture)."""
    from llm_viewer.core.uncertainty import metric_intervals
    from llm_viewer.pipeline.calibration import (
        Calibration,
        ImageFeatures,
        ModeCalibration,
        conformal_quantile,
        hellinger,
        raw_uncertainty_px,
    )

    feats = [ImageFeatures.from_json(r["features"]) for r in records]
    with_legs = [f for r, f in zip(records, feats) if f.n_legs and r.get("ood_reference", True)]
    if not with_legs:
        raise ValueError("the model found no leg on any calibration study: nothing to calibrate on")
    ref = np.mean([f.hist for f in with_legs], axis=0)
    region_ref = {}
    region_max = {}
    for region in REGIONS:
        hs = [h for f in with_legs for (s, r), h in f.region_hist.items() if r == region]
        if hs:
            region_ref[region] = np.mean(hs, axis=0)
            region_max[region] = max(1e-3, max(hellinger(np.array(h), region_ref[region]) for h in hs))
    cal = Calibration(
        model_id=model_id, coverage=coverage, modes={}, reference_hist=ref.tolist(),
        hist_max=max(1e-3, max(hellinger(np.array(f.hist), ref) for f in with_legs)),
        region_reference_hist={r: v.tolist() for r, v in region_ref.items()}, region_hist_max=region_max,
        flagged_max=max(f.flagged_frac for f in with_legs),
        detector_max=max(1e-3, max(1.0 - min(f.det_scores, default=0.0) for f in with_legs)),
        best_detector_max=max(1.0 - max(f.det_scores, default=0.0) for f in with_legs),
        texture_ref=float(np.mean([f.texture for f in with_legs])),
        texture_dev=max(1e-3, max(abs(f.texture - float(np.mean([g.texture for g in with_legs]))) for f in with_legs)),
        margin=margin, created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), data=data or [])

    modes = {}
    for mode in ("plain", "tta"):
        scores: dict[str, list[float]] = defaultdict(list)
        low_scores: dict[str, list[float]] = defaultdict(list)
        raw_max: dict[str, float] = {}
        for rec, f in zip(records, feats):
            img_z, _ = cal.image_ood(f)
            for side, pts in rec["pred"].items():
                for lm, p in pts.items():
                    t = rec["gt"].get(side, {}).get(lm)
                    if t is None:
                        continue
                    lf = f.landmarks[(side, lm)]
                    raw = raw_uncertainty_px(lf.uncertainty_px, lf.tta_spread_px, tta=mode == "tta")
                    raw_max[lm] = max(raw_max.get(lm, 0.0), raw)
                    g = max(1.0, img_z)  # landmark-level raw OOD needs raw_max: equals 1 on calibration data
                    err = math.hypot(p["xy"][0] - t[0], p["xy"][1] - t[1])
                    (low_scores if lf.low_res else scores)[lm].append(err / (raw * g))
        # the common factors from every point (as without the class: the low-resolution points' larger errors
        # keep them conservative for full-resolution images of other generator versions); the
        # low-resolution class from its own points only
        low_factors, low_n = _class_factors(low_scores, coverage, need_n=True)
        factors, n = _class_factors({lm: scores.get(lm, []) + low_scores.get(lm, [])
                                     for lm in set(scores) | set(low_scores)}, coverage)
        modes[mode] = ModeCalibration(factors, raw_max, {}, n, low_factors, low_n)
    cal = Calibration(**{**cal.__dict__, "modes": modes})

    # Per-metric conformal factor on the propagated intervals (same records, radii from the factors above).
    for mode in ("plain", "tta"):
        m = modes[mode]
        ratios: dict[str, list[float]] = defaultdict(list)
        full_res = sum(1 for rec, f in zip(records, feats) for side in rec["pred"]
                       if len(rec["gt"].get(side, {})) == 9 and not _low_res_leg(f, side))
        for rec, f in zip(records, feats):
            sp = rec["gt_spacing_mm"]
            for side, pts in rec["pred"].items():
                gt = rec["gt"].get(side, {})
                if len(gt) != 9:
                    continue
                if full_res >= MIN_METRIC_LEGS and _low_res_leg(f, side):
                    # the factor scales intervals propagated from calibrated radii: from full-resolution legs,
                    # whose radii are the tight ones (a low-resolution leg's are wide already in their class)
                    continue
                radii = _radii(cal, m, f, side, pts, mode == "tta")
                pred_xy = {lm: p["xy"] for lm, p in pts.items()}
                try:
                    iv = metric_intervals(pred_xy, radii, side, sp, coverage=coverage)
                    truth = _metrics(gt, side, sp)
                except ValueError:
                    continue
                for key, interval in iv.items():
                    tv = truth.get(key)
                    if isinstance(tv, (int, float)) and interval.half_width > 0:
                        ratios[key].append(abs(interval.value - tv) / interval.half_width)
        mf = {k: conformal_quantile(v, coverage) for k, v in ratios.items()}
        modes[mode] = ModeCalibration(m.factors, m.raw_max, {k: v for k, v in mf.items() if math.isfinite(v)
                                                              and v > 0}, m.n, m.low_res_factors, m.low_res_n)
    return Calibration(**{**cal.__dict__, "modes": modes})


MIN_METRIC_LEGS = 20


def _low_res_leg(f: Any, side: str) -> bool:
    """Whether any landmark of the leg is in the low-resolution class."""
    return any(lf.low_res for (s, _lm), lf in f.landmarks.items() if s == side)


def _class_factors(scores: dict[str, list[float]], coverage: float, *, need_n: bool = False
                   ) -> tuple[dict[str, float], dict[str, int]]:
    """Conformal factor per landmark of one class of points: its own scores, or its region's pooled ones when
    it has fewer than ``MIN_PER_LANDMARK``; with ``need_n`` none where the region has fewer too (else any
    finite quantile: at least 9 points for 90 %)."""
    from llm_viewer.pipeline.calibration import MIN_PER_LANDMARK, conformal_quantile

    factors: dict[str, float] = {}
    n: dict[str, int] = {}
    for lm in LANDMARK_IDS:
        pool = scores.get(lm, [])
        if len(pool) < MIN_PER_LANDMARK:
            pool = [v for k, vs in scores.items() if LANDMARK_REGION[k] == LANDMARK_REGION[lm] for v in vs]
        if need_n and len(pool) < MIN_PER_LANDMARK:
            continue
        q = conformal_quantile(pool, coverage)
        if math.isfinite(q) and q > 0:
            factors[lm], n[lm] = q, len(pool)
    return factors, n


def _radii(cal: Any, m: Any, f: Any, side: str, pts: dict, tta: bool) -> dict[str, float | None]:
    from llm_viewer.pipeline.calibration import raw_uncertainty_px

    img_z, _ = cal.image_ood(f)
    out: dict[str, float | None] = {}
    for lm in pts:
        lf = f.landmarks[(side, lm)]
        raw = raw_uncertainty_px(lf.uncertainty_px, lf.tta_spread_px, tta=tta)
        z = max(img_z, cal.landmark_ood(f, side, lm, raw, m))
        q = m.factor(lm, lf.low_res)
        out[lm] = q * raw * max(1.0, z) if q is not None else None
    return out


def _metrics(landmarks: dict, side: str, spacing: Any) -> dict[str, Any]:
    from llm_viewer.core.metrics import compute_leg_metrics

    return compute_leg_metrics(landmarks, side, spacing).as_dict()


# --------------------------------------------------------------------------- checking
def check_records(records: list[dict[str, Any]], coverage: float = 0.9) -> dict[str, Any]:
    """Coverage numbers of one store from :func:`run_store` records made by a calibrated engine."""
    from llm_viewer.core.uncertainty import metric_intervals

    inside: dict[str, list[bool]] = defaultdict(list)
    radius_mm: dict[str, list[float]] = defaultdict(list)
    metric_in: dict[str, list[bool]] = defaultdict(list)
    missed = 0
    ood_images = 0
    for rec in records:
        unc = rec.get("uncertainty") or {}
        ood_images += bool((unc.get("ood") or {}).get("flagged"))
        sp = rec["gt_spacing_mm"]
        px_mm = math.sqrt(sp[0] * sp[1]) if sp else float("nan")
        for side, gt in rec["gt"].items():
            pts = rec["pred"].get(side, {})
            for lm, t in gt.items():
                p = pts.get(lm)
                if p is None or p.get("radius90_px") is None:
                    missed += 1
                    continue
                err = math.hypot(p["xy"][0] - t[0], p["xy"][1] - t[1])
                inside[LANDMARK_REGION[lm]].append(err <= p["radius90_px"])
                radius_mm[LANDMARK_REGION[lm]].append(p["radius90_px"] * px_mm)
            if len(gt) != 9 or not pts:
                continue
            radii = {lm: p.get("radius90_px") for lm, p in pts.items()}
            try:
                iv = metric_intervals({lm: p["xy"] for lm, p in pts.items()}, radii, side, sp, coverage=coverage,
                                      factors=rec.get("metric_factors") or {}, keys=CHECK_METRICS)
                truth = _metrics(gt, side, sp)
            except ValueError:
                continue
            for key in CHECK_METRICS:
                if key in iv and isinstance(truth.get(key), (int, float)):
                    metric_in[key].append(iv[key].low <= truth[key] <= iv[key].high)
                    metric_in[key + "_hw"].append(iv[key].half_width)  # type: ignore[arg-type]
    pts_all = [v for vs in inside.values() for v in vs]
    return {
        "studies": len(records),
        "regions": {r: {"n": len(v), "inside_pct": 100.0 * float(np.mean(v)) if v else None,
                        "mean_radius_mm": float(np.mean(radius_mm[r])) if radius_mm[r] else None}
                    for r, v in inside.items()},
        "all_inside_pct": 100.0 * float(np.mean(pts_all)) if pts_all else None,
        "missed": missed,
        "metrics": {k: {"n": len(metric_in[k]), "inside_pct": 100.0 * float(np.mean(metric_in[k]))
                        if metric_in[k] else None,
                        "mean_half_width_deg": float(np.mean(metric_in[k + "_hw"])) if metric_in[k + "_hw"] else None}
                    for k in CHECK_METRICS},
        "ood_images_pct": 100.0 * ood_images / len(records) if records else None,
    }


def _pct(v: Any) -> str:
    return "—" if v is None else f"{v:.0f} %"


def format_table(results: dict[str, dict[str, Any]]) -> str:
    regions = [r for r in REGIONS if any(r in res["regions"] for res in results.values())]
    head = (["store", "studies"] + [f"{r} in r90 (n, mean r90 mm)" for r in regions] + ["all"]
            + [f"{k.split('_')[0].upper()} in ±" for k in CHECK_METRICS] + ["OOD images", "missed"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in results.items():
        cells = [name, str(res["studies"])]
        for r in regions:
            d = res["regions"].get(r)
            cells.append("—" if d is None else f"{_pct(d['inside_pct'])} ({d['n']}, {d['mean_radius_mm']:.1f})")
        cells.append(_pct(res["all_inside_pct"]))
        for k in CHECK_METRICS:
            d = res["metrics"][k]
            hw = d["mean_half_width_deg"]
            cells.append(f"{_pct(d['inside_pct'])} (±{hw:.2f}°)" if hw is not None else "—")
        cells += [_pct(res["ood_images_pct"]), str(res["missed"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- entry point
def main(args: argparse.Namespace) -> int:
    import torch

    from llm_viewer.pipeline.bundle import BundleError
    from llm_viewer.pipeline.engine import InferenceEngine

    torch.set_num_threads(max(1, args.threads))
    stores = list(args.data) + list(args.data2) + list(args.radii_only)
    if args.check is None and not stores:
        print("calibrate: give --data STORE (to calibrate) or --check STORE (to evaluate)", file=sys.stderr)
        return 2
    try:
        if args.check is not None:
            engine = InferenceEngine.from_bundle(args.models, device=args.device, tta=args.tta)
            if engine.calibration is None:
                print(f"calibrate: {args.models} has no usable calibration.json "
                      f"({engine.calibration_warning or 'run --data first'})", file=sys.stderr)
                return 2
            results = {}
            for s in args.check:
                t0 = time.perf_counter()
                results[Path(s).name] = check_records(run_store(engine, s, limit=args.limit), engine.calibration.coverage)
                print(f"calibrate: checked {s} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            table = format_table(results)
            sys.stdout.write(f"Calibration check of {engine.model_id} ({'tta' if args.tta else 'plain'} mode, "
                             f"{100 * engine.calibration.coverage:.0f} % radius)\n\n" + table)
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
            return 0
        engine = InferenceEngine.from_bundle(args.models, device=args.device, tta=True)
        engine.calibration = None  # calibrate from the raw outputs, never from an old calibration
        engine.calibration_warning = None
        records, data = [], []
        for s in stores:
            t0 = time.perf_counter()
            recs = run_store(engine, s, limit=args.limit)
            reference = s not in args.radii_only
            for r in recs:
                r["ood_reference"] = reference
            records += recs
            data.append({"store": str(s), "studies": len(recs)} | ({} if reference else {"radii_only": True}))
            print(f"calibrate: ran {len(recs)} studies of {s} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        cal = fit(records, engine.model_id, coverage=args.coverage, margin=args.margin, data=data)
        path = cal.save(args.out or args.models)
        plain = cal.modes["plain"]
        print(f"calibrate: wrote {path} ({sum(data_['studies'] for data_ in data)} studies); plain factors: "
              + ", ".join(f"{k}={v:.2f}" for k, v in plain.factors.items())
              + "; metric factors: " + ", ".join(f"{k}={v:.2f}" for k, v in plain.metric_factors.items()))
        return 0
    except (BundleError, ValueError, OSError) as exc:  # StoreError and DataError are ValueErrors
        print(f"calibrate: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
