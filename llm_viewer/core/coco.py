"""Export a training-set store to COCO keypoints, for CVAT, Label Studio and COCO tools."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import atomic_write_json
from .casefile import CaseFileError

if TYPE_CHECKING:
    from .store import Store

COCO_SKELETON: tuple[tuple[str, str], ...] = (
    ("femoral_head", "knee_center"), ("diaphysis_center", "knee_center"),
    ("femoral_condyle_lateral", "femoral_condyle_medial"), ("tibial_plateau_lateral", "tibial_plateau_medial"),
    ("malleolus_lateral", "malleolus_medial"))


@dataclass(frozen=True)
class CocoSummary:
    """What :func:`export_coco` wrote."""

    path: Path
    images: int
    annotations: int


def export_coco(store: Store, out_json: str | os.PathLike[str], *, split: str | None = None) -> CocoSummary:
    """Export the store's landmarks as COCO keypoints (for CVAT, Label Studio and COCO tools).

    One category per leg, ``right_leg`` (id 1) and ``left_leg`` (id 2), with the nine keypoints in schema
    order and a skeleton of the axes. Each leg with all nine landmarks becomes one annotation:
    ``keypoints`` = 27 numbers ``[x, y, v]`` with ``v = 2`` (labelled, visible), ``bbox`` around the leg's
    landmarks plus a margin. COCO coordinates put the top-left pixel's *corner* at (0, 0), so 0.5 is added
    to the project's pixel-centre coordinates. ``file_name`` is the image path relative to the JSON file.

    Parameters
    ----------
    store : Store
    out_json : path-like
    split : str, optional
        Only export this split.

    Returns
    -------
    CocoSummary
    """
    from .landmarks import LANDMARK_IDS, SIDES

    out = Path(out_json)
    out_dir = out.resolve().parent
    idx = {lm: i + 1 for i, lm in enumerate(LANDMARK_IDS)}
    cats = [{"id": i + 1, "name": f"{side}_leg", "supercategory": "leg", "keypoints": list(LANDMARK_IDS),
             "skeleton": [[idx[a], idx[b]] for a, b in COCO_SKELETON]} for i, side in enumerate(SIDES)]
    images, anns = [], []
    for e in store.entries(split):
        try:
            case = store.load_case(e)
        except CaseFileError:
            continue
        ref = case.image
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": os.path.relpath(store.image_path(e).resolve(), out_dir),
                       "width": ref.width_px if ref else None, "height": ref.height_px if ref else None,
                       "llm_viewer_id": e.id, "split": e.split,
                       "pixel_spacing_mm": list(case.pixel_spacing_mm) if case.pixel_spacing_mm else None})
        for ci, side in enumerate(SIDES):
            lms = case.landmarks(side)
            if len(lms) != len(LANDMARK_IDS):
                continue
            kps: list[float] = []
            for lm in LANDMARK_IDS:
                kps += [lms[lm].x + 0.5, lms[lm].y + 0.5, 2]
            xs, ys = kps[0::3], kps[1::3]
            m = 0.05 * (max(ys) - min(ys))
            x0, y0 = max(0.0, min(xs) - m), max(0.0, min(ys) - m)
            x1, y1 = max(xs) + m, max(ys) + m
            if ref and ref.width_px:
                x1 = min(x1, float(ref.width_px))
            if ref and ref.height_px:
                y1 = min(y1, float(ref.height_px))
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": ci + 1, "keypoints": kps,
                         "num_keypoints": len(LANDMARK_IDS), "bbox": [x0, y0, x1 - x0, y1 - y0],
                         "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
    doc = {"info": {"description": "llm-viewer training-set store export", "version": "1.0",
                    "coordinates": "COCO: pixel corner at (0,0); llm-viewer pixel-centre coordinates + 0.5"},
           "licenses": [], "images": images, "annotations": anns, "categories": cats}
    atomic_write_json(out, doc)
    return CocoSummary(path=out, images=len(images), annotations=len(anns))
