"""Train the model set (ROI detector, hip / knee / ankle landmark models, diaphysis U-Net, refinement) on a store.

Usage::

    python -m training.train --data STORE --out MODELDIR [--preset paper|lite] [--parts hip,knee] ...
    torchrun --nproc_per_node 2 -m training.train --data STORE --out MODELDIR      # DDP (gloo on CPU)

``MODELDIR`` becomes a model bundle (``bundle.json`` + ``*.safetensors``, loadable by
``InferenceEngine.from_bundle(MODELDIR)``) once every part has finished at least one epoch; training
state lives in ``MODELDIR/checkpoints/`` and a rerun of the same command resumes from the last finished
epoch of each part. Per-epoch losses go to ``MODELDIR/log.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from llm_viewer.pipeline.bundle import save_bundle
from llm_viewer.pipeline.models import build_detector, build_landmark_model
from llm_viewer.pipeline.refine import build_refine_model, save_refiners

from . import checkpoint, datasets
from .data import DataError, build_cache, load_npz, read_store, store_fingerprint
from .distributed import DistInfo, barrier, cleanup, init_distributed
from .engine import evaluate, train_one_epoch
from .finetune import freeze_early_layers
from .presets import PARTS, StageConfig, TrainPreset, finetune_defaults, get_preset
from .report import strict_json


class TrainingCancelled(Exception):
    """Raised by a progress hook to stop training; the last finished epoch of each part is kept (resumable)."""


@dataclasses.dataclass
class TrainHooks:
    """Callbacks of :func:`main` for progress reports (``training.adapt``, the viewer's worker).

    ``on_part(part, first_epoch, epochs, batches_per_epoch)`` before a part trains, ``on_step(part, epoch,
    step, n_steps)`` after every batch (raise :class:`TrainingCancelled` in it to stop) and
    ``on_epoch(record)`` with every ``log.jsonl`` record.
    """

    on_part: object = None
    on_step: object = None
    on_epoch: object = None


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train the llm-viewer model set on a training store", add_help=add_help)
    p.add_argument("--data", required=True, help="training store (llm-viewer synth / viewer exports)")
    p.add_argument("--out", required=True, help="model folder: the bundle, checkpoints/ and log.jsonl")
    p.add_argument("--preset", default="lite", choices=("paper", "lite"), help="hyper-parameters (default lite)")
    p.add_argument("--parts", default="all", help=f"comma list of {', '.join(PARTS)} (default all)")
    p.add_argument("--method", default="sgr", choices=("sgr", "segmentation", "regression"),
                   help="landmark method of hip/knee/ankle (ablation; default the paper's sgr)")
    p.add_argument("--no-refine", action="store_true", help="no refinement stage (the paper's pipeline as published)")
    p.add_argument("--epochs", type=int, default=None,
                   help="override the epochs of every part (default: the preset's; with --init-from the "
                        "fine-tuning default, presets.FineTuneConfig.epochs)")
    p.add_argument("--max-steps", type=int, default=None, help="at most this many batches per epoch (smoke tests)")
    p.add_argument("--batch-size", type=int, default=None, help="override the batch size of every part")
    p.add_argument("--lr", type=float, default=None,
                   help="override the learning rate of every part (default: the preset's; with --init-from the "
                        "fine-tuning rate presets.FineTuneConfig.lr = 1e-4, never the from-scratch rate)")
    p.add_argument("--patience", type=int, default=None,
                   help="stop a part when its validation score has not improved for this many epochs "
                        "(default 0 = never; with --init-from presets.FineTuneConfig.patience)")
    p.add_argument("--freeze-fraction", type=float, default=0.0,
                   help="share of the early encoder / detector-backbone blocks kept fixed (weights and "
                        "batch-norm statistics; default 0; training.adapt uses 0.5)")
    p.add_argument("--train-splits", default="train", help="store splits to train on (default train)")
    p.add_argument("--val-split", default="val", help="store split for validation / best-epoch choice")
    p.add_argument("--limit-cases", type=int, default=None, help="use only the first N cases (quick runs)")
    p.add_argument("--backbone-weights", default=None,
                   help="torchvision vgg11_bn/vgg16_bn state dict (.pth or .safetensors) to initialise encoders")
    p.add_argument("--init-from", default=None,
                   help="bundle to fine-tune: its architecture and weights are the starting point, and parts "
                        "without training data (e.g. the diaphysis when the store has no masks) keep its weights")
    p.add_argument("--refine-from-preset", action="store_true",
                   help="with --init-from: the refinement parts named in --parts take the preset's patch size and "
                        "scale (their weights still start from the bundle's); without it they keep the bundle's")
    p.add_argument("--cache-dir", default=None, help="where the preprocessed cache goes (default MODELDIR/cache)")
    p.add_argument("--workers", type=int, default=1, help="processes that build the cache")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--fov-anatomical", type=float, default=None,
                   help="detector: share of field-of-view bands cut at the regions (AugmentConfig.fov_anatomical)")
    p.add_argument("--fov-zoom-out", type=float, default=None,
                   help="detector: share of field-of-view bands shrunk below the canvas (AugmentConfig.fov_zoom_out)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--restart", action="store_true", help="ignore existing checkpoints of the trained parts")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--keep", default="best", choices=("best", "last"),
                   help="weights that go into the bundle: the best validation score (default; without a "
                        "validation split the lowest training loss) or the last epoch's")
    p.add_argument("--notes", default=None, help="the bundle's notes (default: how it was trained)")
    return p


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def lr_at(stage: StageConfig, epoch: int, base_lr: float) -> float:
    """Learning rate of an epoch: constant, step (×gamma every lr_step_epochs) or cosine to lr/50."""
    if stage.cosine and stage.epochs > 1:
        return base_lr / 50 + (base_lr - base_lr / 50) * 0.5 * (1 + math.cos(math.pi * epoch / (stage.epochs - 1)))
    if stage.lr_step_epochs:
        return base_lr * stage.lr_gamma ** (epoch // stage.lr_step_epochs)
    return base_lr


class WeightsError(ValueError):
    """A weights file or bundle given on the command line cannot be loaded safely; one line says why."""


def _first_line(exc: BaseException) -> str:
    import pickle
    import re

    if isinstance(exc, pickle.UnpicklingError):
        return ("it is a pickle holding more than tensors, refused because loading it could run code; "
                "save the weights with safetensors instead")
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def load_backbone(model: torch.nn.Module, path: str) -> int:
    """Copy a torchvision VGG-BN ``features`` state dict into every encoder of ``model``; returns tensors copied.

    A grey (1-channel) first convolution receives the sum of the RGB filters; layers whose shapes differ
    (the SGR regressor's first convolution over image + maps) keep their initialisation.
    """
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            raw = load_file(path)
        else:  # weights_only: a pickle with code in it is refused, never run
            raw = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(raw, dict) and "state_dict" in raw:
                raw = raw["state_dict"]
    except Exception as exc:  # noqa: BLE001 - pickles, truncated or foreign files: one line, no traceback
        raise WeightsError(f"--backbone-weights {path}: cannot be loaded: {_first_line(exc)}") from None
    if not isinstance(raw, dict):
        raise WeightsError(f"--backbone-weights {path}: expected a state dict, got {type(raw).__name__}")
    feats = {k[len("features."):]: v for k, v in raw.items() if isinstance(k, str) and k.startswith("features.")}
    if not feats:
        raise WeightsError(f"{path}: no 'features.*' tensors; expected a torchvision vgg11_bn/vgg16_bn state dict")
    copied = 0
    for mod in model.modules():
        enc = getattr(mod, "encoder", None)
        if enc is None or not hasattr(enc, "features"):
            continue
        own = enc.features.state_dict()
        new = {}
        for k, v in feats.items():
            if k not in own:
                continue
            if own[k].shape == v.shape:
                new[k] = v
            elif k == "0.weight" and own[k].shape[1] == 1 and v.shape[1] == 3 and own[k].shape[0] == v.shape[0]:
                new[k] = v.sum(dim=1, keepdim=True)
        enc.features.load_state_dict(new, strict=False)
        copied += len(new)
    return copied


def build_part(preset: TrainPreset, part: str) -> tuple[str, torch.nn.Module]:
    """``(kind, untrained module)`` of a part."""
    if part == "detector":
        model = build_detector(preset.bundle.detector)
        model.roi_heads.fg_bg_sampler.batch_size_per_image = preset.detector_batch_size_per_image
        model.rpn._post_nms_top_n["training"] = preset.detector_rpn_post_nms_train
        model.rpn._pre_nms_top_n["training"] = max(preset.detector_rpn_post_nms_train,
                                                   model.rpn._pre_nms_top_n["testing"])
        return "detector", model
    if part.startswith("refine_"):
        return "refine", build_refine_model(preset.refine[part[len("refine_"):]])
    cfg = preset.bundle.regions[part]
    return ("mask" if part == "diaphysis" else "landmark"), build_landmark_model(cfg)


def make_datasets(preset: TrainPreset, part: str, cache: Path, train_splits: set[str], val_split: str, seed: int):
    if part == "detector":
        a = load_npz(cache / "detector.npz")
        make = lambda idx, train: datasets.DetectorDataset(a, idx, preset.augment, train=train, seed=seed)  # noqa: E731
    elif part.startswith("refine_"):
        region = part[len("refine_"):]
        a = load_npz(cache / f"refine_{region}.npz")
        make = lambda idx, train: datasets.RefineDataset(a, idx, preset.refine[region], preset.augment,  # noqa: E731
                                                         train=train, seed=seed,
                                                         offset_sd=preset.refine_offset_sd,
                                                         offset_max=preset.refine_offset_max)
    else:
        a = load_npz(cache / f"region_{part}.npz")
        cfg = preset.bundle.regions[part]
        make = lambda idx, train: datasets.RegionDataset(a, idx, cfg, preset.augment, train=train,  # noqa: E731
                                                         seed=seed)
    split = a["split"]
    tr = np.flatnonzero(np.isin(split, sorted(train_splits)))
    va = np.flatnonzero(split == val_split)
    if len(tr) == 0:
        raise DataError(f"no training samples for {part} in split(s) {sorted(train_splits)}")
    if preset.samples_per_leg > 1:
        tr = np.repeat(tr, preset.samples_per_leg)
    return make(tr, True), (make(va, False) if len(va) else None)


def _collate(part: str):
    if part == "detector":
        return datasets.detection_collate
    if part.startswith("refine_"):
        return datasets.refine_collate
    return None


def epoch_seed(seed: int, part: str, epoch: int) -> int:
    """The seed of every random draw of one epoch of one part (shuffle, dropout, the detector's sampling), so
    that a resumed run repeats an uninterrupted one exactly."""
    return seed + 1000 * PARTS.index(part) + 100_003 * (epoch + 1)


def train_part(args, preset: TrainPreset, part: str, cache: Path, out: Path, info: DistInfo,
               device: torch.device, log, hooks: TrainHooks | None = None) -> None:
    stage = preset.stage(part)
    ft = finetune_defaults() if args.init_from else None
    epochs = args.epochs if args.epochs is not None else (ft.epochs if ft else stage.epochs)
    batch = args.batch_size or stage.batch_size
    base_lr = args.lr or (ft.lr if ft else stage.lr)
    patience = args.patience if args.patience is not None else (ft.patience if ft else 0)
    stage = dataclasses.replace(stage, epochs=epochs)
    seed_everything(args.seed + 1000 * PARTS.index(part))
    kind, model = build_part(preset, part)
    if args.backbone_weights and kind != "detector":
        n = load_backbone(model, args.backbone_weights)
        log(f"{part}: {n} encoder tensors from {args.backbone_weights}")
    model.to(device)
    train_ds, val_ds = make_datasets(preset, part, cache, set(args.train_splits.split(",")), args.val_split, args.seed)
    sampler = DistributedSampler(train_ds, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                 seed=args.seed) if info.enabled else None
    gen = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_ds, batch_size=batch, shuffle=sampler is None, sampler=sampler, drop_last=len(train_ds) > batch,
                        collate_fn=_collate(part), generator=gen)
    val_loader = None
    if val_ds is not None:
        val_sampler = DistributedSampler(val_ds, num_replicas=info.world_size, rank=info.rank, shuffle=False) \
            if info.enabled else None
        val_loader = DataLoader(val_ds, batch_size=batch, shuffle=False, sampler=val_sampler,
                                collate_fn=_collate(part))
    net = model
    if info.enabled:
        net = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.Adam(net.parameters(), lr=base_lr)
    folder = out / "checkpoints" / part
    start, best, best_epoch = 0, float("inf"), -1
    meta = None if args.restart else checkpoint.load_checkpoint(folder, model, optimizer)
    if meta is None and args.init_from:
        init = init_weights(args.init_from, part)
        if init is not None:
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in init.items()})
            log(f"{part}: starting from the weights of {args.init_from}")
    if meta is not None:
        start, best, best_epoch = meta["epoch"] + 1, meta["best_score"], meta["best_epoch"]
        log(f"{part}: resuming after epoch {meta['epoch']} (best {best:.4f} at epoch {best_epoch})")
    freeze = getattr(args, "freeze_fraction", 0.0) or 0.0
    if freeze > 0:
        rep = freeze_early_layers(model, freeze)
        log(f"{part}: {rep.blocks_frozen} of {rep.blocks_total} early blocks frozen "
            f"({rep.params_frozen} of {rep.params_total} parameters)")
    if patience and start > 0 and start - 1 - best_epoch >= patience:
        log(f"{part}: stopped early after epoch {start - 1} (no improvement for {patience} epochs)")
        return
    if hooks is not None and hooks.on_part is not None and info.is_main:
        n_batches = len(loader) if args.max_steps is None else min(len(loader), args.max_steps)
        hooks.on_part(part, start, epochs, n_batches)
    for epoch in range(start, epochs):
        t0 = time.monotonic()
        seed_everything(epoch_seed(args.seed, part, epoch))  # dropout, RPN / RoI sampling, augmentation draws
        gen.manual_seed(epoch_seed(args.seed, part, epoch))  # the shuffle
        on_step = None
        if hooks is not None and hooks.on_step is not None and info.is_main:
            on_step = (lambda e: lambda step, n, _loss: hooks.on_step(part, e, step, n))(epoch)
        lr = lr_at(stage, epoch, base_lr)
        for g in optimizer.param_groups:
            g["lr"] = lr
        if sampler is not None:
            sampler.set_epoch(epoch)
        train_ds.set_epoch(epoch)
        stats = train_one_epoch(kind, net, optimizer, loader, device, alpha=preset.alpha, max_steps=args.max_steps,
                                info=info, label=f"{part} {epoch + 1}/{epochs}", progress=not args.no_progress,
                                on_step=on_step)
        vstats = evaluate(kind, net, val_loader, device, alpha=preset.alpha, max_steps=args.max_steps, info=info) \
            if val_loader is not None else {}
        score = vstats.get("val_err_px", vstats.get("val_loss", stats["train_loss"]))
        is_best = score < best or best_epoch < 0 or getattr(args, "keep", "best") == "last"
        if is_best:
            best, best_epoch = score, epoch
        record = {"part": part, "epoch": epoch, "lr": lr, **stats, **vstats, "best_epoch": best_epoch,
                  "time_s": round(time.monotonic() - t0, 2)}
        if info.is_main:
            checkpoint.save_checkpoint(folder, model.state_dict(), optimizer,
                                       {"epoch": epoch, "best_score": best, "best_epoch": best_epoch, "part": part},
                                       best=is_best)
            with open(out / "log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(strict_json(record), allow_nan=False) + "\n")  # NaN -> null
            log(json.dumps(record))
            if hooks is not None and hooks.on_epoch is not None:
                hooks.on_epoch(record)
        barrier(info)
        if patience and epoch - best_epoch >= patience and epoch + 1 < epochs:
            log(f"{part}: stopped early after epoch {epoch} (no improvement for {patience} epochs; "
                f"best epoch {best_epoch})")
            break


def init_weights(bundle_dir: str, part: str) -> dict[str, torch.Tensor] | None:
    """A part's weights in an existing bundle (``None`` when it has no such model).

    Raises
    ------
    WeightsError
        The bundle or its file cannot be loaded (not a bundle, changed or pickled file, ...).
    """
    try:
        return _init_weights(bundle_dir, part)
    except Exception as exc:  # noqa: BLE001 - BundleError, SafetensorError, OSError, bad JSON: one line
        raise WeightsError(f"--init-from {bundle_dir}: {part}: {_first_line(exc)}") from None


def _init_weights(bundle_dir: str, part: str) -> dict[str, torch.Tensor] | None:
    from safetensors.torch import load_file

    from llm_viewer.pipeline.bundle import load_bundle

    if part.startswith("refine_"):
        doc_path = Path(bundle_dir) / "refine.json"
        if not doc_path.is_file():
            return None
        entry = json.loads(doc_path.read_text(encoding="utf-8"))["regions"].get(part[len("refine_"):])
        return load_file(str(Path(bundle_dir) / entry["file"])) if entry else None
    state = load_bundle(bundle_dir).state_dict(part)
    if part == "detector" and state is not None:
        from .export import rebalance_detector_head

        state = rebalance_detector_head(state)  # a compact (exported) bundle's fc6/fc7 scaling
    return state


def preset_from_bundle(preset: TrainPreset, bundle_dir: str, *, keep_preset_refine: tuple[str, ...] = ()
                       ) -> TrainPreset:
    """The preset with the architecture (detector, regions, refinement) of an existing bundle.

    Refinement regions named in ``keep_preset_refine`` keep the preset's config (a change of patch size or
    scale; the U-Net's weights do not depend on either).
    """
    from llm_viewer.pipeline.bundle import load_bundle
    from llm_viewer.pipeline.refine import REFINE_JSON, RefineConfig

    cfg = load_bundle(bundle_dir).config
    refine = {}
    doc_path = Path(bundle_dir) / REFINE_JSON
    if doc_path.is_file():
        for r, e in json.loads(doc_path.read_text(encoding="utf-8"))["regions"].items():
            refine[r] = RefineConfig.from_dict({k: v for k, v in e.items() if k not in ("file", "sha256")})
    for r in keep_preset_refine:
        if r in preset.refine:
            refine[r] = preset.refine[r]
    return dataclasses.replace(preset, bundle=dataclasses.replace(preset.bundle, detector=cfg.detector,
                                                                  regions=cfg.regions, intensity=cfg.intensity),
                               refine=refine)


def recentre_offsets(cache: Path) -> dict[str, tuple[float, float]]:
    """Median position of each landmark region's centroid relative to its annotated box centre, in units of
    the box's larger side (right-leg frame), from the training cache (see ``Refiner.recentre``)."""
    out = {}
    for region in ("hip", "knee", "ankle"):
        path = cache / f"region_{region}.npz"
        if not path.is_file():
            continue
        a = load_npz(path)
        b = a["boxes"].astype(np.float64)
        side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
        c = a["points"].astype(np.float64).mean(axis=1)
        dx = (c[:, 0] - 0.5 * (b[:, 0] + b[:, 2])) / side
        dy = (c[:, 1] - 0.5 * (b[:, 1] + b[:, 3])) / side
        out[region] = (float(np.median(dx)), float(np.median(dy)))
    return out


def write_bundle(preset: TrainPreset, out: Path, fingerprint: str, log, *, init_from: str | None = None,
                 cache: Path | None = None, notes: str | None = None) -> bool:
    """Assemble ``bundle.json`` + weights from the best checkpoints; ``False`` if a part is still missing."""
    states, missing = {}, []
    for part in preset.parts():
        st = checkpoint.load_best(out / "checkpoints" / part)
        if st is None and init_from:
            st = init_weights(init_from, part)
        if st is None:
            missing.append(part)
        else:  # a fixed key order keeps the bundle's bytes reproducible
            st = {k: st[k] for k in sorted(st)}
        states[part] = st
    if missing:
        log(f"bundle not written yet: no finished epoch for {', '.join(missing)}")
        return False
    import hashlib

    sources = {p: hashlib.sha256((out / "checkpoints" / p / "best.safetensors").read_bytes()).hexdigest()
               if (out / "checkpoints" / p / "best.safetensors").is_file() else f"init:{init_from}"
               for p in preset.parts()}
    sources["config"] = hashlib.sha256(json.dumps(preset.to_dict(), sort_keys=True).encode()).hexdigest()
    src_path = out / "checkpoints" / "bundle_sources.json"
    if (out / "bundle.json").is_file() and src_path.is_file() and json.loads(src_path.read_text()) == sources:
        log(f"bundle in {out} is up to date")
        return True
    bundle = preset.bundle
    if (out / "checkpoints" / "detector" / "best.safetensors").is_file():
        # a detector trained here saw one-leg exports inside their padding bars (data.cache_spec
        # det_content_crop): inference reads the content first
        bundle = dataclasses.replace(bundle, detector=dataclasses.replace(bundle.detector, content_crop="first"))
    cfg = dataclasses.replace(bundle, training_data_fingerprint=fingerprint,
                              created_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                              notes=notes or f"trained with training.train --preset {preset.name}")
    save_bundle(out, cfg, {p: states[p] for p in ("detector", "hip", "diaphysis", "knee", "ankle")})
    if preset.refine:
        save_refiners(out, {r: (c, states[f"refine_{r}"]) for r, c in preset.refine.items()},
                      recentre=recentre_offsets(cache) if cache is not None else None)
    elif (out / "refine.json").exists():
        (out / "refine.json").unlink()  # a bundle without refinement must not pick up a stale stage
    src_path.write_text(json.dumps(sources, indent=1) + "\n", encoding="utf-8")
    log(f"bundle written to {out}")
    return True


def main(args: argparse.Namespace, hooks: TrainHooks | None = None) -> int:
    """Train (or resume) the parts ``args`` names and write the bundle; see the module docstring.

    Raises
    ------
    TrainingCancelled
        A hook stopped the run (every finished epoch is kept; the same arguments resume).
    KeyboardInterrupt
        Ctrl+C (the command line prints one line instead of a traceback).
    """
    info = init_distributed(args.device)
    device = torch.device(f"cuda:{info.local_rank}" if args.device == "cuda" and info.enabled else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = get_preset(args.preset, landmark_method=args.method)
    if args.init_from:
        named = ([f"refine_{r}" for r in preset.refine] if args.parts == "all"
                 else [p.strip() for p in args.parts.split(",")]) if args.refine_from_preset else []
        try:
            preset = preset_from_bundle(preset, args.init_from,
                                        keep_preset_refine=tuple(p[len("refine_"):] for p in named
                                                                 if p.startswith("refine_")))
        except Exception as exc:  # noqa: BLE001 - not a bundle, pickled or changed files: one line
            raise SystemExit(f"error: --init-from {args.init_from}: {_first_line(exc)}") from None
    if args.no_refine:
        preset = dataclasses.replace(preset, refine={})
    for name in ("fov_anatomical", "fov_zoom_out"):
        value = getattr(args, name, None)
        if value is not None:
            if not 0.0 <= value <= 1.0:
                raise SystemExit(f"error: --{name.replace('_', '-')} {value} is outside [0, 1]")
            preset = dataclasses.replace(preset, augment=dataclasses.replace(preset.augment, **{name: value}))
    parts = preset.parts() if args.parts == "all" else tuple(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = [p for p in parts if p not in preset.parts()]
    if unknown:
        raise SystemExit(f"error: unknown part(s) {unknown}; this preset has {list(preset.parts())}")
    if not 0.0 <= (args.freeze_fraction or 0.0) <= 1.0:
        raise SystemExit(f"error: --freeze-fraction {args.freeze_fraction} is outside [0, 1]")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        if info.is_main:
            print(msg, flush=True)

    try:
        cases = read_store(args.data)
    except DataError as exc:
        raise SystemExit(f"error: {exc}") from None
    if args.limit_cases:
        cases = cases[: args.limit_cases]
    cache_root = Path(args.cache_dir) if args.cache_dir else out / "cache"
    if info.is_main:
        cache = build_cache(cases, preset, cache_root, workers=args.workers, log=log)
    barrier(info)
    cache = build_cache(cases, preset, cache_root, workers=1, log=log) if not info.is_main else cache
    if info.is_main:
        (out / "train_config.json").write_text(json.dumps({"preset": preset.to_dict(), "args": vars(args)},
                                                          indent=1, default=str) + "\n", encoding="utf-8")
    for part in parts:
        try:
            train_part(args, preset, part, cache, out, info, device, log, hooks)
        except WeightsError as exc:
            raise SystemExit(f"error: {exc}") from None
        except (DataError, FileNotFoundError) as exc:
            if not args.init_from:
                raise SystemExit(f"error: {part}: {exc}") from None
            log(f"{part}: no training data ({exc}); keeping the weights of {args.init_from}")
    if info.is_main:
        try:
            write_bundle(preset, out, store_fingerprint(cases), log, init_from=args.init_from, cache=cache,
                         notes=getattr(args, "notes", None))
        except WeightsError as exc:
            raise SystemExit(f"error: {exc}") from None
    barrier(info)
    cleanup(info)
    return 0


def cli(argv: list[str] | None = None) -> int:
    """The command line: :func:`main`, with Ctrl+C reported in one line (the run resumes when rerun)."""
    args = get_args_parser().parse_args(argv)
    try:
        return main(args)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted; rerun the same command to resume\n")
        return 130


if __name__ == "__main__":
    sys.exit(cli())
