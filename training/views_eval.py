"""Every view a clinic sends: the pipeline on held-out studies cut to partial fields of view.

Usage::

    python -m training.views_eval --models BUNDLE --data STORE [STORE ...] --single-leg STORE --out DIR

Views of each held-out study (16-bit pixels cut from the study, spacing and ground truth kept exactly):

``full pair``            the whole film;
``single leg, no pelvis`` one leg's half of the film (cut at the midline between the legs), from 45 mm above
                         the femoral head centre (no pelvis);
``hip to knee``          both legs, from the top to 80 mm below the knee centre (no ankle);
``knee only``            one leg's half, the knee centre ± 110 mm;
``ankle only``           one leg's half, 90 mm above to 60 mm below the malleoli;
``legs touching``        full films whose medial malleoli or medial condyles are under :data:`TOUCH_MM` apart;
``ruler between legs``   full films with the radiopaque ruler in the middle fifth of the film;
``128-px leg``           the clinical single-leg exports (``--single-leg``: 128 × 1024, 8-bit, no spacing).

Per view: the share of visible ground-truth landmarks found (a landmark is visible when it lies inside the
view), the mean error of those found (mm; the 8 paper landmarks), the metrics computed against those the
visible landmarks allow (HKA, mLDFA, mMPTA, mLDTA, JLCA), side accuracy (each predicted leg matched to the
ground-truth leg nearest to it; right when the labels agree), and **phantoms**: landmarks reported for a
region none of whose landmarks is in the view. Writes ``DIR/views.md`` and ``DIR/views.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llm_viewer.core.landmarks import LANDMARK_REGION

TOUCH_MM = 40.0
VIEW_KINDS = ("full pair", "single leg, no pelvis", "hip to knee", "knee only", "ankle only", "legs touching",
              "ruler between legs", "128-px leg")
CHECK_METRICS = ("hka_deg", "mldfa_deg", "mmpta_deg", "mldta_deg", "jlca_deg")
SCORED = ("femoral_head", "femoral_condyle_lateral", "femoral_condyle_medial", "knee_center",
          "tibial_plateau_lateral", "tibial_plateau_medial", "malleolus_lateral", "malleolus_medial")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="The pipeline on partial fields of view", add_help=add_help)
    p.add_argument("--models", default=None, help="model bundle (default: the bundled demo model)")
    p.add_argument("--data", nargs="+", required=True, help="held-out stores of full films (DICOM + truth)")
    p.add_argument("--single-leg", nargs="*", default=[], help="stores of 128-px single-leg exports")
    p.add_argument("--limit", type=int, default=None, help="at most this many studies per store")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    return p


def _leg_x_range(gt: dict, w: int, margin_px: float) -> tuple[int, int]:
    xs = [p[0] for p in gt.values()]
    return max(0, int(min(xs) - margin_px)), min(w, int(math.ceil(max(xs) + margin_px)))


def make_views(pixels: np.ndarray, gt: dict[str, dict[str, tuple[float, float]]], spacing_mm: float,
               case: Any) -> list[tuple[str, tuple[int, int, int, int], list[str]]]:
    """``(kind, (x0, y0, x1, y1), sides)`` of every view this study gives (see the module docstring)."""
    h, w = pixels.shape
    mm = 1.0 / spacing_mm
    views = [("full pair", (0, 0, w, h), list(gt))]
    centre = {s: float(np.mean([p[0] for p in pts.values()])) for s, pts in gt.items()}
    mid = 0.5 * (centre["right"] + centre["left"]) if len(gt) == 2 else None
    for side, pts in gt.items():
        if mid is None:
            x0, x1 = _leg_x_range(pts, w, 70 * mm)
        else:  # the leg's half of the film, cut at the midline between the legs (as a one-leg export is)
            x0, x1 = (0, int(mid)) if centre[side] < mid else (int(mid), w)
        if "femoral_head" in pts:
            views.append(("single leg, no pelvis", (x0, max(0, int(pts["femoral_head"][1] - 45 * mm)), x1, h), [side]))
        if "knee_center" in pts:
            ky = pts["knee_center"][1]
            views.append(("knee only", (x0, max(0, int(ky - 110 * mm)), x1, min(h, int(ky + 110 * mm))), [side]))
        if "malleolus_medial" in pts and "malleolus_lateral" in pts:
            ay = 0.5 * (pts["malleolus_medial"][1] + pts["malleolus_lateral"][1])
            views.append(("ankle only", (x0, max(0, int(ay - 90 * mm)), x1, min(h, int(ay + 60 * mm))), [side]))
    knees = [p["knee_center"][1] for p in gt.values() if "knee_center" in p]
    if knees:
        views.append(("hip to knee", (0, 0, w, min(h, int(max(knees) + 80 * mm))), list(gt)))
    if len(gt) == 2:
        r, lft = gt["right"], gt["left"]
        gaps = [abs(lft[k][0] - r[k][0]) * spacing_mm for k in ("malleolus_medial", "femoral_condyle_medial")
                if k in r and k in lft]
        if gaps and min(gaps) < TOUCH_MM:
            views.append(("legs touching", (0, 0, w, h), list(gt)))
    for o in (case.to_dict().get("synthetic") or {}).get("overlays", []):
        if o.get("kind") == "ruler":
            cx = 0.5 * (o["box_px"][0] + o["box_px"][2])
            if 0.4 * w <= cx <= 0.6 * w:
                views.append(("ruler between legs", (0, 0, w, h), list(gt)))
    return views


@dataclass(frozen=True)
class View:
    """One view of a held-out study (:func:`make_views`): its pixels, and the ground truth inside it."""

    study_id: str
    kind: str
    pixels: np.ndarray
    gt: dict[str, dict[str, tuple[float, float]]]
    """Side -> landmark -> (x, y) in the view's pixels, only the landmarks inside it (legs without any dropped)."""
    sides: list[str]
    spacing_mm: tuple[float, float] | None


def iter_views(store_paths: list[str], limit: int | None = None) -> Iterator[View]:
    """Every view of the first ``limit`` studies of each store (a line on stderr after each study)."""
    from llm_viewer.core.imageio import load_image
    from llm_viewer.core.store import Store

    for store_path in store_paths:
        store = Store.open(store_path)
        for e in store.entries()[:limit]:
            case = store.load_case(e)
            img = load_image(store.image_path(e))
            spacing = case.pixel_spacing_mm or img.pixel_spacing_mm
            px = np.asarray(img.pixels, dtype=np.float32)
            gt = {s: {k: (p.x, p.y) for k, p in case.landmarks(s).items()} for s in case.sides}
            for kind, (x0, y0, x1, y1), sides in make_views(px, gt, float(np.sqrt(spacing[0] * spacing[1])), case):
                view_gt = {s: {k: (x - x0, y - y0) for k, (x, y) in gt[s].items()
                               if x0 <= x < x1 and y0 <= y < y1} for s in sides}
                yield View(e.id, kind, px[y0:y1, x0:x1], {s: v for s, v in view_gt.items() if v}, list(sides),
                           spacing)
            print(f"{e.id} done", file=sys.stderr, flush=True)


def score_view(result: Any, gt: dict[str, dict[str, tuple[float, float]]], spacing: tuple[float, float] | None
               ) -> dict[str, Any]:
    """Found share, errors, metrics, side and phantoms of one analysed view (ground truth in view pixels)."""
    from llm_viewer.core.metrics import METRIC_LANDMARKS, compute_leg_metrics

    sx, sy = (spacing[1], spacing[0]) if spacing else (1.0, 1.0)
    out = {"visible": 0, "found": 0, "errors_mm": [], "computable": 0, "computed": 0, "legs": 0,
           "side_right": 0, "phantoms": 0}
    visible_regions = {side: {LANDMARK_REGION[lm] for lm in pts} for side, pts in gt.items()}
    gt_x = {s: float(np.mean([q[0] for q in pts.values()])) for s, pts in gt.items()}
    pred_x = {s: float(np.mean([p.x_px for p in leg.landmarks.values()]))
              for s, leg in result.legs.items() if leg.landmarks}
    for pside, px in pred_x.items():
        leg = result.legs[pside]
        # the ground-truth leg nearest to the predicted one (by the mean x of its landmarks)
        tside = min(gt_x, key=lambda s: abs(gt_x[s] - px)) if gt_x else None
        if tside is None:
            out["phantoms"] += len(leg.landmarks)
            continue
        out["phantoms"] += sum(LANDMARK_REGION[lm] not in visible_regions[tside] for lm in leg.landmarks)
    for tside, pts in gt.items():
        out["legs"] += 1
        # the predicted leg whose landmarks lie nearest this ground-truth leg (by mean x)
        near = min(pred_x, key=lambda s: abs(pred_x[s] - gt_x[tside])) if pred_x else None
        match = (near, result.legs[near]) if near is not None else None
        if match is not None and match[0] == tside:
            out["side_right"] += 1
        leg = match[1] if match is not None else None
        pred = {}
        for lm, (x, y) in pts.items():
            if lm not in SCORED:
                continue
            out["visible"] += 1
            p = None if leg is None else leg.landmarks.get(lm)
            if p is not None:
                out["found"] += 1
                out["errors_mm"].append(math.hypot((p.x_px - x) * sx, (p.y_px - y) * sy))
        if leg is not None:
            pred = {lm: (p.x_px, p.y_px) for lm, p in leg.landmarks.items()}
        got = compute_leg_metrics(pred, tside, spacing).as_dict() if pred else {}
        for key in CHECK_METRICS:
            if METRIC_LANDMARKS[key] <= set(pts):
                out["computable"] += 1
                out["computed"] += got.get(key) is not None
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    vis = sum(r["visible"] for r in rows)
    errs = [e for r in rows for e in r["errors_mm"]]
    comp = sum(r["computable"] for r in rows)
    legs = sum(r["legs"] for r in rows)
    return {"views": len(rows), "visible": vis, "found_pct": 100.0 * sum(r["found"] for r in rows) / vis if vis else None,
            "mean_err_mm": float(np.mean(errs)) if errs else None,
            "median_err_mm": float(np.median(errs)) if errs else None,
            "metrics": f"{sum(r['computed'] for r in rows)}/{comp}",
            "side_pct": 100.0 * sum(r["side_right"] for r in rows) / legs if legs else None,
            "phantoms": sum(r["phantoms"] for r in rows)}


def format_table(summary: dict[str, dict[str, Any]], model_id: str, seconds: float) -> str:
    def f(v, fmt):
        return "–" if v is None else format(v, fmt)

    lines = [f"Model `{model_id}`, {seconds / 60:.1f} min. Targets: ≥ 98 % of visible landmarks found, side right in "
             "≥ 98 %, no phantom (a landmark reported for a region outside the view).", "",
             "| view | views | visible landmarks | found | mean error (mm) | median (mm) | metrics computed / computable | "
             "side right | phantoms |", "|---|---|---|---|---|---|---|---|---|"]
    for kind in VIEW_KINDS:
        s = summary.get(kind)
        if not s:
            continue
        lines.append(f"| {kind} | {s['views']} | {s['visible']} | {f(s['found_pct'], '.1f')} % | "
                     f"{f(s['mean_err_mm'], '.2f')} | {f(s['median_err_mm'], '.2f')} | {s['metrics']} | "
                     f"{f(s['side_pct'], '.1f')} % | {s['phantoms']} |")
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    import torch

    from llm_viewer.core.imageio import load_image
    from llm_viewer.core.store import Store
    from llm_viewer.pipeline.engine import InferenceEngine

    torch.set_num_threads(max(1, args.threads))
    engine = InferenceEngine.from_bundle(args.models, device="cpu")
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in VIEW_KINDS}
    t0 = time.perf_counter()
    for view in iter_views(args.data, args.limit):
        res = engine.analyze(view.pixels)
        rows[view.kind].append({"study": view.study_id, **score_view(res, view.gt, view.spacing_mm)})
    for store_path in args.single_leg:
        store = Store.open(store_path)
        for e in store.entries()[: args.limit]:
            case = store.load_case(e)
            img = load_image(store.image_path(e))
            spacing = case.pixel_spacing_mm
            gt = {s: {k: (p.x, p.y) for k, p in case.landmarks(s).items()} for s in case.sides}
            res = engine.analyze(np.asarray(img.pixels, dtype=np.float32))
            rows["128-px leg"].append({"study": e.id, **score_view(res, gt, spacing)})
    seconds = time.perf_counter() - t0
    summary = {k: summarise(v) for k, v in rows.items() if v}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = format_table(summary, engine.model_id, seconds)
    (out / "views.md").write_text(text, encoding="utf-8")
    (out / "views.json").write_text(json.dumps({"summary": summary, "model_id": engine.model_id, "rows": rows}, indent=1,
                                               allow_nan=False), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
