"""Does the active-learning score find the model's mistakes? Spearman and the top-quarter rule on a mixed pool.

Usage::

    python -m training.ranking_eval --models BUNDLE --pool STORE[:N] [STORE[:N] ...] --out DIR [--diversity 0.5]

Every study of the pool (the first N of each store; stores with ground truth, never trained on: held-out
studies of other generator versions, clinical exports, degraded copies) goes once through
:class:`llm_viewer.pipeline.active.tta.UncertaintyAnalyzer` with the test-time views, so that every strategy
scores the same evidence. The truth per image is its **mean error over the paper's eight landmarks** (mm,
``SCORED_LANDMARKS``) of the legs its ground truth holds, a landmark the model did not place counting
``MISSING_PENALTY_MM``; an image **fails** when a ground-truth landmark was not placed or is more than
:data:`FAIL_MM` off. Reported per strategy: Spearman between score and true error, the share of failing
images ranked in the top quarter, and the same for the diversified queue. Writes ``DIR/ranking.md`` (table)
and ``DIR/ranking.json`` (every image's scores and errors).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

FAIL_MM = 10.0
STRATEGY_NAMES = ("expected-error", "combined", "tta", "metric-spread", "sgr-disagreement", "random")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Rank a mixed pool by every strategy against the true errors",
                                add_help=add_help)
    p.add_argument("--models", default=None, help="model bundle (default: the bundled demo model)")
    p.add_argument("--pool", nargs="+", required=True, metavar="STORE[:N]", help="stores with ground truth")
    p.add_argument("--out", required=True, help="folder for ranking.md and ranking.json")
    p.add_argument("--diversity", type=float, default=0.5, help="lambda of the diversified queue (default 0.5)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--title", default="Ranking on a mixed pool")
    return p


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rho with average ranks for ties (nan for fewer than three values or a constant input)."""
    if len(a) < 3:
        return float("nan")

    def ranks(v):
        v = np.asarray(v, dtype=np.float64)
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
                j += 1
            r[order[i:j + 1]] = (i + j) / 2.0
            i = j + 1
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def true_error(case: Any, result: Any, spacing: tuple[float, float] | None) -> dict[str, Any]:
    """Mean 8-landmark error (mm, or px without spacing) of ``result`` against ``case``'s ground truth."""
    from llm_viewer.pipeline.active.strategies import MISSING_PENALTY_MM, SCORED_LANDMARKS

    errs, missing, worst = [], 0, 0.0
    for side in case.sides:
        gt = case.landmarks(side)
        leg = result.legs.get(side)
        for lm in SCORED_LANDMARKS:
            if lm not in gt:
                continue
            p = None if leg is None else leg.landmarks.get(lm)
            if p is None:
                missing += 1
                errs.append(MISSING_PENALTY_MM)
                continue
            dx, dy = p.x_px - gt[lm].x, p.y_px - gt[lm].y
            e = math.hypot(dx * spacing[1], dy * spacing[0]) if spacing else math.hypot(dx, dy)
            errs.append(e)
            worst = max(worst, e)
    mean = float(np.mean(errs)) if errs else 0.0
    return {"mean_err": mean, "missing": missing, "worst": worst, "n": len(errs),
            "fails": bool(missing or worst > FAIL_MM)}


def auroc(scores: list[float], fails: list[bool]) -> float:
    """Probability that a failing image outscores a non-failing one (ties count half); nan without both."""
    pos = [s for s, f in zip(scores, fails) if f]
    neg = [s for s, f in zip(scores, fails) if not f]
    if not pos or not neg:
        return float("nan")
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def _queue_stats(order: list[int], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Failing images in the top quarter of a queue, and how far down the last failing image comes."""
    k = max(1, len(records) // 4)
    fails = [i for i, r in enumerate(records) if r["fails"]]
    pos = {i: rank for rank, i in enumerate(order)}
    last = max((pos[i] for i in fails), default=-1) + 1
    return {"fails_in_top_quarter": sum(pos[i] < k for i in fails), "fails": len(fails), "top_quarter": k,
            "all_fails_within_pct": 100.0 * last / len(records) if fails else 0.0}


def evaluate(records: list[dict[str, Any]], diversified: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """Spearman, AUROC and top-quarter capture of every strategy over :func:`main`'s records.

    ``diversified`` maps a label to a queue order (indices into ``records``) made by
    :func:`llm_viewer.pipeline.active.expected.diverse_order`; its Spearman is that of the queue position.
    """
    truth = [r["mean_err"] for r in records]
    fails = [bool(r["fails"]) for r in records]
    out = {}
    for name in STRATEGY_NAMES:
        s = [r["scores"][name] for r in records]
        order = sorted(range(len(s)), key=lambda i: (-s[i], records[i]["image"]))
        out[name] = {"spearman": spearman(s, truth), "auroc": auroc(s, fails), **_queue_stats(order, records)}
    for label, order in (diversified or {}).items():
        pos = {i: rank for rank, i in enumerate(order)}
        q = [-float(pos[i]) for i in range(len(records))]
        out[label] = {"spearman": spearman(q, truth), "auroc": auroc(q, fails), **_queue_stats(order, records)}
    return out


def format_table(title: str, results: dict[str, Any], records: list[dict[str, Any]], kinds: dict[str, int],
                 model_id: str, seconds: float) -> str:
    lines = [f"# {title}", "",
             f"Model `{model_id}`; {len(records)} images "
             f"({', '.join(f'{k}: {n}' for k, n in kinds.items())}); "
             f"{sum(r['fails'] for r in records)} fail (a ground-truth landmark not placed or > {FAIL_MM:.0f} mm "
             f"off); {seconds / 60:.1f} min. Truth: mean error over the paper's 8 landmarks, a missing one "
             f"counting 50 mm. Command: `python -m training.ranking_eval` (docs/ACTIVE_LEARNING.md, ranking on a mixed pool).", "",
             "| strategy | Spearman vs true error | AUROC (failing vs not) | failing images in the top quarter | "
             "queue share holding every failing image |", "|---|---|---|---|---|"]
    for name, r in results.items():
        rho = "–" if not math.isfinite(r["spearman"]) else f"{r['spearman']:.2f}"
        auc = "–" if not math.isfinite(r["auroc"]) else f"{r['auroc']:.2f}"
        lines.append(f"| {name} | {rho} | {auc} | {r['fails_in_top_quarter']} of {r['fails']} "
                     f"(top quarter = {r['top_quarter']} images) | {r['all_fails_within_pct']:.0f} % |")
    return "\n".join(lines) + "\n"


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def main(args: argparse.Namespace) -> int:
    import torch

    from llm_viewer.core.imageio import load_image
    from llm_viewer.core.store import Store
    from llm_viewer.pipeline.active import diverse_order, get_strategy, image_descriptor
    from llm_viewer.pipeline.active.tta import UncertaintyAnalyzer
    from llm_viewer.pipeline.crop import normalize_intensity

    torch.set_num_threads(max(1, args.threads))
    analyzer = UncertaintyAnalyzer.from_bundle(args.models)
    strategies = {n: get_strategy(n, seed=0) for n in STRATEGY_NAMES}
    records, descriptors, kinds = [], [], {}
    t0 = time.perf_counter()
    for spec in args.pool:
        path, _, n = spec.rpartition(":") if spec.rpartition(":")[2].isdigit() else (spec, "", "")
        store = Store.open(path)
        entries = store.entries()[: int(n)] if n else store.entries()
        kinds[Path(path).name] = len(entries)
        for e in entries:
            case = store.load_case(e)
            img = load_image(store.image_path(e))
            spacing = case.pixel_spacing_mm or img.pixel_spacing_mm
            ev, final = analyzer.evidence(img.pixels, tta=True, pixel_spacing_mm=spacing,
                                          key=str(store.image_path(e)))
            rec = {"image": str(store.image_path(e)), "set": Path(path).name,
                   **true_error(case, final, spacing),
                   "scores": {n_: float(s.score(ev)) for n_, s in strategies.items()},
                   "ood": bool(final.uncertainty is not None and final.uncertainty.ood_flagged),
                   "legs_found": sorted(final.legs)}
            records.append(rec)
            descriptors.append(image_descriptor(normalize_intensity(img.pixels, analyzer.engine.config.intensity),
                                                sorted(final.legs)))
            print(f"{len(records)} {rec['set']} err {rec['mean_err']:.1f} fails {rec['fails']} "
                  f"score {rec['scores']['expected-error']:.2f}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    diversified = {f"{n}, diversified (λ = {args.diversity:g})":
                   diverse_order([r["scores"][n] for r in records], descriptors, lam=args.diversity)
                   for n in ("combined", "expected-error")}
    results = evaluate(records, diversified)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = format_table(args.title, results, records, kinds, analyzer.engine.model_id, seconds)
    (out / "ranking.md").write_text(text, encoding="utf-8")
    (out / "ranking.json").write_text(json.dumps(_json_safe({"results": results, "records": records,
                                                             "diversified": diversified}), indent=1,
                                                 allow_nan=False), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
