"""Ablation of the paper (Sec. II-F): SGR vs direct segmentation vs direct regression on the same split.

Usage::

    python -m training.ablation --data STORE --test-data STORE [--test-split test] --out DIR [--preset lite]
                                [--base MODELDIR] [--epochs N] [...]

For each method the hip, knee and ankle models are trained with identical data, augmentation, seeds and
schedule into ``DIR/<method>/`` (no refinement stage: the methods are compared as the paper defines
them). The ROI detector and the diaphysis U-Net do not depend on the method: they are trained once in
``DIR/shared`` or, with ``--base``, copied from an existing model folder's checkpoints. Each variant is
then evaluated with :mod:`training.evaluate` (report in ``DIR/<method>/report``) and a side-by-side table
is printed and written to ``DIR/ablation.md`` / ``DIR/ablation.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from llm_viewer.core.atomic import atomic_write_text

from . import evaluate, train
from .report import write_report

METHODS = ("sgr", "segmentation", "regression")
SHARED_PARTS = ("detector", "diaphysis")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train and evaluate SGR, direct segmentation and direct regression",
                                add_help=add_help)
    p.add_argument("--data", required=True, help="training store")
    p.add_argument("--test-data", default=None, help="evaluation store (default: --data)")
    p.add_argument("--test-split", default="test", help="split of the evaluation store, or 'all'")
    p.add_argument("--out", required=True, help="ablation folder")
    p.add_argument("--preset", default="lite", choices=("paper", "lite"))
    p.add_argument("--base", default=None, help="model folder whose detector/diaphysis checkpoints are reused")
    p.add_argument("--methods", default=",".join(METHODS), help="comma list (default all three)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--train-splits", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most this many cases")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--backbone-weights", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    return p


def _train_args(args: argparse.Namespace, out: Path, parts: str, method: str) -> argparse.Namespace:
    argv = ["--data", args.data, "--out", str(out), "--preset", args.preset, "--parts", parts, "--method", method,
            "--no-refine", "--train-splits", args.train_splits, "--val-split", args.val_split,
            "--seed", str(args.seed), "--cache-dir", args.cache_dir or str(Path(args.out) / "cache")]
    for flag, value in (("--epochs", args.epochs), ("--max-steps", args.max_steps), ("--batch-size", args.batch_size),
                        ("--backbone-weights", args.backbone_weights), ("--threads", args.threads)):
        if value is not None:
            argv += [flag, str(value)]
    if args.no_progress:
        argv.append("--no-progress")
    return train.get_args_parser().parse_args(argv)


def side_by_side(results: dict[str, dict]) -> str:
    """Markdown table of the key numbers of each method."""
    rows = [("mean error, 8 landmarks [mm]", lambda r: f"{r['mean_error_mm_8_landmarks']['mean']:.2f} ± "
                                                       f"{r['mean_error_mm_8_landmarks']['sd']:.2f}"),
            ("avg detection rate 0.5–10 mm [%]", lambda r: f"{r['table2_detection_rates']['average_pct']:.2f}"),
            ("outliers > 10 mm", lambda r: str(r["figure7"]["outliers_above_10mm"])),
            ("false positives (extra blobs)", lambda r: str(r["figure7"]["false_positives"])),
            ("missed (map never > 0.5)", lambda r: str(r["figure7"]["missed_maps"])),
            ("images where the test failed", lambda r: str(r["failed_images"])),
            ("HKA MAE [°]", lambda r: f"{r['table4_metrics']['hka_deg']['mae']:.2f}"),
            ("HKA errors > 1.5° [%]", lambda r: f"{r['hka_errors_above_1_5_deg_pct']:.2f}"),
            ("mLDFA MAE [°]", lambda r: f"{r['table4_metrics']['mldfa_deg']['mae']:.2f}"),
            ("mMPTA MAE [°]", lambda r: f"{r['table4_metrics']['mmpta_deg']['mae']:.2f}")]
    methods = list(results)
    lines = ["| measure | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for name, fn in rows:
        lines.append(f"| {name} | " + " | ".join(fn(results[m]) for m in methods) + " |")
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    shared = out / "shared"
    if args.base:
        for part in SHARED_PARTS:
            src = Path(args.base) / "checkpoints" / part
            if not (src / "best.safetensors").is_file():
                raise SystemExit(f"error: {src} has no best.safetensors; train {part} there first")
            shutil.copytree(src, shared / "checkpoints" / part, dirs_exist_ok=True)
    else:
        train.main(_train_args(args, shared, ",".join(SHARED_PARTS), "sgr"))
    results = {}
    for method in methods:
        folder = out / method
        for part in SHARED_PARTS:
            shutil.copytree(shared / "checkpoints" / part, folder / "checkpoints" / part, dirs_exist_ok=True)
        train.main(_train_args(args, folder, "hip,knee,ankle", method))
        res = evaluate.evaluate_bundle(args.test_data or args.data, str(folder), split=args.test_split,
                                       limit=args.limit, refine=False)
        write_report(res, folder / "report", title=f"Ablation: {method}")
        results[method] = res
    table = side_by_side(results)
    atomic_write_text(out / "ablation.md", "# Ablation: SGR vs direct segmentation vs direct regression\n\n" + table)
    atomic_write_text(out / "ablation.json", json.dumps(
        {m: {k: v for k, v in r.items() if k != "per_leg"} for m, r in results.items()}, indent=1, default=float))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
