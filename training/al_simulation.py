"""Active-learning simulation on synthetic data, the ground truth playing the annotator (the oracle).

Usage::

    nice -n 19 python -m training.al_simulation --pool /work/data/al_pool --out docs/active_learning \\
        [--strategies random,sgr-disagreement,tta,combined] [--seeds 0,1] [--init 8] [--step 8] [--rounds 5]

Feasible on a CPU: only the **knee** model is trained (five landmarks; it drives HKA, mLDFA and mMPTA), the
lite preset's SGR at 96 px, on cached context crops around the true knee boxes (:func:`training.data.build_cache`
with a knee-only preset). The other landmarks a metric needs come from the ground truth.

Per seed: the pool's last ``--eval`` images are the fixed held-out set; ``--init`` random images are the
labelled seed set; a model is trained on them from scratch (shared by every strategy of that seed). Then per
strategy, ``--rounds`` times: score every unlabelled image with the strategy (the same code as
``llm-viewer rank``: :mod:`llm_viewer.pipeline.active`, with the same test-time views, here applied to the
crop boxes), label the ``--step`` best (the ground truth is the oracle), fine-tune ``--finetune-steps``
batches on all labelled images, evaluate on the held-out set: mean knee landmark error (mm) and HKA MAE (deg).
Writes ``simulation.json``, ``simulation.md`` (table) and ``learning_curves.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from llm_viewer.core.landmarks import REGION_LANDMARKS
from llm_viewer.core.metrics import compute_leg_metrics
from llm_viewer.pipeline import decode
from llm_viewer.pipeline.active import VIEWS, ImageEvidence, get_strategy
from llm_viewer.pipeline.active.tta import collect_views
from llm_viewer.pipeline.crop import Box, apply_affine, crop_affine, from_normalized, invert_affine, warp_crop
from llm_viewer.pipeline.engine import AnalysisResult, LandmarkPrediction, LegPrediction
from llm_viewer.pipeline.models import build_landmark_model

from .data import CONTEXT_MARGIN, build_cache, load_npz, read_store
from .datasets import RegionDataset
from .engine import train_one_epoch
from .presets import get_preset

REGION = "knee"
KNEE = REGION_LANDMARKS[REGION]


@dataclasses.dataclass
class Pool:
    """Cached knee crops of every leg, grouped by image."""

    arrays: dict[str, np.ndarray]
    images: list[str]                       # case ids, in store order
    legs: dict[str, list[int]]              # case id -> rows of the cache
    ctx_inv: np.ndarray                     # (rows, 2, 3) context px -> original px
    spacing: dict[str, tuple[float, float]]
    truth: dict[str, dict[str, dict[str, tuple[float, float]]]]  # case -> side -> landmark -> xy (original px)


def load_pool(pool_dir: str, cache_dir: Path, log) -> tuple[Pool, object]:
    """Read the store, build (or reuse) the knee-only cache and the context -> original matrices."""
    base = get_preset("lite")
    cfg = base.bundle.regions[REGION]
    preset = dataclasses.replace(base, bundle=dataclasses.replace(base.bundle, regions={REGION: cfg}), refine={})
    cases = read_store(pool_dir)
    folder = build_cache(cases, preset, cache_dir, workers=1, log=log)
    a = load_npz(folder / f"region_{REGION}.npz")
    by_id = {c.case_id: c for c in cases}
    c_px = a["images"].shape[-1]
    legs: dict[str, list[int]] = {}
    inv = np.zeros((len(a["case_id"]), 2, 3))
    for row, (cid, side) in enumerate(zip(a["case_id"], a["side"])):
        case = by_id[str(cid)]
        m = crop_affine(case.rois[(str(side), REGION)], c_px, margin=CONTEXT_MARGIN, mirror=str(side) == "left")
        inv[row] = invert_affine(m)
        legs.setdefault(str(cid), []).append(row)
    images = [c.case_id for c in cases if c.case_id in legs]
    spacing = {c.case_id: tuple(c.spacing_mm) for c in cases}
    truth = {c.case_id: c.landmarks for c in cases}
    return Pool(a, images, legs, inv, spacing, truth), cfg


# ------------------------------------------------------------------------------------------------ inference
def _view_box(box: np.ndarray, dx: float, dy: float, scale: float) -> Box:
    b = Box(*(float(v) for v in box))
    side = max(b.width, b.height)
    cx, cy = b.cx + dx * side, b.cy + dy * side
    hw, hh = b.width * scale / 2, b.height * scale / 2
    return Box(cx - hw, cy - hh, cx + hw, cy + hh)


@torch.no_grad()
def predict(model: torch.nn.Module, pool: Pool, cfg, rows: list[int], views: bool) -> dict[int, list[dict]]:
    """Per cache row, per view (0 = the plain crop): ``{landmark: (xy_original, map_xy_original, peak)}``.

    Same decoding as the engine: regressed coordinates -> crop px -> original px; the map's estimate from
    :func:`decode.map_peak` within twice the mask radius.
    """
    size = cfg.input_size_px
    all_views = [(0.0, 0.0, 1.0, 1.0)] + (list(VIEWS) if views else [])
    crops, mats, keys = [], [], []
    for row in rows:
        ctx = pool.arrays["images"][row].astype(np.float32) / 255.0
        for v, (dx, dy, sc, gamma) in enumerate(all_views):
            m = crop_affine(_view_box(pool.arrays["boxes"][row], dx, dy, sc), size, margin=cfg.margin)
            crop = warp_crop(ctx, m, size)
            crops.append(crop if gamma == 1.0 else crop ** gamma)
            mats.append(m)
            keys.append((row, v))
    model.eval()
    out: dict[int, list[dict]] = {r: [] for r in rows}
    for s in range(0, len(crops), 64):
        x = torch.from_numpy(np.stack(crops[s:s + 64]))[:, None]
        res = model(x)
        seg = torch.sigmoid(res.seg_logits).numpy()
        coords = res.coords.numpy()
        for b in range(x.shape[0]):
            row, _v = keys[s + b]
            inv = invert_affine(mats[s + b])
            to_orig = pool.ctx_inv[row]
            lm = {}
            for li, name in enumerate(KNEE):
                p_ctx = apply_affine(inv, from_normalized(coords[b, li], size))
                peak, c_map = decode.map_peak(seg[b, li], 2 * cfg.mask_radius_px)
                lm[name] = (apply_affine(to_orig, p_ctx), apply_affine(to_orig, apply_affine(inv, c_map)), peak)
            out[row].append(lm)
    return out


def evidence_for(pool: Pool, cid: str, preds: dict[int, list[dict]], cfg, with_tta: bool) -> ImageEvidence:
    """An engine-shaped result of one image (knee predicted, other landmarks from the ground truth, exact)."""
    legs, views_pts = {}, None
    spacing = pool.spacing[cid]
    n_views = len(preds[pool.legs[cid][0]])
    views_pts = [dict() for _ in range(n_views)]
    for row in pool.legs[cid]:
        side = str(pool.arrays["side"][row])
        truth = pool.truth[cid][side]
        k = float(np.sqrt(abs(np.linalg.det(pool.ctx_inv[row][:, :2]))))
        box = Box(*(float(v) for v in pool.arrays["boxes"][row]))
        crop_side = k * max(box.width, box.height) * (1 + 2 * cfg.margin)
        lms = {lm: LandmarkPrediction(float(x), float(y), 1.0, 0.0, (float(x), float(y)))
               for lm, (x, y) in truth.items() if lm not in KNEE}
        for name, (xy, map_xy, peak) in preds[row][0].items():
            d = float(np.hypot(*(xy - map_xy)))
            unc = decode.sgr_uncertainty(d, 0.0, peak, crop_side)
            lms[name] = LandmarkPrediction(float(xy[0]), float(xy[1]), float(peak), unc,
                                           (float(map_xy[0]), float(map_xy[1])))
        legs[side] = LegPrediction(side, lms, [])
        for v in range(n_views):
            pts = {lm: tuple(truth[lm]) for lm in truth if lm not in KNEE}
            pts.update({name: (float(t[0][0]), float(t[0][1])) for name, t in preds[row][v].items()})
            views_pts[v][side] = pts
    result = AnalysisResult(legs=legs, rois=[], warnings=[], timings_s={}, model_id="sim", device="cpu")
    tta = collect_views(views_pts, spacing) if with_tta else None
    return ImageEvidence(result, tta, spacing, cid)


def evaluate(model, pool: Pool, cfg, image_ids: list[str]) -> dict[str, float]:
    """Mean knee landmark error (mm) and HKA / mLDFA / mMPTA MAE (deg) on ``image_ids``."""
    rows = [r for cid in image_ids for r in pool.legs[cid]]
    preds = predict(model, pool, cfg, rows, views=False)
    errs, dm = [], {"hka_deg": [], "mldfa_deg": [], "mmpta_deg": []}
    for cid in image_ids:
        sp = pool.spacing[cid]
        for row in pool.legs[cid]:
            side = str(pool.arrays["side"][row])
            truth = pool.truth[cid][side]
            pred = dict(truth)
            for name, (xy, _m, _p) in preds[row][0].items():
                pred[name] = (float(xy[0]), float(xy[1]))
                errs.append(float(np.hypot((xy[0] - truth[name][0]) * sp[1], (xy[1] - truth[name][1]) * sp[0])))
            mt = compute_leg_metrics(truth, side, sp).as_dict()
            mp = compute_leg_metrics(pred, side, sp).as_dict()
            for k in dm:
                dm[k].append(abs(mp[k] - mt[k]))
    return {"error_mm": float(np.mean(errs)), **{f"{k[:-4]}_mae_deg": float(np.mean(v)) for k, v in dm.items()}}


# ------------------------------------------------------------------------------------------------ training
def train_for_steps(kind: str, model, ds, steps: int, lr: float, seed: int, *, batch_size: int,
                    collate_fn=None, schedule: str = "cosine", alpha: float = 0.2) -> None:
    """``steps`` Adam batches of ``ds`` (epochs reshuffled by seed), the learning rate decaying from ``lr`` to
    ``lr/50`` over the steps (``schedule="cosine"``: the model is evaluated at a settled point, not mid-flight)
    or constant (``"constant"``). Shared by the simulation protocols."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 1.0 if schedule == "constant" else
        0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(i, steps) / max(1, steps))))
    step_hook = opt.register_step_post_hook(lambda *_: sched.step())
    done, epoch = 0, 0
    while done < steps:
        ds.set_epoch(epoch)
        loader = DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=len(ds) > batch_size,
                            collate_fn=collate_fn, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        st = train_one_epoch(kind, model, opt, loader, torch.device("cpu"), alpha=alpha, max_steps=steps - done,
                             progress=False)
        done += int(st["steps"])
        epoch += 1
    step_hook.remove()


def train_steps(model, pool: Pool, cfg, image_ids: list[str], steps: int, lr: float, seed: int,
                schedule: str = "cosine") -> None:
    """``steps`` Adam batches (16 crops, the trainer's augmentation) on the legs of ``image_ids``
    (:func:`train_for_steps`)."""
    preset = get_preset("lite")
    rows = [r for cid in image_ids for r in pool.legs[cid]]
    ds = RegionDataset(pool.arrays, rows, cfg, preset.augment, train=True, seed=seed)
    train_for_steps("landmark", model, ds, steps, lr, seed, batch_size=16, schedule=schedule, alpha=preset.alpha)


def run_simulation(args, log=print) -> dict:
    torch.set_num_threads(args.threads)
    pool, cfg = load_pool(args.pool, Path(args.cache_dir), log)
    ids = pool.images
    held_out, candidates = ids[-args.eval:], ids[: -args.eval][: args.candidates]
    log(f"pool: {len(candidates)} candidate images, {len(held_out)} held out")
    results: dict = {"config": {k: v for k, v in vars(args).items()}, "curves": {}}
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        labelled0 = sorted(rng.choice(candidates, size=args.init, replace=False).tolist())
        torch.manual_seed(seed)
        model0 = build_landmark_model(cfg)
        t0 = time.monotonic()
        train_steps(model0, pool, cfg, labelled0, args.init_steps, args.lr, seed, args.schedule)
        m0 = evaluate(model0, pool, cfg, held_out)
        log(f"seed {seed}: round 0 ({len(labelled0)} images) {m0} [{time.monotonic() - t0:.0f}s]")
        for name in args.strategies:
            strategy = get_strategy(name, seed=seed)
            model = copy.deepcopy(model0)
            labelled = list(labelled0)
            curve = [{"n_labelled": len(labelled), **m0}]
            for rnd in range(1, args.rounds + 1):
                t0 = time.monotonic()
                unl = [c for c in candidates if c not in set(labelled)]
                rows = [r for c in unl for r in pool.legs[c]]
                preds = predict(model, pool, cfg, rows, views=strategy.needs_tta) if name != "random" else None
                scores = {}
                for c in unl:
                    ev = evidence_for(pool, c, preds, cfg, strategy.needs_tta) if preds is not None \
                        else ImageEvidence(AnalysisResult({}, [], [], {}, "sim", "cpu"), key=c)
                    scores[c] = float(strategy.score(ev))
                picked = sorted(unl, key=lambda c: (-scores[c], c))[: args.step]
                labelled += picked
                train_steps(model, pool, cfg, labelled, args.finetune_steps, args.lr * args.finetune_lr_factor,
                            seed * 100 + rnd, args.schedule)
                m = evaluate(model, pool, cfg, held_out)
                curve.append({"n_labelled": len(labelled), **m})
                log(f"seed {seed} {name} round {rnd}: {len(labelled)} labelled, error {m['error_mm']:.2f} mm, "
                    f"HKA MAE {m['hka_mae_deg']:.2f} deg [{time.monotonic() - t0:.0f}s]")
            results["curves"].setdefault(name, {})[str(seed)] = curve
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "simulation.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return results


# ------------------------------------------------------------------------------------------------ report
METRICS_SHOWN = (("error_mm", "mean knee landmark error (mm)"), ("hka_mae_deg", "HKA MAE (deg)"))


def merge_results(docs: list[dict]) -> dict:
    """Merge the ``simulation.json`` of several runs (e.g. one process per seed)."""
    out: dict = {"config": docs[0]["config"] if docs else {}, "curves": {}}
    for d in docs:
        for name, by_seed in d["curves"].items():
            out["curves"].setdefault(name, {}).update(by_seed)
    seeds = sorted({s for c in out["curves"].values() for s in c})
    out["config"] = dict(out["config"], seeds=[int(s) for s in seeds])
    return out


def mean_curves(results: dict) -> dict[str, dict[str, np.ndarray]]:
    """Per strategy: ``n_labelled`` and the mean (over seeds) of every measure, for seeds all strategies ran."""
    common = set.intersection(*(set(c) for c in results["curves"].values()))
    out = {}
    for name, by_seed in results["curves"].items():
        runs = [by_seed[s] for s in sorted(common)]
        n = min(len(r) for r in runs)
        out[name] = {"n_labelled": np.array([runs[0][i]["n_labelled"] for i in range(n)]),
                     "n_seeds": len(runs)}
        for key in runs[0][0]:
            if key != "n_labelled":
                out[name][key] = np.array([[r[i][key] for i in range(n)] for r in runs]).mean(axis=0)
    return out


def labels_to_reach(n: np.ndarray, values: np.ndarray, target: float) -> float | None:
    """Smallest number of labels at which ``values`` (a learning curve) is at or below ``target``."""
    hit = np.flatnonzero(values <= target + 1e-12)
    return float(n[hit[0]]) if len(hit) else None


def summary_table(results: dict, measures: tuple[tuple[str, str], ...] | None = None) -> str:
    """Markdown: per strategy and label count, the seed-mean of two measures; then labels to reach random.

    ``measures``: ``((key, label), (key, label))``, default :data:`METRICS_SHOWN` (error mm, HKA MAE deg).
    """
    (k1, l1), (k2, l2) = (measures or METRICS_SHOWN)[:2]
    curves = mean_curves(results)
    names = list(curves)
    ns = curves[names[0]]["n_labelled"]
    head = "| labelled images | " + " | ".join(f"{n}: {l1} / {l2}" for n in names) + " |"
    lines = [head, "|" + "---|" * (len(names) + 1)]
    for i, n in enumerate(ns):
        cells = [f"{curves[k][k1][i]:.3f} / {curves[k][k2][i]:.3f}" if i < len(curves[k][k1]) else "" for k in names]
        lines.append(f"| {int(n)} | " + " | ".join(cells) + " |")
    if "random" in curves:
        r = curves["random"]
        lines += ["", f"| strategy | labels to reach random's final {l1} ({r[k1][-1]:.3f} at "
                  f"{int(r['n_labelled'][-1])}) | share | labels to reach random's final {l2} ({r[k2][-1]:.3f}) "
                  "| share |", "|---|---|---|---|---|"]
        final_n = float(r["n_labelled"][-1])
        for k in names:
            a = labels_to_reach(curves[k]["n_labelled"], curves[k][k1], r[k1][-1])
            b = labels_to_reach(curves[k]["n_labelled"], curves[k][k2], r[k2][-1])
            fa = f"{100 * a / final_n:.0f} %" if a is not None else "not reached"
            fb = f"{100 * b / final_n:.0f} %" if b is not None else "not reached"
            lines.append(f"| {k} | {int(a) if a is not None else '-'} | {fa} | {int(b) if b is not None else '-'} | {fb} |")
    return "\n".join(lines) + "\n"


COLORS = [(120, 120, 120), (220, 60, 40), (40, 110, 220), (40, 160, 60), (160, 60, 200), (230, 150, 20)]


def plot_curves(results: dict, path: Path, measures: tuple[tuple[str, str], ...] | None = None) -> None:
    """Two panels (landmark error, HKA MAE) of seed-mean learning curves, drawn with PIL."""
    from PIL import Image, ImageDraw

    curves = mean_curves(results)
    w, h, pad = 520, 380, 60
    img = Image.new("RGB", (2 * w, h + 40), "white")
    draw = ImageDraw.Draw(img)
    for p, (key, title) in enumerate(measures or METRICS_SHOWN):
        ox = p * w
        xs = np.concatenate([c["n_labelled"] for c in curves.values()])
        ys = np.concatenate([c[key] for c in curves.values()])
        x0, x1 = float(xs.min()), float(xs.max())
        y0, y1 = float(ys.min()), float(ys.max())
        y0, y1 = y0 - 0.05 * (y1 - y0 + 1e-9), y1 + 0.05 * (y1 - y0 + 1e-9)

        def tx(x, ox=ox, x0=x0, x1=x1):
            return ox + pad + (x - x0) / max(x1 - x0, 1e-9) * (w - 1.5 * pad)

        def ty(y, y0=y0, y1=y1):
            return h - pad + 10 - (y - y0) / max(y1 - y0, 1e-9) * (h - 1.5 * pad)

        draw.rectangle([ox + pad, pad / 2 + 10, ox + w - pad / 2, h - pad + 10], outline="black")
        draw.text((ox + pad, 8), title + " vs labelled images", fill="black")
        for t in np.linspace(y0, y1, 5):
            draw.text((ox + 4, ty(t) - 6), f"{t:.2f}", fill="black")
        for n in sorted(set(xs.tolist())):
            draw.text((tx(n) - 6, h - pad + 14), f"{int(n)}", fill="black")
        for i, (name, c) in enumerate(curves.items()):
            col = COLORS[i % len(COLORS)]
            pts = [(tx(x), ty(y)) for x, y in zip(c["n_labelled"], c[key])]
            draw.line(pts, fill=col, width=3 if name != "random" else 2)
            for q in pts:
                draw.ellipse([q[0] - 3, q[1] - 3, q[0] + 3, q[1] + 3], fill=col)
            draw.text((ox + w - 170, pad / 2 + 16 + 14 * i), name, fill=col)
    n_seeds = min(c["n_seeds"] for c in curves.values())
    draw.text((pad, h + 16), f"mean over {n_seeds} seed(s); knee model, synthetic pool, ground truth as oracle",
              fill="black")
    img.save(path)


def write_outputs(results: dict, out: Path, measures: tuple[tuple[str, str], ...] | None = None) -> None:
    """``simulation.json``, ``simulation.md`` and ``learning_curves.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulation.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (out / "simulation.md").write_text(summary_table(results, measures), encoding="utf-8")
    plot_curves(results, out / "learning_curves.png", measures)


def run_spearman(args) -> int:
    """``--spearman-data``: score every image of a held-out store and correlate with its true error."""
    from llm_viewer.pipeline.active.tta import UncertaintyAnalyzer
    from llm_viewer.pipeline.active.validation import correlations, score_store

    torch.set_num_threads(args.threads)
    analyzer = UncertaintyAnalyzer.from_bundle(args.models, device="cpu")
    rows = score_store(args.spearman_data, analyzer, limit=args.limit, use_true_boxes=args.true_boxes,
                       split=args.split,
                       log=lambda m: print(m, flush=True))
    corr = correlations(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"data": args.spearman_data, "models": args.models, "model_id": analyzer.engine.model_id,
           "true_boxes": args.true_boxes, "split": args.split, "correlations": corr,
           "cases": [dataclasses.asdict(r) for r in rows]}
    (out / "spearman.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    lines = ["| strategy | Spearman rho vs mean landmark error (8 landmarks) | rho vs error counting missing "
             "landmarks | rho vs error of all 9 (with the diaphysis centre) | images |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {c['rho_error']:.3f} | {c['rho_error_with_missing']:.3f} | {c['rho_error_all_9']:.3f} "
              f"| {c['n']} |" for n, c in corr.items()]
    (out / "spearman.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Active-learning simulation (knee model, ground truth as oracle)")
    p.add_argument("--pool", required=False, help="synthetic store (llm-viewer synth --size quarter)")
    p.add_argument("--out", required=True, help="folder for simulation.json / simulation.md / learning_curves.png")
    p.add_argument("--cache-dir", default="/tmp/al_sim_cache")
    p.add_argument("--strategies", default="random,sgr-disagreement,tta,combined")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--eval", type=int, default=40, help="held-out images (the pool's last N)")
    p.add_argument("--candidates", type=int, default=None, help="use only the first N unheld images as the pool")
    p.add_argument("--init", type=int, default=8, help="labelled seed images")
    p.add_argument("--step", type=int, default=8, help="images labelled per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--init-steps", type=int, default=300, help="batches of the seed model")
    p.add_argument("--finetune-steps", type=int, default=120, help="batches per round")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--finetune-lr-factor", type=float, default=0.5)
    p.add_argument("--schedule", default="cosine", choices=("cosine", "constant"),
                   help="learning rate within each round (protocol A of docs/ACTIVE_LEARNING.md: constant)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--spearman-data", default=None, metavar="STORE",
                   help="instead of the simulation: Spearman of every strategy's score vs the true error of the "
                        "bundle --models on this held-out store (writes spearman.json / spearman.md into --out)")
    p.add_argument("--models", default=None, help="bundle for --spearman-data (default the demo bundle)")
    p.add_argument("--true-boxes", action="store_true", help="--spearman-data: ground-truth ROI boxes, no detector")
    p.add_argument("--limit", type=int, default=None, help="--spearman-data: at most N images")
    p.add_argument("--split", default=None, help="--spearman-data: only this split of the store")
    p.add_argument("--report-from", nargs="+", default=None, metavar="JSON",
                   help="only merge these simulation.json files (e.g. one per seed) and write the report")
    return p


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.report_from:
        docs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.report_from]
        write_outputs(merge_results(docs), Path(args.out))
        print(f"report written to {args.out}")
        return 0
    if args.spearman_data:
        return run_spearman(args)
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    res = run_simulation(args, log=lambda m: print(m, flush=True))
    write_outputs(res, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
