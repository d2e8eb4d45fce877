"""Does the uncertainty score rank images by their true error? Spearman correlation on a store with ground truth.

For every case of the store: the evidence of :class:`~.tta.UncertaintyAnalyzer` (engine + refinement, test-time
views), every strategy's score, and the true mean landmark error of the final landmarks (mm, over the paper's
eight landmarks, :data:`~.strategies.SCORED_LANDMARKS`, that the pipeline placed, as the evaluation's Table 3;
``error_all_mm`` adds the diaphysis centre; missing ones are counted separately and, in
``error_with_missing_mm``, as :data:`~.strategies.MISSING_PENALTY_MM`). Spearman's rho of score vs error, per
strategy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .strategies import MISSING_PENALTY_MM, SCORED_LANDMARKS, STRATEGIES, get_strategy, landmark_disagreement
from .tta import UncertaintyAnalyzer


@dataclass(frozen=True)
class CaseScores:
    """One image: its true errors and every strategy's score."""

    case_id: str
    error_mm: float
    error_with_missing_mm: float
    error_all_mm: float
    n_missing: int
    scores: dict[str, float]
    landmarks: list[dict]
    """Per placed landmark: side, id, true error, SGR disagreement, first-stage and final uncertainty, how far
    the refinement moved it, spread under the views (mm)."""


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); ``nan`` with fewer than 3 pairs."""
    from scipy.stats import spearmanr

    if len(a) < 3:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def score_store(store_path: str | Path, analyzer: UncertaintyAnalyzer, *, strategies: Sequence[str] | None = None,
                limit: int | None = None, use_true_boxes: bool = False, split: str | None = None,
                log: Callable[[str], None] | None = None) -> list[CaseScores]:
    """Scores and true errors of every case of a store (see the module docstring).

    ``use_true_boxes``: feed the ground-truth ROI boxes instead of running the detector (isolates the
    landmark stage). ``split``: only that split of the store.
    """
    from ...core.imageio import load_image
    from ...core.store import Store
    from ..crop import Box
    from ..legs import Detection

    names = list(strategies or STRATEGIES)
    store = Store.open(store_path)
    out: list[CaseScores] = []
    entries = store.entries(split=split)
    entries = entries[:limit] if limit else entries
    for i, e in enumerate(entries):
        case = store.load_case(e)
        image = load_image(store.image_path(e))
        spacing = case.pixel_spacing_mm or image.pixel_spacing_mm
        dets = None
        if use_true_boxes:
            dets = [Detection(r["region"], Box(*(float(v) for v in r["box_px"])), 1.0) for r in case.rois]
        ev, final = analyzer.evidence(image.pixels, tta=True, pixel_spacing_mm=spacing, key=e.id, detections=dets)
        errs, missing, per_lm = [], 0, []
        mm = float(np.sqrt(spacing[0] * spacing[1])) if spacing else 1.0
        for side in case.sides:
            truth = case.landmarks(side)
            leg = final.legs.get(side)
            for lm, p in truth.items():
                q = leg.landmarks.get(lm) if leg is not None else None
                if q is None:
                    missing += 1
                    continue
                dx, dy = q.x_px - p.x, q.y_px - p.y
                errs.append(float(np.hypot(dx * spacing[1], dy * spacing[0])) if spacing else float(np.hypot(dx, dy)))
                raw = ev.result.legs[side].landmarks.get(lm) if side in ev.result.legs else None
                pts = ev.tta.points_px.get(side, {}).get(lm) if ev.tta is not None else None
                per_lm.append({"side": side, "landmark": lm, "error_mm": errs[-1],
                               "disagreement_mm": landmark_disagreement(raw, spacing) if raw else None,
                               "uncertainty_mm": raw.uncertainty_px * mm if raw else None,
                               "final_uncertainty_mm": q.uncertainty_px * mm,
                               "refine_shift_mm": float(np.hypot((q.x_px - raw.x_px) * spacing[1],
                                                                 (q.y_px - raw.y_px) * spacing[0]))
                               if raw and spacing else None,
                               "score": raw.score if raw else None,
                               "spread_mm": float(np.sqrt(((pts - pts.mean(0)) ** 2).sum(1).mean())) * mm
                               if pts is not None and len(pts) > 1 else None})
        scores = {n: float(get_strategy(n, seed=0).score(ev)) for n in names}
        scored = [r["error_mm"] for r in per_lm if r["landmark"] in SCORED_LANDMARKS]
        err = float(np.mean(scored)) if scored else float("nan")
        err_all = float(np.mean(errs)) if errs else float("nan")
        with_missing = float(np.mean(scored + [MISSING_PENALTY_MM] * missing)) if scored or missing else float("nan")
        out.append(CaseScores(e.id, err, with_missing, err_all, missing, scores, per_lm))
        if log is not None:
            log(f"validate: {i + 1}/{len(entries)} {e.id} error {err:.2f} mm, missing {missing}, "
                + ", ".join(f"{n} {v:.2f}" for n, v in scores.items()))
    return out


def correlations(rows: Sequence[CaseScores]) -> dict[str, dict[str, float]]:
    """Per strategy: Spearman rho against the mean error and against the error counting missing landmarks."""
    ok = [r for r in rows if np.isfinite(r.error_mm)]
    names = list(rows[0].scores) if rows else []
    return {n: {"rho_error": spearman([r.scores[n] for r in ok], [r.error_mm for r in ok]),
                "rho_error_with_missing": spearman([r.scores[n] for r in rows], [r.error_with_missing_mm for r in rows]),
                "rho_error_all_9": spearman([r.scores[n] for r in ok], [r.error_all_mm for r in ok]),
                "n": len(ok)} for n in names}
