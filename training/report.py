"""Writing an evaluation (``training.evaluate``) as ``report.md``, ``report.json`` and ``detection_rate.png``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from llm_viewer.core.atomic import atomic_write_bytes, atomic_write_text

PAPER = {"table1": {"iou_0.50": 0.99, "iou_0.75": 0.88, "iou_0.50:0.95": 0.71},
         "table2_avg": 78.08,
         "table3": {"femoral_head": "1.43 ± 1.04", "knee_center": "1.10 ± 1.14",
                    "femoral_condyle": "2.29 ± 2.25 / 2.11 ± 1.79", "tibial_plateau": "2.45 ± 2.53 / 2.49 ± 2.37",
                    "malleolus_lateral": "2.30 ± 1.91", "malleolus_medial": "2.09 ± 1.48"},
         "table4": {"mad_mm": "1.10 (1.30) / 1.71", "mldfa_deg": "0.65 (0.63) / 0.90", "mmpta_deg": "1.00 (0.98) / 1.40",
                    "fva_deg": "0.28 (0.34) / 0.44", "hka_deg": "0.19 (0.16) / 0.25"},
         "hka_above_1_5": 0.82}


def strict_json(obj):
    """``obj`` with every non-finite float (NaN, ±inf) replaced by ``None``: strict JSON (``null``), which
    every JSON reader accepts (bare ``NaN`` tokens are not JSON)."""
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _f(v, nd: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def detection_rate_png(thresholds: list[float], rates: list[float], label: str) -> bytes:
    """A 640×420 PNG of the detection-rate curve (drawn with OpenCV; no plotting library needed)."""
    w, h, left, r, t, b = 640, 420, 70, 20, 40, 60
    img = np.full((h, w, 3), 255, np.uint8)
    x_of = lambda x: int(left + (x / 10.0) * (w - left - r))  # noqa: E731
    y_of = lambda y: int(h - b - (y / 100.0) * (h - t - b))  # noqa: E731
    for gx in range(0, 11):
        cv2.line(img, (x_of(gx), t), (x_of(gx), h - b), (225, 225, 225), 1)
        cv2.putText(img, str(gx), (x_of(gx) - 5, h - b + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for gy in range(0, 101, 20):
        cv2.line(img, (left, y_of(gy)), (w - r, y_of(gy)), (225, 225, 225), 1)
        cv2.putText(img, f"{gy}", (left - 35, y_of(gy) + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, t), (w - r, h - b), (0, 0, 0), 1)
    rates = [r if r is not None and math.isfinite(r) else 0.0 for r in rates]  # no landmark at all: 0 %
    pts = np.array([[x_of(0), y_of(0)]] + [[x_of(x), y_of(y)] for x, y in zip(thresholds, rates)], np.int32)
    cv2.polylines(img, [pts], False, (200, 80, 0), 2, cv2.LINE_AA)
    for p in pts[1:]:
        cv2.circle(img, tuple(int(v) for v in p), 3, (200, 80, 0), -1, cv2.LINE_AA)
    cv2.putText(img, "Euclidean distance threshold [mm]", (left + 150, h - 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "landmarks detected [%]", (8, t - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, label, (left + 200, t - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 80, 0), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", img)
    return buf.tobytes()


def render_markdown(res: dict, title: str | None = None, command: str | None = None) -> str:
    t1, t2, t3, t4 = res["table1_map"], res["table2_detection_rates"], res["table3_errors_mm"], res["table4_metrics"]
    m8, f7 = res["mean_error_mm_8_landmarks"], res["figure7"]
    lines = [f"# {title or 'Evaluation of ' + res['model_id']}", ""]
    lines += [f"Model `{res['model_id']}` (methods: {', '.join(f'{k} {v}' for k, v in res['methods'].items())}; "
              f"refinement stage: {'yes' if res['refinement'] else 'no'}, ROI re-centring: "
              f"{'yes' if res.get('recentre') else 'no'}) on `{res['data']}` split `{res['split']}`: "
              f"{res['n_images']} images, {res['n_legs']} legs. Errors in mm use the images' pixel spacing.", ""]
    if res.get("store_images") is not None and res["split"] != "all":
        lines += [f"**Split `{res['split']}` only: {res['n_images']} of the store's {res['store_images']} images** "
                  f"({res.get('split_reason', '')}; `--split all` evaluates the whole store).", ""]
    elif res.get("split_reason"):
        lines += [f"Whole store ({res['split_reason']}).", ""]
    if "found_nothing" in res:
        if res["found_nothing"]:
            lines += ["**What was not found:**", ""] + [f"* {m}" for m in res["found_nothing"]]
            if res.get("images_without_detection"):
                lines.append("* images without any detection: " + ", ".join(res["images_without_detection"][:20])
                             + (" …" if len(res["images_without_detection"]) > 20 else ""))
            lines.append("")
        else:
            lines += ["Every stage found its regions and landmarks on every annotated leg.", ""]
    if command:
        lines += ["Regenerate:", "", "```bash", command, "```", ""]
    lines += ["## Summary", "", "| measure | value |", "|---|---|",
              f"| mean landmark error, 8 landmarks (paper's Table 3 set) | {_f(m8['mean'])} ± {_f(m8['sd'])} mm |",
              f"| mean landmark error, all 9 (with diaphysis centre) | {_f(res['mean_error_mm_9_landmarks']['mean'])} mm |",
              f"| HKA MAE | {_f(t4['hka_deg']['mae'])}° |",
              f"| legs with an HKA measurement | {_f(res.get('legs_with_hka_pct'), 1)} % |",
              f"| largest HKA error | {_f(res['hka_max_error_deg'])}° |",
              f"| HKA errors > 1.5° | {_f(res['hka_errors_above_1_5_deg_pct'])} % |",
              f"| missing landmarks | {f7['missing_landmarks']} |",
              f"| images where the full test failed | {res['failed_images']} |", ""]
    lines += ["## Table 1 – ROI detection (mAP)", "", "| IoU | mAP | paper |", "|---|---|---|"]
    for k in ("iou_0.50", "iou_0.75", "iou_0.50:0.95"):
        lines.append(f"| {k[4:]} | {_f(t1[k], 3)} | {PAPER['table1'][k]} |")
    lines += ["", "AP at IoU 0.5 per region: " + ", ".join(f"{r} {_f(v, 3)}" for r, v in t1["per_class_ap50"].items()),
              "(detections scoring ≥ 0.05; the pipeline keeps those ≥ its threshold).", ""]
    lines += ["## Table 2 – detection rates (8 landmarks)", "", "| threshold [mm] | " +
              " | ".join(_f(x, 1) for x in t2["thresholds_mm"]) + " |",
              "|---|" + "---|" * len(t2["thresholds_mm"]),
              "| detected [%] | " + " | ".join(_f(x, 1) for x in t2["rates_pct"]) + " |", "",
              f"Average detection rate: **{_f(t2['average_pct'])} %** (paper, α = 0.2: {PAPER['table2_avg']} %). "
              "Curve: `detection_rate.png`.", ""]
    lines += ["## Table 3 – Euclidean error per landmark (mm)", "", "| landmark | mean ± SD | median | max | n |",
              "|---|---|---|---|---|"]
    for lm, s in t3.items():
        lines.append(f"| {lm} | {_f(s['mean'])} ± {_f(s['sd'])} | {_f(s['median'])} | {_f(s['max'])} | {s['n']} |")
    lines += ["", "Paper (SGR, α = 0.2): " + "; ".join(f"{k} {v}" for k, v in PAPER["table3"].items()) + ".",
              "The diaphysis centre is a construction (midpoint of the distal cross-section of the segmented shaft),",
              "not a landmark the paper's Table 3 reports; its error along the shaft barely moves FVA.", ""]
    lines += ["## Figure 7 – robustness", "", "| outliers > 10 mm | false positives | missed (map < 0.5) | "
              "missing landmarks | landmarks |", "|---|---|---|---|---|",
              f"| {f7['outliers_above_10mm']} | {f7['false_positives']} | {f7['missed_maps']} | "
              f"{f7['missing_landmarks']} | {f7['n_landmarks']} |", ""]
    lines += ["## Table 4 – malalignment measurement", "", "| metric | MAE (SD) | RMSE | max | paper MAE (SD) / RMSE |",
              "|---|---|---|---|---|"]
    for k in ("mad_mm", "mldfa_deg", "mmpta_deg", "fva_deg", "hka_deg"):
        s = t4[k]
        lines.append(f"| {k} | {_f(s['mae'])} ({_f(s['sd'])}) | {_f(s['rmse'])} | {_f(s['max'])} | {PAPER['table4'][k]} |")
    lines += ["", f"HKA errors above 1.5°: **{_f(res['hka_errors_above_1_5_deg_pct'])} %** "
              f"(paper {PAPER['hka_above_1_5']} %).", "", "Other metrics of the same landmarks:", "",
              "| metric | MAE (SD) | RMSE | max |", "|---|---|---|---|"]
    for k in ("mldta_deg", "jlca_deg", "wbl_ratio_pct", "femur_length_mm", "tibia_length_mm"):
        s = t4[k]
        lines.append(f"| {k} | {_f(s['mae'])} ({_f(s['sd'])}) | {_f(s['rmse'])} | {_f(s['max'])} |")
    d = res["diaphysis_dice"]
    lines += ["", "## Diaphysis segmentation", "",
              f"Dice on the ground-truth ROI crop: {_f(d['mean'], 3)} ± {_f(d['sd'], 3)} (n = {d['n']}; "
              "paper U16-Pre 0.99 ± 0.005).", ""]
    lines += ["## Inference time per stage", "",
              f"Mean seconds per image on `{res['device']}` with {res['threads']} thread(s) (shared machine):", "",
              "| stage | s |", "|---|---|"]
    for k, v in res["timings_s"].items():
        lines.append(f"| {k} | {_f(v, 3)} |")
    lines.append("")
    return "\n".join(lines)


def write_report(res: dict, out: Path, *, title: str | None = None, command: str | None = None) -> None:
    """Write ``report.md``, ``report.json`` and ``detection_rate.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    t2 = res["table2_detection_rates"]
    atomic_write_bytes(out / "detection_rate.png",
                       detection_rate_png(t2["thresholds_mm"], t2["rates_pct"], res["model_id"]))
    res = strict_json(res)
    atomic_write_text(out / "report.json", json.dumps(res, indent=1, allow_nan=False) + "\n")
    atomic_write_text(out / "report.md", render_markdown(res, title, command))
