"""``llm-viewer synth``: generate synthetic full-leg radiographs with exact landmarks into a store."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

SIZES = {"full": 8100, "half": 4050, "quarter": 2025, "small": 1024}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "synth", help="generate synthetic long-leg radiographs with exact ground truth into a training store",
        description="Generate synthetic standing long-leg radiographs (DICOM DX) with exact landmarks, "
                    "diaphysis masks and ROI boxes into a training-set store (see docs/STORE.md). "
                    "Deterministic: the same seed and options give the same bytes.")
    p.add_argument("--count", type=int, required=True, help="number of studies to generate")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument("--out", required=True, help="store folder (created if missing; appended to if a store)")
    p.add_argument("--start", type=int, default=0, help="index of the first case (default 0)")
    p.add_argument("--size", choices=sorted(SIZES), default="full",
                   help="image height: full 8100 px, half 4050, quarter 2025, small 1024 (same field of view)")
    p.add_argument("--height-px", type=int, default=None, help="explicit image height in pixels (overrides --size)")
    p.add_argument("--spacing-mm", type=float, default=None,
                   help="pixel spacing in mm (default: keeps the full-size 392 x 1134 mm field of view)")
    p.add_argument("--monochrome", choices=("1", "2", "random"), default="random",
                   help="photometric interpretation MONOCHROME1, MONOCHROME2 or random (default)")
    p.add_argument("--implants-rate", type=float, default=0.12, help="probability of implants per leg")
    p.add_argument("--one-leg-rate", type=float, default=0.05, help="probability of a single-leg study")
    p.add_argument("--calibration", choices=("ruler", "ball", "none", "random"), default="random",
                   help="calibration object in the image")
    p.add_argument("--exports", type=int, default=0,
                   help="also write this many clinical exports of each study (8-bit PNG/JPEG, 250-3000 px, "
                        "single-leg crops with black bars; ids <id>-x<k>; see docs/SYNTHETIC.md)")
    p.add_argument("--exports-only", action="store_true", help="write only the clinical exports, not the DICOM")
    p.add_argument("--single-leg-rate", type=float, default=0.45,
                   help="share of the clinical exports that are single-leg crops (default 0.45)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.start, self.done = total, enabled, time.monotonic(), 0

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        el = time.monotonic() - self.start
        rate = self.done / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        n = 30
        fill = int(n * self.done / max(1, self.total))
        sys.stderr.write(f"\rsynth [{'#' * fill}{'.' * (n - fill)}] {self.done}/{self.total} "
                         f"{rate:.2f} img/s ETA {eta:5.0f} s")
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _work(job: tuple[int, int, Any, int, float]) -> tuple[Any, bytes, dict[str, bytes], list[tuple[dict, bytes, str]]]:
    seed, index, config, n_exports, single_leg_rate = job
    import cv2

    cv2.setNumThreads(1)
    from llm_viewer.synth.dicom import dicom_bytes
    from llm_viewer.synth.generator import generate_case
    from llm_viewer.synth.writer import build_export_document, clinical_exports, encode_mask

    case = generate_case(seed, config, index=index)
    exports = [(build_export_document(case, ex, k), ex.encoded, ex.suffix)
               for k, ex in enumerate(clinical_exports(case, n_exports, single_leg_rate=single_leg_rate))]
    data = dicom_bytes(case)
    masks = {side: encode_mask(m) for side, m in case.masks.items()}
    case.masks = {side: m[:1, :1] for side, m in case.masks.items()}  # sent back as PNG bytes
    case.pixels = case.pixels[:1, :1]
    return case, data, masks, exports


def run(args: argparse.Namespace) -> int:
    from llm_viewer.cli import CommandError

    if args.count < 1:
        raise CommandError("--count must be at least 1")
    if args.seed < 0 or args.start < 0:
        raise CommandError("--seed and --start must be non-negative")
    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    if args.exports < 0:
        raise CommandError("--exports must be non-negative")
    if args.exports_only and args.exports < 1:
        raise CommandError("--exports-only needs --exports N (N >= 1)")
    if not 0.0 <= args.single_leg_rate <= 1.0:
        raise CommandError("--single-leg-rate must be between 0 and 1")
    from llm_viewer.core.store import Store, StoreError
    from llm_viewer.synth.params import SynthConfig, SynthConfigError
    from llm_viewer.synth.writer import build_case_document, fixed_timestamp

    mono = {"1": "MONOCHROME1", "2": "MONOCHROME2", "random": "random"}[args.monochrome]
    height = args.height_px if args.height_px is not None else SIZES[args.size]
    try:
        config = SynthConfig.with_height(height, spacing_mm=args.spacing_mm, monochrome=mono,
                                         implants_rate=args.implants_rate, one_leg_rate=args.one_leg_rate,
                                         calibration=args.calibration)
    except SynthConfigError as exc:
        raise CommandError(str(exc)) from None
    try:
        store = Store.create(args.out, exist_ok=True)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    from llm_viewer.core.store import StoreBusyError

    try:  # one writer per store: a second run refuses at once instead of appending the same ids
        with store.writing(timeout_s=0):
            return _generate(args, store, config, build_case_document, fixed_timestamp)
    except StoreBusyError as exc:
        raise CommandError(str(exc)) from None
    except StoreError as exc:
        raise CommandError(str(exc)) from None


def _generate(args: argparse.Namespace, store: Any, config: Any, build_case_document: Any,
              fixed_timestamp: Any) -> int:
    from llm_viewer.core.store import split_for_id
    from llm_viewer.synth.generator import case_id_for
    from llm_viewer.synth.writer import export_id

    existing = {e.id for e in store.entries(check="none")}

    def done(i: int) -> bool:
        cid = case_id_for(args.seed, i)
        if args.exports_only:
            return all(export_id(cid, k) in existing for k in range(args.exports))
        return cid in existing and all(export_id(cid, k) in existing for k in range(args.exports))

    indices = [i for i in range(args.start, args.start + args.count) if not done(i)]
    skipped = args.count - len(indices)
    progress = Progress(len(indices), enabled=not args.no_progress)
    jobs = [(args.seed, i, config, args.exports, args.single_leg_rate) for i in indices]
    if args.workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(min(args.workers, len(jobs), os.cpu_count() or 1))
        results = pool.imap(_work, jobs)
    else:
        pool = None
        results = map(_work, jobs)
    try:
        for case, data, masks, exports in results:
            # exports first: the original's id marks the study as done when a run is repeated
            for k, (xdoc, xbytes, suffix) in enumerate(exports):
                xid = export_id(case.case_id, k)
                if xid not in existing:
                    store.add_case(xid, xdoc, image_bytes=xbytes, image_suffix=suffix, source="synthetic",
                                   created=fixed_timestamp(case), extra={"seed": case.seed, "index": case.index,
                                                                         "export_of": case.case_id},
                                   split=split_for_id(case.case_id, store.fractions))
            if not args.exports_only and case.case_id not in existing:
                doc = build_case_document(case)
                store.add_case(case.case_id, doc, image_bytes=data, image_suffix=".dcm",
                               masks={f"diaphysis_{s}": m for s, m in masks.items()}, source="synthetic",
                               created=fixed_timestamp(case), width_px=config.width_px,
                               height_px=config.height_px, extra={"seed": case.seed, "index": case.index})
            progress.step()
    finally:
        if pool is not None:
            pool.terminate()
    msg = f"wrote {len(indices)} case(s) to {store.root}"
    if skipped:
        msg += f" ({skipped} already present, skipped)"
    print(msg)
    return 0
