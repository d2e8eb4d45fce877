"""Active-learning simulation on the knee refinement model (protocol C), the ground truth as the oracle.

Usage::

    python -m training.al_refine_simulation --pool /work/data/al_pool --out docs/active_learning/protocol_c \\
        [--strategies random,tta] [--seeds 0,1,2] [--init 10] [--step 10] [--rounds 4]

Why a second protocol: with the CPU-trained lite models the accuracy comes from the refinement stage (the
first stage's maps never learn, see docs/EVALUATION.md), so :mod:`training.al_simulation`'s first-stage knee
model learns too little per round for a selection strategy to matter. Here the model that is trained is the
knee **refinement** U-Net of the lite preset (its config, its loss, :class:`training.datasets.RefineDataset`
with the preset's offsets), on the cached patches around every knee landmark of the pool (two legs × five
landmarks per image).

Per seed: the pool's last ``--eval`` images are the fixed held-out set; ``--init`` random images are the
labelled seed set and a model trained on them from scratch is shared by every strategy. Then per strategy,
``--rounds`` times: score every unlabelled image, label the ``--step`` best (their ground truth becomes
available), fine-tune ``--finetune-steps`` batches on all labelled images, evaluate on the held-out set.

* **Evaluation**: every held-out patch is seen from fixed offsets (σ = 0.2 of the patch side, as the first
  stage's error; the same offsets for every model), decoded like the pipeline (:func:`decode.map_peak`), and
  the distance to the truth converted to mm with the case's spacing: mean knee landmark error.
* **Scores**: ``random`` (the :class:`~llm_viewer.pipeline.active.RandomStrategy` hash) and ``tta``: every
  patch of the image is run from the plain centre and four shifted centres (±0.08 of the side), the RMS
  distance of the decoded points from their mean (mm) is averaged over the image's landmarks — the definition
  of :mod:`llm_viewer.pipeline.active`'s TTA spread, here with patch shifts as the views; ``peak``: the mean of
  ``1 − map peak`` (a lower peak is less sure).

Writes ``simulation.json``, ``simulation.md`` and ``learning_curves.png`` (same format as protocol A/B).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from llm_viewer.pipeline import decode
from llm_viewer.pipeline.active import ImageEvidence, get_strategy
from llm_viewer.pipeline.crop import Box, apply_affine, crop_affine, invert_affine, warp_crop
from llm_viewer.pipeline.engine import AnalysisResult
from llm_viewer.pipeline.refine import build_refine_model, default_refine_config

from . import al_simulation
from .data import build_cache, load_npz, read_store
from .datasets import RefineDataset, refine_collate
from .presets import get_preset

REGION = "knee"
TTA_SHIFTS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.08, 0.0), (-0.08, 0.0), (0.0, 0.08), (0.0, -0.08))
STRATEGIES = ("random", "tta", "peak")


@dataclasses.dataclass
class PatchPool:
    """Cached knee refinement patches grouped by image."""

    arrays: dict[str, np.ndarray]
    images: list[str]
    rows: dict[str, list[int]]
    mm_per_cache_px: np.ndarray  # (rows,)


def load_patch_pool(pool_dir: str, cache_dir: Path, cfg, log) -> PatchPool:
    """Build (or reuse) a knee-refinement-only cache of the pool store."""
    base = get_preset("lite")
    region_cfg = base.bundle.regions[REGION]
    preset = dataclasses.replace(base, bundle=dataclasses.replace(base.bundle, regions={REGION: region_cfg}),
                                 refine={REGION: cfg})
    cases = read_store(pool_dir)
    folder = build_cache(cases, preset, cache_dir, workers=1, log=log)
    a = load_npz(folder / f"refine_{REGION}.npz")
    if "case_id" not in a:
        raise SystemExit(f"error: {folder} was built by an older version without case ids; delete it and rerun")
    spacing = {c.case_id: float(np.sqrt(c.spacing_mm[0] * c.spacing_mm[1])) if c.spacing_mm else 1.0 for c in cases}
    rows: dict[str, list[int]] = {}
    for r, cid in enumerate(a["case_id"]):
        rows.setdefault(str(cid), []).append(r)
    images = [c.case_id for c in cases if c.case_id in rows]
    mm = np.array([a["px_per_cache_px"][r] * spacing[str(a["case_id"][r])] for r in range(len(a["case_id"]))])
    return PatchPool(a, images, rows, mm)


@torch.no_grad()
def decode_views(model, pool: PatchPool, cfg, rows: list[int], centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decoded points (cache px) and map peaks of ``rows`` with patch centres ``centres`` ((rows, views, 2))."""
    p = cfg.input_size_px
    n_views = centres.shape[1]
    patches, mats = [], []
    for i, r in enumerate(rows):
        img = pool.arrays["images"][r].astype(np.float32) / 255.0
        for v in range(n_views):
            c = centres[i, v]
            m = crop_affine(Box(c[0] - p / 2, c[1] - p / 2, c[0] + p / 2, c[1] + p / 2), p)
            patches.append(warp_crop(img, m, p))
            mats.append(m)
    model.eval()
    pts = np.zeros((len(rows) * n_views, 2))
    peaks = np.zeros(len(rows) * n_views)
    idx = np.repeat(pool.arrays["index"][rows], n_views)
    for s in range(0, len(patches), 128):
        x = torch.from_numpy(np.stack(patches[s:s + 128]))[:, None]
        prob = torch.sigmoid(model(x)).numpy()
        for b in range(x.shape[0]):
            peak, c = decode.map_peak(prob[b, idx[s + b]], 2.0 * cfg.mask_radius_px)
            pts[s + b] = apply_affine(invert_affine(mats[s + b]), c)
            peaks[s + b] = peak
    return pts.reshape(len(rows), n_views, 2), peaks.reshape(len(rows), n_views)


def eval_centres(pool: PatchPool, rows: list[int], cfg, seed: int = 12345) -> np.ndarray:
    """Fixed first-stage-like patch centres for evaluation: truth + N(0, 0.2 side), clipped at 0.45."""
    p = cfg.input_size_px
    rng = np.random.default_rng(seed)
    off = np.clip(rng.normal(0.0, 0.2 * p, size=(len(rows), 2)), -0.45 * p, 0.45 * p)
    return (pool.arrays["points"][rows].astype(np.float64) + off)[:, None, :]


def evaluate(model, pool: PatchPool, cfg, image_ids: list[str], centres: np.ndarray) -> dict[str, float]:
    """Mean knee landmark error (mm) of the refinement model on the held-out patches."""
    rows = [r for cid in image_ids for r in pool.rows[cid]]
    pts, _ = decode_views(model, pool, cfg, rows, centres)
    d = np.hypot(*(pts[:, 0] - pool.arrays["points"][rows]).T) * pool.mm_per_cache_px[rows]
    return {"error_mm": float(d.mean()), "p90_error_mm": float(np.percentile(d, 90))}


def image_scores(model, pool: PatchPool, cfg, image_ids: list[str], strategy: str, seed: int) -> dict[str, float]:
    """Score of every image for ``strategy`` (higher = label first)."""
    if strategy == "random":
        s = get_strategy("random", seed=seed)
        return {c: float(s.score(ImageEvidence(AnalysisResult({}, [], [], {}, "sim", "cpu"), key=c)))
                for c in image_ids}
    rows = [r for cid in image_ids for r in pool.rows[cid]]
    p = cfg.input_size_px
    rng = np.random.default_rng(seed)
    # the unlabelled image's patch is centred where a first stage would put it: truth + offset (unknown to the
    # model; the truth only positions the patch, as the first stage's estimate does in the pipeline)
    base = pool.arrays["points"][rows].astype(np.float64) + np.clip(rng.normal(0.0, 0.2 * p, size=(len(rows), 2)),
                                                                    -0.45 * p, 0.45 * p)
    shifts = np.array(TTA_SHIFTS) * p
    pts, peaks = decode_views(model, pool, cfg, rows, base[:, None, :] + shifts[None])
    spread_mm = np.sqrt(((pts - pts.mean(axis=1, keepdims=True)) ** 2).sum(-1).mean(-1)) * pool.mm_per_cache_px[rows]
    per_row = spread_mm if strategy == "tta" else 1.0 - peaks[:, 0]
    out: dict[str, list[float]] = {}
    for r, v in zip(rows, per_row):
        out.setdefault(str(pool.arrays["case_id"][r]), []).append(float(v))
    return {c: float(np.mean(v)) for c, v in out.items()}


def train_steps(model, pool: PatchPool, cfg, image_ids: list[str], steps: int, lr: float, seed: int) -> None:
    """``steps`` Adam batches of 32 with the trainer's refinement loss and augmentation, cosine to lr/50."""
    preset = get_preset("lite")
    rows = [r for cid in image_ids for r in pool.rows[cid]]
    ds = RefineDataset(pool.arrays, rows, cfg, preset.augment, train=True, seed=seed,
                       offset_sd=preset.refine_offset_sd, offset_max=preset.refine_offset_max)
    al_simulation.train_for_steps("refine", model, ds, steps, lr, seed, batch_size=32, collate_fn=refine_collate)


def run(args, log=print) -> dict:
    torch.set_num_threads(args.threads)
    cfg = default_refine_config(REGION, input_size_px=args.size, patch_fraction=args.patch_fraction,
                                mask_radius_px=6.0, base_width=8, min_peak=0.15)
    pool = load_patch_pool(args.pool, Path(args.cache_dir), cfg, log)
    ids = pool.images
    held_out, candidates = ids[-args.eval:], ids[: -args.eval][: args.candidates]
    held_rows = [r for c in held_out for r in pool.rows[c]]
    centres = eval_centres(pool, held_rows, cfg)
    log(f"pool: {len(candidates)} candidate images, {len(held_out)} held out ({len(held_rows)} patches)")
    results: dict = {"config": {k: v for k, v in vars(args).items()}, "curves": {},
                     "protocol": "C: knee refinement model"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        labelled0 = sorted(rng.choice(candidates, size=args.init, replace=False).tolist())
        torch.manual_seed(seed)
        model0 = build_refine_model(cfg)
        t0 = time.monotonic()
        train_steps(model0, pool, cfg, labelled0, args.init_steps, args.lr, seed)
        m0 = evaluate(model0, pool, cfg, held_out, centres)
        log(f"seed {seed}: round 0 ({len(labelled0)} images) {m0} [{time.monotonic() - t0:.0f}s]")
        for name in args.strategies:
            model = copy.deepcopy(model0)
            labelled = list(labelled0)
            curve = [{"n_labelled": len(labelled), **m0}]
            for rnd in range(1, args.rounds + 1):
                t0 = time.monotonic()
                unl = [c for c in candidates if c not in set(labelled)]
                scores = image_scores(model, pool, cfg, unl, name, seed * 100 + rnd)
                labelled += sorted(unl, key=lambda c: (-scores[c], c))[: args.step]
                train_steps(model, pool, cfg, labelled, args.finetune_steps, args.lr * args.finetune_lr_factor,
                            seed * 100 + rnd)
                m = evaluate(model, pool, cfg, held_out, centres)
                curve.append({"n_labelled": len(labelled), **m})
                log(f"seed {seed} {name} round {rnd}: {len(labelled)} labelled, error {m['error_mm']:.3f} mm "
                    f"[{time.monotonic() - t0:.0f}s]")
            results["curves"].setdefault(name, {})[str(seed)] = curve
            (out / "simulation.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return results


METRICS_SHOWN = (("error_mm", "mean knee landmark error after refinement (mm)"),
                 ("p90_error_mm", "90th percentile error (mm)"))


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Active-learning simulation on the knee refinement model (protocol C)")
    p.add_argument("--pool", required=True, help="store with ground truth (the last --eval images are held out)")
    p.add_argument("--out", required=True)
    p.add_argument("--cache-dir", default="/tmp/llm_viewer_al_refine_cache")
    p.add_argument("--strategies", default="random,tta", type=lambda s: [x for x in s.split(",") if x])
    p.add_argument("--seeds", default="0", type=lambda s: [int(x) for x in s.split(",") if x])
    p.add_argument("--eval", type=int, default=40)
    p.add_argument("--candidates", type=int, default=160)
    p.add_argument("--init", type=int, default=10)
    p.add_argument("--step", type=int, default=10)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--init-steps", type=int, default=300)
    p.add_argument("--finetune-steps", type=int, default=150)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--finetune-lr-factor", type=float, default=0.5)
    p.add_argument("--size", type=int, default=64, help="patch input px (lite preset: 96; 64 is 2× faster)")
    p.add_argument("--patch-fraction", type=float, default=0.35)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--report-from", default=None, help="only write the report from these simulation.json files")
    return p


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    unknown = [s for s in args.strategies if s not in STRATEGIES]
    if unknown:
        raise SystemExit(f"error: unknown strategy {unknown}; choose from {STRATEGIES}")
    if args.report_from:
        results = al_simulation.merge_results([json.loads(Path(f).read_text()) for f in args.report_from.split(",")])
    else:
        results = run(args, log=lambda m: print(m, flush=True))
    al_simulation.write_outputs(results, Path(args.out), METRICS_SHOWN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
