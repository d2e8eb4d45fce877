"""Reading a training store and caching what every epoch needs (so epochs never decode DICOMs again).

Every array is built with the pipeline's own functions (``normalize_intensity``, ``letterbox``,
``crop_affine`` with the left-leg mirror, ``warp_crop``), so training sees what inference feeds the models:

* ``detector.npz``: each image letterboxed into the detector canvas (uint8) and its ROI boxes in
  torchvision's convention (pixel-centre edges mapped by the letterbox matrix, ``+ 0.5``);
* ``region_<r>.npz``: per leg, a *context crop* around the ROI box: the square of side
  ``max(w, h) · (1 + 2·0.45)`` (more than the model's margin, so box jitter and rotation stay inside),
  mirrored for left legs, at a resolution 1.25× finer than the model crop; with the landmarks, the ROI box
  (both in context-crop pixels) and, for the diaphysis, the mask warped the same way;
* ``refine_<r>.npz``: per landmark, a patch twice the refinement patch side centred on the landmark at
  twice the refinement input size (with its case id, side and original pixels per cache pixel).

A training crop is then ``warp_crop(context, crop_affine(jittered box in context pixels) ∘ augmentation)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llm_viewer.core.landmarks import REGION_LANDMARKS, REGIONS
from llm_viewer.pipeline.crop import (
    Box,
    apply_affine,
    apply_affine_box,
    crop_affine,
    detection_crop,
    letterbox_content,
    normalize_intensity,
    warp_crop,
)
from llm_viewer.pipeline.refine import patch_affine

from .presets import TrainPreset

CONTEXT_MARGIN = 0.45
CONTEXT_OVERSAMPLE = 1.25
CACHE_VERSION = 1


class DataError(ValueError):
    """The store cannot be used for training; the message names the case and the problem."""


@dataclass
class CaseRecord:
    """One study of the store: image path, spacing, ground-truth landmarks, ROI boxes and mask paths."""

    case_id: str
    split: str
    image_path: Path
    spacing_mm: tuple[float, float] | None
    landmarks: dict[str, dict[str, tuple[float, float]]]
    rois: dict[tuple[str, str], Box]
    mask_paths: dict[str, Path]
    content_sha256: str = ""
    """The store manifest's hashes of the image and case file (what the fingerprint identifies)."""


def read_store(path: str | os.PathLike[str], splits: tuple[str, ...] | None = None) -> list[CaseRecord]:
    """All complete cases of a store (``splits``: only these), in manifest order.

    Raises
    ------
    DataError
        The folder is not a store, or it holds no usable case.
    """
    from llm_viewer.core.store import Store, StoreError

    try:
        store = Store.open(path)
    except StoreError as exc:
        raise DataError(str(exc)) from None
    out: list[CaseRecord] = []
    for e in store.entries():
        if splits is not None and e.split not in splits:
            continue
        try:  # one corrupt case file skips that case (named on stderr), never the whole run
            case = store.load_case(e)
            lms: dict[str, dict[str, tuple[float, float]]] = {}
            for side in case.sides:
                pts = case.landmarks(side)
                if len(pts) == 9:
                    lms[side] = {k: (float(p.x), float(p.y)) for k, p in pts.items()}
            rois = {}
            for r in case.rois:
                x0, y0, x1, y1 = (float(v) for v in r["box_px"])
                if x1 > x0 and y1 > y0:
                    rois[(r["side"], r["region"])] = Box(x0, y0, x1, y1)
            _derive_missing_rois(rois, lms, case)
        except (ValueError, KeyError, TypeError) as exc:
            print(f"warning: store {path}: skipped case {e.id}: {exc}", file=sys.stderr)
            continue
        masks = {name.split("_", 1)[1]: store.mask_path(e, name) for name in e.masks if name.startswith("diaphysis_")}
        if not lms:
            continue
        out.append(CaseRecord(e.id, e.split, store.image_path(e), case.pixel_spacing_mm, lms, rois, masks,
                              content_sha256=f"{e.image_sha256}:{e.case_sha256}"))
    if not out:
        raise DataError(f"store {path}: no case with nine landmarks on a leg" +
                        (f" in split(s) {', '.join(splits)}" if splits else ""))
    return out


def store_fingerprint(cases: list[CaseRecord]) -> str:
    """SHA-256 over ids, splits, image names and content hashes: the training data in ``bundle.json``.

    Content counts: two stores made with the same seed by different generator versions (same ids and
    names, different pixels and labels) get different fingerprints.
    """
    h = hashlib.sha256()
    for c in cases:
        h.update(f"{c.case_id}|{c.split}|{c.image_path.name}|{c.content_sha256}\n".encode())
    return h.hexdigest()


def context_size_px(input_size_px: int, margin: float) -> int:
    """Side of the cached context crop for a model crop of ``input_size_px`` with ``margin``."""
    size = input_size_px * (1 + 2 * CONTEXT_MARGIN) / (1 + 2 * margin) * CONTEXT_OVERSAMPLE
    return int(math.ceil(size / 8.0) * 8)


def _load_pixels(path: Path) -> np.ndarray:
    from llm_viewer.core.imageio import load_image

    return load_image(path).pixels


def _load_mask(path: Path) -> np.ndarray:
    import cv2

    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise DataError(f"mask {path} is unreadable")
    return (m > 127).astype(np.float32)


def _process_case(args: tuple[CaseRecord, dict[str, Any]]) -> dict[str, Any]:
    """Everything the cache holds for one case (runs in a worker process)."""
    import cv2

    cv2.setNumThreads(1)
    case, spec = args
    from llm_viewer.pipeline.config import IntensityConfig

    norm = normalize_intensity(_load_pixels(case.image_path), IntensityConfig(**spec["intensity"]))
    out: dict[str, Any] = {"case_id": case.case_id, "split": case.split, "regions": {}, "refine": {}}
    # the detector sees what inference shows it: the content inside padding bars (crop.detection_crop)
    content = detection_crop(norm, spec["det_w"], spec["det_h"]) if spec.get("det_content_crop") else None
    lb = letterbox_content(norm, content, spec["det_w"], spec["det_h"])
    extent = ((spec["det_w"], spec["det_h"]) if content is None else
              (int(round((content.x1 - content.x0) * lb.matrix[0, 0])),
               int(round((content.y1 - content.y0) * lb.matrix[1, 1]))))
    boxes, labels = [], []
    for (_side, region), box in case.rois.items():
        b = apply_affine_box(lb.matrix, box)
        x0, y0 = max(b.x0 + 0.5, 0.0), max(b.y0 + 0.5, 0.0)
        x1, y1 = min(b.x1 + 0.5, float(extent[0])), min(b.y1 + 0.5, float(extent[1]))
        if x1 - x0 < 1.0 or y1 - y0 < 1.0:
            continue
        boxes.append([x0, y0, x1, y1])
        labels.append(REGIONS.index(region) + 1)
    out["detector"] = (np.round(lb.pixels * 255).astype(np.uint8), np.array(boxes, np.float32).reshape(-1, 4),
                       np.array(labels, np.int64))
    for region, rs in spec["regions"].items():
        for side, lms in case.landmarks.items():
            box = case.rois.get((side, region))
            if box is None:
                continue
            mirror = side == "left" and rs["mirror_left"]
            c = rs["context_px"]
            m = crop_affine(box, c, margin=CONTEXT_MARGIN, mirror=mirror)
            crop = warp_crop(norm, m, c)
            ids = REGION_LANDMARKS[region]
            pts = apply_affine(m, np.array([lms[k] for k in ids]))
            cbox = apply_affine_box(m, box)
            rec = {"side": side, "image": np.round(crop * 255).astype(np.uint8), "points": pts.astype(np.float32),
                   "box": np.array([cbox.x0, cbox.y0, cbox.x1, cbox.y1], np.float32)}
            if region == "diaphysis":
                if side not in case.mask_paths:
                    continue
                rec["mask"] = np.round(warp_crop(_load_mask(case.mask_paths[side]), m, c) * 255).astype(np.uint8)
            out["regions"].setdefault(region, []).append(rec)
            ref = spec["refine"].get(region)
            if ref is not None:
                side_px = ref["fraction"] * max(box.width, box.height) * (1 + 2 * rs["margin"])
                for li, k in enumerate(ids):
                    pm = patch_affine(np.array(lms[k]), 2 * side_px, 2 * ref["size"], mirror)
                    patch = warp_crop(norm, pm, 2 * ref["size"])
                    out["refine"].setdefault(region, []).append(
                        {"image": np.round(patch * 255).astype(np.uint8), "index": li,
                         "point": apply_affine(pm, np.array(lms[k])).astype(np.float32), "side": side,
                         "px_per_cache_px": float(side_px / ref["size"])})
    return out


def cache_spec(preset: TrainPreset) -> dict[str, Any]:
    """What the cache depends on (its file name is a hash of this)."""
    b = preset.bundle
    regions = {r: {"context_px": context_size_px(c.input_size_px, c.margin), "margin": c.margin,
                   "mirror_left": c.mirror_left} for r, c in b.regions.items()}
    refine = {r: {"size": c.input_size_px, "fraction": c.patch_fraction} for r, c in preset.refine.items()}
    return {"version": CACHE_VERSION, "intensity": {"method": b.intensity.method, "low_pct": b.intensity.low_pct,
                                                   "high_pct": b.intensity.high_pct},
            "det_w": b.detector.input_width_px, "det_h": b.detector.input_height_px, "regions": regions,
            "refine": refine, "det_content_crop": True}


def build_cache(cases: list[CaseRecord], preset: TrainPreset, cache_dir: str | os.PathLike[str], *,
                workers: int = 1, log=print) -> Path:
    """Build (or reuse) the cache of ``cases`` for ``preset``; returns its folder.

    The folder name is a hash of the cases and the preprocessing, so a changed store or preset builds a
    new cache and an interrupted build is simply redone (files appear atomically at the end).
    """
    spec = cache_spec(preset)
    fingerprint = store_fingerprint(cases)
    key = _cache_key(spec, fingerprint)
    folder = Path(cache_dir) / f"cache-{key}"
    done = folder / "done.json"
    if done.is_file():
        return folder
    reuse = _covering_cache(Path(cache_dir), spec, fingerprint)
    if reuse is not None:
        log(f"cache: reusing {reuse} (it holds everything this preset needs)")
        return reuse
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(c, spec) for c in cases]
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            results = []
            for i, r in enumerate(pool.imap(_process_case, jobs)):
                results.append(r)
                _tick(log, i + 1, len(jobs))
    else:
        results = []
        for i, j in enumerate(jobs):
            results.append(_process_case(j))
            _tick(log, i + 1, len(jobs))
    det_imgs = np.stack([r["detector"][0] for r in results])
    nmax = max(1, max(len(r["detector"][2]) for r in results))
    det_boxes = np.zeros((len(results), nmax, 4), np.float32)
    det_labels = np.zeros((len(results), nmax), np.int64)
    for i, r in enumerate(results):
        n = len(r["detector"][2])
        det_boxes[i, :n], det_labels[i, :n] = r["detector"][1], r["detector"][2]
    _save(folder / "detector.npz", images=det_imgs, boxes=det_boxes, labels=det_labels,
          split=np.array([r["split"] for r in results]), case_id=np.array([r["case_id"] for r in results]))
    for region in spec["regions"]:
        recs = [(r, x) for r in results for x in r["regions"].get(region, [])]
        if not recs:
            continue
        arrays = {"images": np.stack([x["image"] for _, x in recs]), "points": np.stack([x["points"] for _, x in recs]),
                  "boxes": np.stack([x["box"] for _, x in recs]), "split": np.array([r["split"] for r, _ in recs]),
                  "case_id": np.array([r["case_id"] for r, _ in recs]), "side": np.array([x["side"] for _, x in recs])}
        if region == "diaphysis":
            arrays["masks"] = np.stack([x["mask"] for _, x in recs])
        _save(folder / f"region_{region}.npz", **arrays)
    for region in spec["refine"]:
        recs = [(r, x) for r in results for x in r["refine"].get(region, [])]
        if recs:
            _save(folder / f"refine_{region}.npz", images=np.stack([x["image"] for _, x in recs]),
                  index=np.array([x["index"] for _, x in recs]), points=np.stack([x["point"] for _, x in recs]),
                  split=np.array([r["split"] for r, _ in recs]),
                  case_id=np.array([r["case_id"] for r, _ in recs]), side=np.array([x["side"] for _, x in recs]),
                  px_per_cache_px=np.array([x["px_per_cache_px"] for _, x in recs], np.float32))
    done.write_text(json.dumps({"spec": spec, "cases": len(cases)}) + "\n", encoding="utf-8")
    return folder


def _cache_key(spec: dict[str, Any], fingerprint: str) -> str:
    return hashlib.sha256((json.dumps(spec, sort_keys=True) + fingerprint).encode()).hexdigest()[:16]


def _covering_cache(root: Path, spec: dict[str, Any], fingerprint: str) -> Path | None:
    """A finished cache of the same cases whose spec equals ``spec`` except that it holds more refinement
    regions (e.g. built before a region's refinement was dropped from the preset)."""
    if not root.is_dir():
        return None
    for folder in sorted(root.glob("cache-*")):
        try:
            other = json.loads((folder / "done.json").read_text(encoding="utf-8"))["spec"]
        except (OSError, ValueError, KeyError):
            continue
        if folder.name != f"cache-{_cache_key(other, fingerprint)}":
            continue  # other cases
        same = all(other.get(k) == spec[k] for k in spec if k != "refine")
        if same and all(other.get("refine", {}).get(r) == v for r, v in spec["refine"].items()):
            return folder
    return None


def _tick(log, i: int, n: int) -> None:
    if i == n or i % max(1, n // 20) == 0:
        log(f"cache: {i}/{n} cases")


def _save(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _derive_missing_rois(rois: dict[tuple[str, str], Box], lms: dict[str, dict[str, tuple[float, float]]],
                         case: Any) -> None:
    """ROI boxes a case does not hold (annotated without a model run), from its nine landmarks, in place
    (:func:`training.import_cases.derive_rois`): a region without a box would teach the detector that it is
    background, and its landmark models would never see it."""
    from .import_cases import derive_rois

    image = case.image
    w = (image.width_px if image is not None else None) or 10 ** 9
    h = (image.height_px if image is not None else None) or 10 ** 9
    for side, pts in lms.items():
        if all((side, r) in rois for r in REGIONS):
            continue
        for r in derive_rois(pts, side, case.pixel_spacing_mm, int(w), int(h)):
            rois.setdefault((side, r["region"]), Box(*(float(v) for v in r["box_px"])))


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Read a cache file (plain arrays; ``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
