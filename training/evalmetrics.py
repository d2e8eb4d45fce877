"""The paper's evaluation measures (pure numpy): box AP/mAP, detection rates, error summaries, Dice.

Clinical metrics (HKA, mLDFA, ...) are never computed here: they come from
``llm_viewer.core.metrics.compute_leg_metrics``; this module only compares numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DETECTION_THRESHOLDS_MM: tuple[float, ...] = tuple(np.round(np.arange(0.5, 10.0001, 0.5), 2))
"""The paper's Table 2 thresholds: 0.5 : 0.5 : 10 mm."""
COCO_IOUS: tuple[float, ...] = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``[x0, y0, x1, y1]`` boxes (edges; same convention for both)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def average_precision(detections: list[tuple[str, float, Sequence[float]]],
                      ground_truth: dict[str, list[Sequence[float]]], iou_threshold: float) -> float:
    """COCO-style AP of one class (101-point interpolated precision–recall).

    Parameters
    ----------
    detections : list of (image_id, score, box)
    ground_truth : dict
        ``image_id -> [box, ...]``.
    iou_threshold : float

    Returns
    -------
    float
        AP in [0, 1]; ``nan`` when there is no ground-truth box.
    """
    n_gt = sum(len(v) for v in ground_truth.values())
    if n_gt == 0:
        return float("nan")
    used = {k: np.zeros(len(v), bool) for k, v in ground_truth.items()}
    tp = []
    for img, _score, box in sorted(detections, key=lambda d: -d[1]):
        gts = ground_truth.get(img, [])
        best, best_j = iou_threshold, -1
        for j, g in enumerate(gts):
            if used[img][j]:
                continue
            iou = box_iou(box, g)
            if iou >= best:
                best, best_j = iou, j
        if best_j >= 0:
            used[img][best_j] = True
        tp.append(best_j >= 0)
    if not tp:
        return 0.0
    tp_arr = np.array(tp, dtype=np.float64)
    ctp = np.cumsum(tp_arr)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, len(tp_arr) + 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone envelope
    ap = 0.0
    for r in np.linspace(0, 1, 101):
        idx = np.searchsorted(recall, r, side="left")
        ap += precision[idx] if idx < len(precision) else 0.0
    return float(ap / 101)


def mean_ap(detections: dict[str, list[tuple[str, float, Sequence[float]]]],
            ground_truth: dict[str, dict[str, list[Sequence[float]]]], ious: Sequence[float]) -> float:
    """mAP over classes, averaged over the IoU thresholds ``ious``."""
    vals = []
    for iou in ious:
        aps = [average_precision(detections.get(c, []), ground_truth[c], iou) for c in ground_truth]
        aps = [a for a in aps if np.isfinite(a)]
        vals.append(float(np.mean(aps)) if aps else float("nan"))
    return float(np.mean(vals))


def detection_rates(errors_mm: Sequence[float], thresholds: Sequence[float] = DETECTION_THRESHOLDS_MM
                    ) -> list[float]:
    """Percentage of landmarks with error ≤ each threshold (a missing landmark is ``inf``: never detected)."""
    e = np.asarray(errors_mm, dtype=np.float64)
    if e.size == 0:
        return [float("nan")] * len(thresholds)
    return [float(100.0 * np.mean(e <= t)) for t in thresholds]


def summary(values: Sequence[float]) -> dict[str, float | int]:
    """Mean, SD, RMSE (of the values as errors), median, max and count of finite values."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"n": 0, "mean": float("nan"), "sd": float("nan"), "rmse": float("nan"), "median": float("nan"),
                "max": float("nan")}
    return {"n": int(v.size), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "rmse": float(np.sqrt(np.mean(v**2))), "median": float(np.median(v)), "max": float(v.max())}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    s = a.sum() + b.sum()
    return float(2.0 * np.logical_and(a, b).sum() / s) if s else 1.0
