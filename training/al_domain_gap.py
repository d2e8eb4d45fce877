"""Label efficiency on a real domain gap: how many corrected images adapt the bundle, chosen at random or by
uncertainty.

Usage::

    python -m training.al_domain_gap --bundle resources/models/demo --pool POOL_STORE --test TEST_STORE \
        --out DIR [--strategies random,tta,combined] [--seeds 0,1,2,3,4] [--rounds 5,10,20,40,80] \
        [--candidates 100] [--parts detector,hip,knee,ankle,refine_hip,refine_knee,refine_ankle] [--steps 60]
    python -m training.al_domain_gap --report-from DIR [--report-from DIR2 ...] --out DIR   # tables only

Protocol. The pool and the test set are stores from a domain the bundle never saw (e.g. single-leg clinical
exports of an earlier generator version, made by ``docs/active_learning/domain_gap/prepare.sh``).
Every pool image is scored once by the *unadapted* bundle with the same code as ``llm-viewer rank``
(:class:`llm_viewer.pipeline.active.tta.UncertaintyAnalyzer` evidence, each strategy's ``score``): what a
clinic can do before it labels anything. Per seed, ``--candidates`` pool images are drawn; each strategy
orders them (``random``: the seed's hash order), and round ``N`` labels the first ``N`` (the ground truth is
the oracle), so the rounds of one strategy are nested. Every round fine-tunes the bundle *from the same start*
(the unadapted bundle) on its ``N`` labels with :mod:`training.train` (``--init-from``, the fine-tuning lr,
early half of the encoders frozen, every part in ``--parts`` for the same number of optimiser steps
``--steps`` whatever ``N``: the number of epochs is ``ceil(steps / batches per epoch)``), and the result is
evaluated on the whole test store with :func:`training.evaluate.evaluate_bundle` (the full pipeline,
refinement included). Per run: 8-landmark mean error, HKA MAE, legs without an HKA measurement, and the
CPU minutes of training and of evaluation (``time.process_time``). Results go to ``DIR/results.json`` after
every run (a rerun skips finished runs), tables to ``DIR/label_efficiency.md`` and the plot to
``DIR/label_efficiency.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

SCORED = ("random", "sgr-disagreement", "tta", "metric-spread", "combined")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Label efficiency of adapting a bundle across a domain gap")
    p.add_argument("--bundle", help="the unadapted bundle")
    p.add_argument("--pool", help="store of candidate images (with ground truth: the oracle)")
    p.add_argument("--test", help="held-out store of the same domain")
    p.add_argument("--out", required=True)
    p.add_argument("--strategies", default="random,tta,combined")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--rounds", default="5,10,20,40,80", help="labelled images per round (cumulative)")
    p.add_argument("--candidates", type=int, default=100, help="pool images drawn per seed")
    p.add_argument("--parts", default="detector,hip,knee,ankle,refine_hip,refine_knee,refine_ankle")
    p.add_argument("--steps", type=int, default=60, help="optimiser steps per part and round (to convergence)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=None, help="default: the fine-tuning rate (presets.FineTuneConfig)")
    p.add_argument("--freeze-fraction", type=float, default=None, help="default: presets.FineTuneConfig's")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--keep-models", action="store_true", help="keep every round's bundle (default: deleted)")
    p.add_argument("--report-from", action="append", default=None, help="only merge results.json of these DIRs")
    return p


# ---------------------------------------------------------------------------------------------- scoring
def score_pool(bundle: str, pool: str, out: Path, log=print) -> dict[str, dict[str, float]]:
    """Every pool case's score under each strategy of :data:`SCORED` (random: seed 0), from the unadapted
    bundle; cached in ``out/scores.json``."""
    from llm_viewer.core.imageio import load_image
    from llm_viewer.core.store import Store
    from llm_viewer.pipeline.active import get_strategy
    from llm_viewer.pipeline.active.tta import UncertaintyAnalyzer

    path = out / "scores.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    store = Store.open(pool)
    analyzer = UncertaintyAnalyzer.from_bundle(bundle)
    strategies = {n: get_strategy(n) for n in SCORED if n != "random"}
    scores: dict[str, dict[str, float]] = {}
    t0 = time.process_time()
    for i, e in enumerate(store.entries()):
        case = store.load_case(e)
        img = load_image(store.image_path(e))
        ev, _ = analyzer.evidence(img.pixels, tta=True, pixel_spacing_mm=case.pixel_spacing_mm, key=e.id)
        scores[e.id] = {n: float(s.score(ev)) for n, s in strategies.items()}
        log(f"score: {i + 1}/{len(store.entries())} {e.id} " + " ".join(f"{n} {v:.2f}" for n, v in scores[e.id].items()))
    doc = {"scores": scores, "cpu_minutes": round((time.process_time() - t0) / 60, 2), "bundle": bundle}
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return doc


def order(strategy: str, candidates: list[str], scores: dict[str, dict[str, float]], seed: int) -> list[str]:
    """Candidates, most informative first (``random``: the seed's order, as ``random``'s hash score)."""
    if strategy == "random":
        from llm_viewer.pipeline.active import get_strategy
        from llm_viewer.pipeline.active.strategies import ImageEvidence  # noqa: F401 - the interface

        rnd = get_strategy("random", seed=seed)
        key = {c: float(rnd.score(_KeyOnly(c))) for c in candidates}
    else:
        key = {c: scores[c][strategy] for c in candidates}
    return sorted(candidates, key=lambda c: (-key[c], c))


class _KeyOnly:
    """The one field the random strategy reads."""

    def __init__(self, key: str) -> None:
        self.key = key


def draw_candidates(ids: list[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng([seed, 7])
    return sorted(rng.choice(sorted(ids), size=min(n, len(ids)), replace=False).tolist())


# ---------------------------------------------------------------------------------------------- one run
def label_store(pool: str, ids: list[str], dst: Path) -> None:
    """A store of the pool cases ``ids`` (the oracle: their ground truth), all in the ``train`` split."""
    from llm_viewer.core.store import Store

    if dst.exists():
        shutil.rmtree(dst)
    src = Store.open(pool)
    st = Store.create(dst)
    entries = {e.id: e for e in src.entries()}
    for cid in ids:
        e = entries[cid]
        masks = {name: src.mask_path(e, name).read_bytes() for name in e.masks}
        st.add_case(cid, src.load_case(e).to_dict(), image_path=src.image_path(e), masks=masks, source="synthetic",
                    split="train")


def headline(res: dict) -> dict:
    from .report import strict_json

    n_legs = res["n_legs"]
    with_hka = res.get("legs_with_hka_pct")
    return strict_json({"mean_error_mm": res["mean_error_mm_8_landmarks"]["mean"], "hka_mae_deg": res["table4_metrics"]["hka_deg"]["mae"],
            "legs_missed_pct": None if with_hka is None or not math.isfinite(with_hka) else 100.0 - with_hka,
            "missing_landmarks": res["figure7"]["missing_landmarks"], "n_legs": n_legs, "model_id": res["model_id"],
            "legs_missing_region": res.get("legs_missing_region"), "legs_not_found": res.get("legs_not_found"),
            "images_without_detection": len(res.get("images_without_detection", []))})


def run_one(args, labelled: list[str], run_dir: Path, seed: int, log) -> dict:
    """Fine-tune the bundle on ``labelled`` (from the same start every time) and evaluate it on the test store."""
    from . import train
    from .evaluate import evaluate_bundle
    from .report import strict_json  # noqa: F401 - results are written strictly by the caller

    store = run_dir / "store"
    label_store(args.pool, labelled, store)
    n = len(labelled)
    epochs = max(1, math.ceil(args.steps / max(1, n // args.batch_size if n > args.batch_size else 1)))
    models = run_dir / "models"
    if models.exists():
        shutil.rmtree(models)
    argv = ["--data", str(store), "--out", str(models), "--init-from", args.bundle, "--parts", args.parts,
            "--epochs", str(epochs), "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
            "--train-splits", "train", "--val-split", "none", "--threads", str(args.threads), "--seed", str(seed),
            "--no-progress", "--cache-dir", str(run_dir / "cache"), "--patience", "0", "--keep", "last"]
    if args.lr:
        argv += ["--lr", str(args.lr)]
    if args.freeze_fraction is not None:
        argv += ["--freeze-fraction", str(args.freeze_fraction)]
    else:
        from .presets import finetune_defaults

        argv += ["--freeze-fraction", str(finetune_defaults().freeze_fraction)]
    c0 = time.process_time()
    w0 = time.monotonic()
    train.main(train.get_args_parser().parse_args(argv))
    c1 = time.process_time()
    res = evaluate_bundle(args.test, str(models), split="all", log=lambda m: None)
    c2 = time.process_time()
    out = headline(res)
    out.update({"n_labels": n, "epochs": epochs, "train_cpu_min": round((c1 - c0) / 60, 2),
                "eval_cpu_min": round((c2 - c1) / 60, 2), "wall_min": round((time.monotonic() - w0) / 60, 2)})
    if not args.keep_models:
        shutil.rmtree(run_dir)
    return out


# ---------------------------------------------------------------------------------------------- report
def _stats(vals: list[float | None]) -> tuple[float | None, float | None, int]:
    v = [x for x in vals if x is not None and math.isfinite(x)]
    if not v:
        return None, None, 0
    return float(np.mean(v)), (float(np.std(v, ddof=1)) if len(v) > 1 else 0.0), len(v)


def _f(m, s, nd=2, n=2) -> str:
    """Mean ± SD over the seeds; the mean alone for one seed (no spread to show)."""
    if m is None:
        return "–"
    return f"{m:.{nd}f}" if n < 2 else f"{m:.{nd}f} ± {s:.{nd}f}"


def summarize(doc: dict) -> dict:
    """Per strategy and round: mean ± SD over the seeds of each measure, and CPU minutes."""
    base = doc.get("baseline", {})
    out: dict = {"baseline": base, "strategies": {}}
    runs = doc.get("runs", {})
    strategies = sorted({r["strategy"] for r in runs.values()}, key=lambda s: (s != "random", s))
    for st in strategies:
        rows = {}
        for n in sorted({r["n_labels"] for r in runs.values() if r["strategy"] == st}):
            rs = [r for r in runs.values() if r["strategy"] == st and r["n_labels"] == n]
            rows[n] = {k: _stats([r[k] for r in rs]) for k in ("mean_error_mm", "hka_mae_deg", "legs_missed_pct",
                                                                 "train_cpu_min", "eval_cpu_min")}
            rows[n]["seeds"] = sorted(r["seed"] for r in rs)
        out["strategies"][st] = rows
    return out


def labels_to_target(rows: dict, hka_deg: float = 1.0, missed_pct: float = 2.0) -> int | None:
    """The fewest labels whose seed-mean HKA MAE is below ``hka_deg`` and legs missed below ``missed_pct``."""
    for n in sorted(rows):
        h, m = rows[n]["hka_mae_deg"][0], rows[n]["legs_missed_pct"][0]
        if h is not None and m is not None and h < hka_deg and m < missed_pct:
            return n
    return None


def render_markdown(doc: dict, summ: dict) -> str:
    base = summ["baseline"]
    lines = ["# Label efficiency across a domain gap", "",
             f"Bundle `{base.get('model_id', '?')}` unadapted on the test store: mean error "
             f"{_num(base.get('mean_error_mm'))} mm (8 landmarks), HKA MAE {_num(base.get('hka_mae_deg'))}°, "
             f"legs without an HKA measurement {_num(base.get('legs_missed_pct'), 1)} % of {base.get('n_legs')}.", "",
             "Mean ± SD over the seeds (n = number of seeds; one seed: the value, no spread). CPU minutes per run "
             "(training, cache included, and evaluation).", "",
             "| strategy | labels | mean error mm | HKA MAE ° | legs missed % | CPU min train | CPU min eval | n |",
             "|---|---|---|---|---|---|---|---|"]
    for st, rows in summ["strategies"].items():
        for n, r in rows.items():
            k = r["mean_error_mm"][2]
            lines.append(f"| {st} | {n} | {_f(*r['mean_error_mm'][:2], n=k)} | {_f(*r['hka_mae_deg'][:2], n=k)} | "
                         f"{_f(*r['legs_missed_pct'][:2], nd=1, n=k)} | {_f(*r['train_cpu_min'][:2], nd=1, n=k)} | "
                         f"{_f(*r['eval_cpu_min'][:2], nd=1, n=k)} | {k} |")
    lines += ["", "Labels needed for HKA MAE < 1.0° and legs missed < 2 % (seed means):", ""]
    target = {st: labels_to_target(rows) for st, rows in summ["strategies"].items()}
    for st, n in target.items():
        lines.append(f"* {st}: {n if n is not None else 'not reached within the rounds run'}")
    if "random" in target and target["random"]:
        for st, n in target.items():
            if st != "random" and n:
                lines.append(f"* {st} / random: {100 * n / target['random']:.0f} % of random's labels")
    lines.append("")
    return "\n".join(lines)


def _num(v, nd=2) -> str:
    return "–" if v is None else f"{v:.{nd}f}"


def plot_png(summ: dict, path: Path) -> None:
    """Two panels (HKA MAE, legs missed) against labels (log axis), mean ± SD per strategy (OpenCV)."""
    import cv2

    colors = [(200, 80, 0), (0, 140, 255), (40, 160, 40), (160, 40, 160), (0, 0, 200)]
    w, h, pad = 520, 380, 60
    panels = []
    for key, label in (("hka_mae_deg", "HKA MAE [deg]"), ("legs_missed_pct", "legs missed [%]")):
        img = np.full((h, w, 3), 255, np.uint8)
        series = {st: [(n, r[key][0], r[key][1]) for n, r in rows.items() if r[key][0] is not None]
                  for st, rows in summ["strategies"].items()}
        base = summ["baseline"].get(key)
        base = base if base is not None and math.isfinite(base) else None
        ns = sorted({n for s in series.values() for n, _, _ in s}) or [1]
        ys = [m + sd for s in series.values() for _, m, sd in s] + ([base] if base is not None else [])
        ymax = max(ys + [1e-6]) * 1.1
        lx0, lx1 = math.log(min(ns)), math.log(max(ns)) if max(ns) > min(ns) else math.log(min(ns)) + 1
        x_of = lambda n, lx0=lx0, lx1=lx1: int(pad + (math.log(n) - lx0) / (lx1 - lx0) * (w - 2 * pad))  # noqa: E731
        y_of = lambda y, ymax=ymax: int(h - pad - y / ymax * (h - 2 * pad))  # noqa: E731
        cv2.rectangle(img, (pad, pad), (w - pad, h - pad), (0, 0, 0), 1)
        for n in ns:
            cv2.putText(img, str(n), (x_of(n) - 8, h - pad + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        for k in range(5):
            y = ymax * k / 4
            cv2.putText(img, f"{y:.1f}", (8, y_of(y) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        if base is not None:
            cv2.line(img, (pad, y_of(base)), (w - pad, y_of(base)), (150, 150, 150), 1)
            cv2.putText(img, "unadapted", (w - pad - 80, y_of(base) - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (120, 120, 120), 1)
        for i, (st, pts) in enumerate(series.items()):
            c = colors[i % len(colors)]
            P = [(x_of(n), y_of(m)) for n, m, _ in pts]
            if len(P) > 1:
                cv2.polylines(img, [np.array(P, np.int32)], False, c, 2, cv2.LINE_AA)
            for (_n, m, sd), p in zip(pts, P):
                cv2.line(img, (p[0], y_of(max(0, m - sd))), (p[0], y_of(m + sd)), c, 1)
                cv2.circle(img, p, 3, c, -1)
            cv2.putText(img, st, (pad + 10, pad + 18 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, c, 1)
        cv2.putText(img, label + " vs corrected images", (pad, pad - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
        panels.append(img)
    cv2.imwrite(str(path), np.hstack(panels))


def write_outputs(doc: dict, out: Path) -> None:
    from llm_viewer.core.atomic import atomic_write_text

    from .report import strict_json

    summ = summarize(doc)
    atomic_write_text(out / "results.json", json.dumps(strict_json(doc), indent=1, allow_nan=False) + "\n")
    atomic_write_text(out / "label_efficiency.md", render_markdown(doc, summ))
    if summ["strategies"]:
        plot_png(summ, out / "label_efficiency.png")


# ---------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_from:
        doc = {"baseline": {}, "runs": {}}
        for d in args.report_from:
            part = json.loads((Path(d) / "results.json").read_text(encoding="utf-8"))
            doc["baseline"] = doc["baseline"] or part.get("baseline", {})
            doc["runs"].update(part.get("runs", {}))
        write_outputs(doc, out)
        return 0
    if not (args.bundle and args.pool and args.test):
        print("al_domain_gap: error: --bundle, --pool and --test are needed (or --report-from)", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    from llm_viewer.core.store import Store

    from .evaluate import evaluate_bundle

    res_path = out / "results.json"
    doc = json.loads(res_path.read_text(encoding="utf-8")) if res_path.is_file() else {"runs": {}}
    doc["command"] = "python -m training.al_domain_gap " + " ".join(sys.argv[1:] if argv is None else argv)
    if not doc.get("baseline"):
        c0 = time.process_time()
        doc["baseline"] = headline(evaluate_bundle(args.test, args.bundle, split="all", log=lambda m: None))
        doc["baseline"]["eval_cpu_min"] = round((time.process_time() - c0) / 60, 2)
        write_outputs(doc, out)
    scored = score_pool(args.bundle, args.pool, out)
    doc["scoring_cpu_min"] = scored["cpu_minutes"]
    ids = [e.id for e in Store.open(args.pool).entries()]
    rounds = [int(x) for x in args.rounds.split(",")]
    for seed in [int(s) for s in args.seeds.split(",")]:
        cands = draw_candidates(ids, args.candidates, seed)
        for st in args.strategies.split(","):
            ranked = order(st, cands, scored["scores"], seed)
            for n in rounds:
                key = f"{st}/seed{seed}/n{n}"
                if key in doc["runs"]:
                    continue
                if n > len(ranked):
                    print(f"al_domain_gap: {key}: only {len(ranked)} candidates; skipped", file=sys.stderr)
                    continue
                r = run_one(args, ranked[:n], out / "runs" / key.replace("/", "_"), seed, print)
                r.update({"strategy": st, "seed": seed, "labelled": ranked[:n]})
                doc["runs"][key] = r
                print(f"al_domain_gap: {key}: error {_num(r['mean_error_mm'])} mm, HKA MAE {_num(r['hka_mae_deg'])}°, "
                      f"legs missed {_num(r['legs_missed_pct'], 1)} %, CPU {r['train_cpu_min']} + "
                      f"{r['eval_cpu_min']} min", flush=True)
                write_outputs(doc, out)
    write_outputs(doc, out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted; rerun the same command to resume\n")
        sys.exit(130)
