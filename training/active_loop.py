"""One round of the active-learning loop: rank → correct in the viewer → export → fine-tune → evaluate.

Usage::

    # 1. rank the unlabelled pool and write the relabel queue, then stop for the human
    python -m training.active_loop --pool POOL --store STORE --models MODELDIR --round-dir ROUND --top K
    #    ... llm-viewer gui ROUND/queue.json; correct; File > Export to training set (into STORE) ...
    # 2. fine-tune on the grown store and evaluate
    python -m training.active_loop --store STORE --models MODELDIR --round-dir ROUND --train-only \\
        [--eval-data TESTSTORE]
    # simulation: the pool's ground truth replaces the human (POOL must be a store with ground truth)
    python -m training.active_loop --pool POOL --store STORE --models MODELDIR --round-dir ROUND --top K --oracle

Fine-tuning uses :mod:`training.train`'s resume mechanism: ``ROUND/models/checkpoints/<part>/`` is seeded
with the current weights (``MODELDIR``'s best checkpoints, else its bundle files) and a fresh optimiser at
"epoch −1", and ``training.train`` then runs ``--epochs`` more epochs of ``--parts`` on the whole store and
writes a complete bundle to ``ROUND/models`` (parts not fine-tuned keep their weights). ``ROUND/round.json``
records the queue, the labels added and the evaluation before and after.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import torch

from llm_viewer.core.store import Store, StoreError
from llm_viewer.pipeline.active import STRATEGIES, get_strategy
from llm_viewer.pipeline.active.ranking import PoolItem, collect_pool, queue_json, rank_pool
from llm_viewer.pipeline.active.tta import UncertaintyAnalyzer
from llm_viewer.pipeline.bundle import load_bundle
from llm_viewer.pipeline.refine import REFINE_JSON

from . import checkpoint, train
from .presets import PRESETS, TrainPreset, get_preset


class LoopError(ValueError):
    """A round cannot run; the message says why."""


def pool_items(pool: str, store: Store | None) -> list[PoolItem]:
    """Images of the pool not yet in the training store (store pools: by case id; folders: by file name)."""
    items, errors = collect_pool([pool])
    for msg in errors:
        print(f"active_loop: {msg}", file=sys.stderr)
    have = {e.id for e in store.entries()} if store is not None else set()
    out = []
    for it in items:
        key = it.case.name[: -len(".case.json")] if it.case is not None else it.image.stem
        if key not in have:
            out.append(it)
    return out


def add_oracle_labels(queue: list[dict], store: Store) -> list[str]:
    """The oracle: copy each queued store case (its ground truth, image and masks) into the training store.

    Raises
    ------
    LoopError
        A queued image has no case file with ground truth (oracle mode needs a store as pool).
    """
    added = []
    for item in queue:
        case_path = item.get("case")
        if not case_path:
            raise LoopError(f"{item['image']}: --oracle needs a pool store (its case files hold the ground truth)")
        case_path = Path(case_path)
        pool = Store.open(case_path.parent.parent)
        case_id = case_path.name[: -len(".case.json")]
        entry = next((e for e in pool.entries() if e.id == case_id), None)
        if entry is None:
            raise LoopError(f"{case_path}: not a case of the pool store")
        masks = {name: pool.mask_path(entry, name).read_bytes() for name in entry.masks}
        store.add_case(case_id, pool.load_case(entry), image_path=pool.image_path(entry), masks=masks,
                       source="export", extra={"active_learning": item.get("strategy")})
        added.append(case_id)
    return added


def detect_preset(models: Path) -> TrainPreset:
    """The training preset a bundle was made with (``train_config.json``, else the preset whose config matches).

    Raises
    ------
    LoopError
        No preset reproduces the bundle's configuration.
    """
    cfg_file = models / "train_config.json"
    bundle = load_bundle(models)
    if cfg_file.is_file():
        name = json.loads(cfg_file.read_text(encoding="utf-8")).get("preset", {}).get("name")
        if name in PRESETS:
            return get_preset(name)
    for name in PRESETS:
        p = get_preset(name)
        if p.bundle.regions == bundle.config.regions and p.bundle.detector == bundle.config.detector:
            return p
    raise LoopError(f"{models}: its configuration matches no training preset ({', '.join(PRESETS)}); "
                    "fine-tune it with training.train directly")


def _current_weights(models: Path, part: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    best = models / "checkpoints" / part / "best.safetensors"
    if best.is_file():
        return load_file(str(best))
    if part.startswith("refine_"):
        return load_file(str(models / f"{part}.safetensors"))
    return load_bundle(models).state_dict(part)


def seed_checkpoints(models: Path, out: Path, preset: TrainPreset, finetune_parts: list[str], lr: float) -> None:
    """Start ``out/checkpoints`` from the current weights: fine-tuned parts at epoch −1 (fresh Adam), the
    others as finished (their best weights), so that ``training.train`` writes a complete bundle."""
    for part in preset.parts():
        folder = out / "checkpoints" / part
        folder.mkdir(parents=True, exist_ok=True)
        state = _current_weights(models, part)
        if part in finetune_parts:
            _kind, model = train.build_part(preset, part)
            model.load_state_dict(state, strict=True)
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            checkpoint.save_checkpoint(folder, model.state_dict(), opt,
                                       {"epoch": -1, "best_score": float("inf"), "best_epoch": -1, "part": part},
                                       best=True)
        else:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "best.safetensors"))


def fine_tune(store: Path, models: Path, out: Path, *, parts: list[str], epochs: int, lr_factor: float | None,
              train_splits: str, val_split: str, threads: int, max_steps: int | None, seed: int) -> Path:
    """Fine-tune ``parts`` of ``models`` on ``store`` for ``epochs`` epochs; the new bundle is ``out``."""
    preset = detect_preset(models)
    has_refine = (models / REFINE_JSON).is_file()
    if not has_refine:
        preset = dataclasses.replace(preset, refine={})
    unknown = [p for p in parts if p not in preset.parts()]
    if unknown:
        raise LoopError(f"unknown part(s) {unknown}; this bundle has {list(preset.parts())}")
    from .presets import finetune_defaults

    base_lr = preset.stage(parts[0]).lr * lr_factor if lr_factor else finetune_defaults().lr
    if out.exists():
        shutil.rmtree(out)
    seed_checkpoints(models, out, preset, parts, base_lr)
    argv = ["--data", str(store), "--out", str(out), "--preset", preset.name, "--parts", ",".join(parts),
            "--epochs", str(epochs), "--lr", str(base_lr), "--train-splits", train_splits, "--val-split", val_split,
            "--threads", str(threads), "--seed", str(seed), "--no-progress", "--cache-dir", str(out.parent / "cache")]
    if not has_refine:
        argv.append("--no-refine")
    if max_steps:
        argv += ["--max-steps", str(max_steps), "--batch-size", "2"]
    train.main(train.get_args_parser().parse_args(argv))
    return out


def _summary(res: dict) -> dict:
    # the headline of every report: the paper's eight landmarks (the diaphysis centre's ~10 mm is a construction)
    return {"n_images": res["n_images"], "mean_error_mm": res["mean_error_mm_8_landmarks"]["mean"],
            "missing_landmarks": res["figure7"]["missing_landmarks"],
            "legs_with_hka_pct": res.get("legs_with_hka_pct"),
            "hka_mae_deg": res["table4_metrics"]["hka_deg"]["mae"], "mldfa_mae_deg": res["table4_metrics"]["mldfa_deg"]["mae"],
            "mmpta_mae_deg": res["table4_metrics"]["mmpta_deg"]["mae"], "failed_images": res["failed_images"]}


def run_round(args: argparse.Namespace) -> dict:
    """One round (see the module docstring); returns what ``round.json`` records."""
    from training.evaluate import evaluate_bundle

    round_dir = Path(args.round_dir)
    round_dir.mkdir(parents=True, exist_ok=True)
    models = Path(args.models)
    try:
        store = Store.create(args.store, exist_ok=True)
    except StoreError as exc:
        raise LoopError(str(exc)) from None
    record_path = round_dir / "round.json"
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    record.update({"models": str(models), "store": str(args.store)})
    if not args.train_only:
        if not args.pool:
            raise LoopError("--pool is needed to rank (or give --train-only)")
        strategy = get_strategy(args.strategy, seed=args.seed)
        analyzer = UncertaintyAnalyzer.from_bundle(models, device=args.device)
        items = pool_items(args.pool, store)
        if not items:
            raise LoopError(f"{args.pool}: no unlabelled image left in the pool")
        outcome = rank_pool(items, analyzer, strategy, top=args.top, log=print)
        queue = [r.as_dict() for r in outcome.ranked]
        (round_dir / "queue.json").write_text(queue_json(outcome.ranked), encoding="utf-8")
        record.update({"strategy": args.strategy, "queue": str(round_dir / "queue.json"), "queued": len(queue)})
        if not args.oracle:
            record_path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
            print(f"queue written to {round_dir / 'queue.json'}: open it with `llm-viewer gui "
                  f"{round_dir / 'queue.json'}`, correct the cases, export them to {args.store}, then rerun with "
                  "--train-only")
            return record
        record["added"] = add_oracle_labels(queue, store)
    out = fine_tune(Path(args.store), models, round_dir / "models", parts=args.parts.split(","), epochs=args.epochs,
                    lr_factor=args.lr_factor, train_splits=args.train_splits, val_split=args.val_split,
                    threads=args.threads, max_steps=args.max_steps, seed=args.seed)
    record["new_models"] = str(out)
    if args.eval_data:
        for key, bundle in (("before", models), ("after", out)):
            res = evaluate_bundle(args.eval_data, str(bundle), split=args.eval_split, limit=args.eval_limit,
                                  log=lambda m: None)
            record[f"eval_{key}"] = _summary(res)
            print(f"evaluation {key}: {record[f'eval_{key}']}")
    from .report import strict_json

    record_path.write_text(json.dumps(strict_json(record), indent=1, default=str, allow_nan=False) + "\n",
                           encoding="utf-8")
    return record


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="One active-learning round: rank, label, fine-tune, evaluate")
    p.add_argument("--pool", help="unlabelled images: files folder or store (a store for --oracle)")
    p.add_argument("--store", required=True, help="training store the corrected cases are exported into")
    p.add_argument("--models", required=True, help="current model folder (bundle, optionally with checkpoints/)")
    p.add_argument("--round-dir", required=True, help="folder of this round: queue.json, round.json, models/")
    p.add_argument("--strategy", default="combined", choices=sorted(STRATEGIES))
    p.add_argument("--top", type=int, default=10, help="images to label this round")
    p.add_argument("--oracle", action="store_true", help="take the pool's ground truth instead of a human")
    p.add_argument("--train-only", action="store_true", help="skip ranking: fine-tune on the store as it is")
    p.add_argument("--parts", default="hip,knee,ankle", help="parts to fine-tune (default the landmark models)")
    p.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs")
    p.add_argument("--lr-factor", type=float, default=None,
                   help="fine-tuning lr = preset lr × this (default: the fine-tuning rate of "
                        "presets.FineTuneConfig, 1e-4)")
    p.add_argument("--train-splits", default="train,val,test",
                   help="store splits to train on (default every split: each labelled image is trained on; the "
                        "store's hash split would otherwise put some of the queued images aside)")
    p.add_argument("--val-split", default="none",
                   help="store split for the best-epoch choice (default none: the last epoch; evaluate on "
                        "--eval-data)")
    p.add_argument("--max-steps", type=int, default=None, help="batches per epoch (smoke tests)")
    p.add_argument("--eval-data", default=None, help="held-out store to evaluate before and after")
    p.add_argument("--eval-split", default="all")
    p.add_argument("--eval-limit", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        run_round(args)
    except LoopError as exc:
        print(f"active_loop: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
