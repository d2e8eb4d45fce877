"""Adapt a model bundle to a store of corrected cases (a new clinic, a new export format) in one command.

Usage::

    python -m training.adapt --bundle resources/models/demo --store /data/my_store --out /data/models/mine

Fine-tunes every part of the bundle the store has training data for (detector, hip / knee / ankle, the
refinement stage, the diaphysis when the store holds masks; the others keep the bundle's weights) with
defaults chosen for a few dozen cases (``training.presets.FineTuneConfig``): learning rate 1e-4, the early
half of every encoder and of the detector's backbone frozen, at most 6 epochs per part and early stopping
on the store's ``val`` split (hash-assigned, never trained on here; the ``train`` and ``test`` splits are
trained on). It prints progress with a time estimate, resumes when run again (``--restart`` starts over),
refuses to write into the bundle it starts from, and writes a bundle with a new model id whose
``bundle.json`` (notes, ``training_data_fingerprint``) and ``adapt.json`` record the parent model id and the
store's fingerprint. With a ``val`` split it then evaluates the parent and the new bundle on it (8-landmark
mean error, HKA MAE, legs with an HKA measurement) and records both in ``adapt.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

ADAPT_JSON = "adapt.json"


class AdaptError(ValueError):
    """The adaptation cannot run; the message says why (one line)."""


@dataclasses.dataclass(frozen=True)
class AdaptOptions:
    """What :func:`run_adapt` does (the command line's options)."""

    bundle: str
    store: str
    out: str
    parts: str = "auto"
    epochs: int | None = None
    patience: int | None = None
    freeze_fraction: float | None = None
    lr: float | None = None
    batch_size: int | None = None
    max_steps: int | None = None
    threads: int | None = None
    device: str = "cpu"
    seed: int = 0
    restart: bool = False
    evaluate: bool = True
    progress_bars: bool = False


@dataclasses.dataclass(frozen=True)
class AdaptProgress:
    """One progress report: where training is and how long the rest should take."""

    part: str
    part_index: int
    n_parts: int
    epoch: int
    epochs: int
    step: int
    n_steps: int
    done_steps: int
    total_steps: int
    elapsed_s: float
    eta_s: float | None

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_steps / self.total_steps) if self.total_steps else 0.0

    def line(self) -> str:
        eta = "estimating…" if self.eta_s is None else f"about {_duration(self.eta_s)} left (at most)"
        return (f"{self.part} ({self.part_index + 1}/{self.n_parts}) epoch {self.epoch + 1}/{self.epochs} "
                f"step {self.step}/{self.n_steps} · {100 * self.fraction:.0f} % · {_duration(self.elapsed_s)} "
                f"elapsed · {eta}")


@dataclasses.dataclass(frozen=True)
class AdaptResult:
    """What :func:`run_adapt` made."""

    out: Path
    model_id: str
    parent_model_id: str
    store_fingerprint: str
    parts: tuple[str, ...]
    held_out: dict
    record: dict


def _duration(s: float) -> str:
    s = max(0.0, s)
    return f"{s:.0f} s" if s < 90 else (f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h")


def _inside(a: Path, b: Path) -> bool:
    try:
        a.relative_to(b)
        return True
    except ValueError:
        return False


def check_out(bundle: Path, out: Path, store_fp: str, *, restart: bool) -> None:
    """Refuse an output folder that is (or holds, or lies in) the parent bundle, or holds something else.

    Raises
    ------
    AdaptError
        ``out`` would overwrite the parent bundle, is a folder that is not an adaptation, or is an
        adaptation of another bundle or store (without ``restart``).
    """
    b, o = bundle.resolve(), out.resolve()
    if o == b or _inside(o, b) or _inside(b, o):
        raise AdaptError(f"--out {out} would overwrite the bundle it starts from ({bundle}); choose another folder")
    if not o.exists():
        return
    if not o.is_dir():
        raise AdaptError(f"--out {out} is a file, not a folder")
    doc_path = o / ADAPT_JSON
    if not doc_path.is_file():
        if any(o.iterdir()):
            raise AdaptError(f"--out {out} is not empty and holds no earlier adaptation ({ADAPT_JSON}); "
                             "choose an empty or new folder")
        return
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    if restart:
        return
    if doc.get("parent_path") != str(b) or doc.get("store_fingerprint") != store_fp:
        raise AdaptError(f"--out {out} holds an adaptation of {doc.get('parent_path')} on another store or "
                         "bundle; choose another folder or pass --restart")


def _detect_preset(bundle: Path, log):
    from .active_loop import LoopError, detect_preset
    from .presets import get_preset

    try:
        return detect_preset(bundle)
    except LoopError:
        log(f"adapt: {bundle} matches no preset; using the lite preset's augmentation (the architecture is the "
            "bundle's own)")
        return get_preset("lite")


def _plan_steps(cache: Path, preset, parts: tuple[str, ...], opts: AdaptOptions, epochs: int,
                has_val: bool) -> dict[str, int]:
    """Upper bound of the training batches of every part (early stopping makes it shorter)."""
    import numpy as np

    plan = {}
    for part in parts:
        name = ("detector.npz" if part == "detector" else f"{part}.npz" if part.startswith("refine_")
                else f"region_{part}.npz")
        path = cache / name
        if not path.is_file():
            continue
        with np.load(path) as z:
            split = z["split"]
        n = int(np.isin(split, ["train", "test"] + ([] if has_val else ["val"])).sum()) * preset.samples_per_leg
        if n == 0:
            continue
        batch = opts.batch_size or preset.stage(part).batch_size
        steps = n // batch if n > batch else 1
        if opts.max_steps:
            steps = min(steps, opts.max_steps)
        plan[part] = steps * epochs
    return plan


class _Tracker:
    """Turns :class:`training.train.TrainHooks` calls into :class:`AdaptProgress` reports."""

    def __init__(self, plan: dict[str, int], emit: Callable[[AdaptProgress], None],
                 should_stop: Callable[[], bool] | None) -> None:
        self.plan, self.emit, self.should_stop = dict(plan), emit, should_stop
        self.order = list(plan)
        self.t0 = time.monotonic()
        self.done = 0
        self.part_done: dict[str, int] = {}
        self.current: str | None = None
        self.epochs = 1

    def on_part(self, part: str, first_epoch: int, epochs: int, batches: int) -> None:
        if self.current is not None:  # an early stop: the rest of that part's plan will not run
            self.plan[self.current] = self.part_done.get(self.current, 0)
        self.current, self.epochs = part, epochs
        self.plan[part] = (epochs - first_epoch) * batches
        if part not in self.order:
            self.order.append(part)

    def on_step(self, part: str, epoch: int, step: int, n_steps: int) -> None:
        from .train import TrainingCancelled

        self.done += 1
        self.part_done[part] = self.part_done.get(part, 0) + 1
        total = max(self.done, sum(self.plan.values()))
        el = time.monotonic() - self.t0
        eta = el / self.done * (total - self.done) if self.done >= 3 else None
        self.emit(AdaptProgress(part, self.order.index(part), len(self.order), epoch, self.epochs, step, n_steps,
                                self.done, total, el, eta))
        if self.should_stop is not None and self.should_stop():
            raise TrainingCancelled("cancelled")


def _headline(res: dict) -> dict:
    t4 = res["table4_metrics"]["hka_deg"]
    return {"n_images": res["n_images"], "mean_error_mm_8_landmarks": res["mean_error_mm_8_landmarks"]["mean"],
            "hka_mae_deg": t4["mae"], "legs_with_hka_pct": res.get("legs_with_hka_pct"),
            "missing_landmarks": res["figure7"]["missing_landmarks"], "found_nothing": res.get("found_nothing", [])}


def run_adapt(opts: AdaptOptions, *, log: Callable[[str], None] = print,
              progress: Callable[[AdaptProgress], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> AdaptResult:
    """Fine-tune ``opts.bundle`` on ``opts.store`` into ``opts.out`` (see the module docstring).

    Raises
    ------
    AdaptError
        Bad bundle, store or output folder.
    training.train.TrainingCancelled
        ``should_stop()`` returned true (finished epochs are kept: the same call resumes).
    """
    import torch

    from llm_viewer.pipeline.bundle import BundleError, load_bundle

    from . import train
    from .data import DataError, build_cache, read_store, store_fingerprint
    from .presets import finetune_defaults
    from .report import strict_json

    bundle, out = Path(opts.bundle), Path(opts.out)
    try:
        parent = load_bundle(bundle)
    except (BundleError, OSError, ValueError) as exc:
        raise AdaptError(f"--bundle {bundle}: {exc}") from None
    try:
        cases = read_store(opts.store)
    except DataError as exc:
        raise AdaptError(f"--store {opts.store}: {exc}") from None
    store_fp = store_fingerprint(cases)
    check_out(bundle, out, store_fp, restart=opts.restart)
    ft = finetune_defaults()
    epochs = opts.epochs or ft.epochs
    n_val = sum(c.split == "val" for c in cases)
    has_val = n_val >= ft.min_val_cases
    patience = (opts.patience if opts.patience is not None else ft.patience) if has_val else 0
    freeze = opts.freeze_fraction if opts.freeze_fraction is not None else ft.freeze_fraction
    preset = _detect_preset(bundle, log)
    has_refine = (bundle / "refine.json").is_file()
    if not has_refine:
        preset = dataclasses.replace(preset, refine={})
    preset = train.preset_from_bundle(preset, str(bundle))
    parts = preset.parts() if opts.parts == "auto" else tuple(p.strip() for p in opts.parts.split(",") if p.strip())
    unknown = [p for p in parts if p not in preset.parts()]
    if unknown:
        raise AdaptError(f"unknown part(s) {unknown}; this bundle has {list(preset.parts())}")
    log(f"adapt: {parent.model_id} on {opts.store} ({len(cases)} cases: "
        f"{len(cases) - n_val} trained on, {n_val} held out (split val) "
        + ("for early stopping" if has_val else "- too few for early stopping, fixed epochs") + ")")
    out.mkdir(parents=True, exist_ok=True)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    cache = build_cache(cases, preset, out / "cache", log=log)
    plan = _plan_steps(cache, preset, parts, opts, epochs, has_val)
    log("adapt: parts " + ", ".join(f"{p} (≤ {plan.get(p, 0)} steps)" for p in parts)
        + f"; lr {opts.lr or ft.lr:g}, {freeze:.0%} of the early layers frozen, ≤ {epochs} epochs, patience "
        + (str(patience) if patience else "off"))
    notes = (f"adapted by training.adapt from {parent.model_id} (fingerprint {parent.fingerprint[:16]}) on a store "
             f"of {len(cases)} cases, fingerprint {store_fp[:16]}")
    record = {"parent_model_id": parent.model_id, "parent_fingerprint": parent.fingerprint,
              "parent_path": str(bundle.resolve()), "store": str(Path(opts.store).resolve()),
              "store_fingerprint": store_fp, "n_cases": len(cases), "n_held_out": n_val, "parts": list(parts),
              "epochs": epochs, "patience": patience, "freeze_fraction": freeze, "lr": opts.lr or ft.lr,
              "status": "training", "command": "python -m training.adapt " + " ".join(_argv(opts))}
    (out / ADAPT_JSON).write_text(json.dumps(strict_json(record), indent=1) + "\n", encoding="utf-8")
    argv = ["--data", opts.store, "--out", str(out), "--init-from", str(bundle), "--parts", ",".join(parts),
            "--preset", preset.name,
            "--epochs", str(epochs), "--patience", str(patience), "--freeze-fraction", str(freeze),
            "--train-splits", "train,test" if has_val else "train,val,test",
            "--val-split", "val" if has_val else "none", "--seed", str(opts.seed), "--device", opts.device,
            "--cache-dir", str(out / "cache"), "--notes", notes]
    argv += ["--lr", str(opts.lr)] if opts.lr else []
    argv += ["--batch-size", str(opts.batch_size)] if opts.batch_size else []
    argv += ["--max-steps", str(opts.max_steps)] if opts.max_steps else []
    argv += ["--threads", str(opts.threads)] if opts.threads else []
    argv += ["--restart"] if opts.restart else []
    argv += [] if opts.progress_bars else ["--no-progress"]
    argv += [] if has_refine else ["--no-refine"]
    emit = progress or (lambda p: None)
    tracker = _Tracker(plan, emit, should_stop)
    hooks = train.TrainHooks(on_part=tracker.on_part, on_step=tracker.on_step)
    t0 = time.monotonic()
    try:
        train.main(train.get_args_parser().parse_args(argv), hooks=hooks)
    except SystemExit as exc:  # training.train's one-line user errors
        raise AdaptError(str(exc.code).removeprefix("error: ")) from None
    new = load_bundle(out)
    record.update({"model_id": new.model_id, "fingerprint": new.fingerprint, "status": "done",
                   "train_minutes": round((time.monotonic() - t0) / 60, 2)})
    held_out = {}
    if opts.evaluate and has_val:
        from .evaluate import evaluate_bundle

        for key, path in (("parent", bundle), ("adapted", out)):
            log(f"adapt: evaluating the {key} bundle on the {n_val} held-out cases")
            held_out[key] = _headline(evaluate_bundle(opts.store, str(path), split="val", device=opts.device,
                                                      log=lambda m: None))
        record["held_out_val"] = held_out
    (out / ADAPT_JSON).write_text(json.dumps(strict_json(record), indent=1, allow_nan=False) + "\n",
                                  encoding="utf-8")
    log(f"adapt: new bundle {new.model_id} in {out} (parent {parent.model_id})")
    for key, h in held_out.items():
        log(f"adapt: held out, {key}: mean error {_num(h['mean_error_mm_8_landmarks'])} mm (8 landmarks), HKA MAE "
            f"{_num(h['hka_mae_deg'])}°, HKA measured on {_num(h['legs_with_hka_pct'], 0)} % of legs")
    return AdaptResult(out, new.model_id, parent.model_id, store_fp, tuple(parts), held_out, record)


def _num(v, nd: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def _argv(opts: AdaptOptions) -> list[str]:
    out = ["--bundle", opts.bundle, "--store", opts.store, "--out", opts.out]
    defaults = AdaptOptions("", "", "")
    for f in dataclasses.fields(AdaptOptions):
        if f.name in ("bundle", "store", "out"):
            continue
        v = getattr(opts, f.name)
        if v != getattr(defaults, f.name):
            flag = "--" + f.name.replace("_", "-")
            out += ([flag] if v is True else ["--no-eval"] if f.name == "evaluate" else [flag, str(v)])
    return out


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Fine-tune a model bundle on a store of corrected cases")
    p.add_argument("--bundle", required=True, help="the bundle to start from (never written to)")
    p.add_argument("--store", required=True, help="training store of corrected cases (training.import_cases, "
                                                  "the viewer's export)")
    p.add_argument("--out", required=True, help="new model folder (resumed when it holds this adaptation)")
    p.add_argument("--parts", default="auto", help="comma list of parts, or auto (every part with training data)")
    p.add_argument("--epochs", type=int, default=None, help="most epochs per part (default 6)")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs (default 2)")
    p.add_argument("--freeze-fraction", type=float, default=None, help="early layers kept fixed (default 0.5)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-4)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None, help="batches per epoch at most (quick runs)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--restart", action="store_true", help="start over instead of resuming")
    p.add_argument("--no-eval", dest="evaluate", action="store_false",
                   help="skip the before/after evaluation on the held-out split")
    p.add_argument("--progress-bars", action="store_true", help="per-epoch progress bars as well")
    return p


def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    opts = AdaptOptions(**{f.name: getattr(a, f.name) for f in dataclasses.fields(AdaptOptions)})
    last = [0.0]

    def show(p: AdaptProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0 or p.done_steps == p.total_steps:
            last[0] = now
            sys.stderr.write("\r" + p.line().ljust(110)[:150])
            sys.stderr.flush()

    try:
        run_adapt(opts, progress=show, log=lambda m: print(("\n" if last[0] else "") + m, flush=True))
    except AdaptError as exc:
        print(f"adapt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted; rerun the same command to resume\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
