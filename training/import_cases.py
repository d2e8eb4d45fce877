"""Build a training store from your own images: a folder of DICOMs (or PNG/TIFF) and their case files.

Usage::

    python -m training.import_cases --cases FOLDER --out STORE [--masks FOLDER] [--spacing-mm 0.143]

Every ``*.case.json`` under ``--cases`` (the viewer writes one next to each image it saves) is read with
``llm_viewer.core.casefile.load_case``; its image (the path the case file names, relative to the case
file) goes into the store with the case (``source = "import"``, split decided by a hash of the id)
de-identified, by the same path as the viewer's export (``llm_viewer.core.store_export``): DICOM after the
PS3.15 basic profile, other images re-encoded as PNG without metadata. The store id is a keyed hash of the
image's SOP Instance UID (or of its bytes), never the file name; the removal report is in the manifest.
A leg is used for training when all nine landmarks are placed. ROI boxes the case file lacks are derived
from the landmarks (:func:`derive_rois`). Femoral diaphysis masks, needed only to train the diaphysis
U-Net, are read from ``--masks`` as ``<image stem>_diaphysis_<side>.png`` (0/255, image size) when present;
without them, train with ``--init-from`` an existing bundle so that its diaphysis model is kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from llm_viewer.core.casefile import CASE_SUFFIX, CaseFileError, load_case
from llm_viewer.core.landmarks import LANDMARK_IDS

DEFAULT_SPACING_MM = 0.143


def derive_rois(landmarks: dict[str, tuple[float, float]], side: str, spacing_mm: tuple[float, float] | None,
                width_px: int, height_px: int) -> list[dict]:
    """ROI boxes an annotator would draw, from the nine landmarks of a leg (pixel-centre edges).

    The rules follow the synthetic generator's boxes (``llm_viewer.synth.truth.roi_boxes``) with a typical
    femoral head radius of 24 mm: hip ±48 mm around the head centre; knee from 38 mm above the notch to
    32 mm below the plateau, 14 mm beyond the condyles/plateau sideways; ankle from 42 mm above to 26 mm below
    the ankle centre, 16 mm beyond the malleoli; diaphysis from 70 mm below the head centre to 8 mm below
    the diaphysis centre, 25 mm either side of the head–diaphysis line.
    """
    sy, sx = spacing_mm or (DEFAULT_SPACING_MM, DEFAULT_SPACING_MM)
    p = {k: np.array(v, dtype=np.float64) for k, v in landmarks.items()}
    mx, my = 1.0 / sx, 1.0 / sy

    def clip(x0, y0, x1, y1):
        return [float(max(-0.5, x0)), float(max(-0.5, y0)), float(min(width_px - 0.5, x1)),
                float(min(height_px - 0.5, y1))]

    h, d, k = p["femoral_head"], p["diaphysis_center"], p["knee_center"]
    knee = np.array([p[n] for n in ("femoral_condyle_lateral", "femoral_condyle_medial", "tibial_plateau_lateral",
                                    "tibial_plateau_medial", "knee_center")])
    mal = np.array([p["malleolus_lateral"], p["malleolus_medial"]])
    a = mal.mean(axis=0)
    top = h[1] + 70 * my
    xs = [h[0] + (d[0] - h[0]) * t for t in (max(0.0, (top - h[1]) / max(d[1] - h[1], 1e-6)), 1.0)]
    boxes = {
        "hip": clip(h[0] - 48 * mx, h[1] - 48 * my, h[0] + 48 * mx, h[1] + 58 * my),
        "diaphysis": clip(min(xs) - 25 * mx, top, max(xs) + 25 * mx, d[1] + 8 * my),
        "knee": clip(knee[:, 0].min() - 14 * mx, k[1] - 38 * my, knee[:, 0].max() + 14 * mx, knee[:, 1].max() + 32 * my),
        "ankle": clip(mal[:, 0].min() - 16 * mx, a[1] - 42 * my, mal[:, 0].max() + 16 * mx, a[1] + 26 * my),
    }
    return [{"side": side, "region": r, "box_px": b, "score": 1.0} for r, b in boxes.items()]


def import_folder(cases_dir: str | Path, out: str | Path, *, masks_dir: str | Path | None = None,
                  spacing_mm: float | None = None, log=print) -> int:
    """Import every case file under ``cases_dir`` into the store ``out``; returns the number imported."""
    from llm_viewer.core.imageio import ImageLoadError, load_image
    from llm_viewer.core.store import Store, StoreError
    from llm_viewer.core.store_export import ExportError, add_deidentified_case, report_line, store_entry_id

    store = Store.create(out, exist_ok=True)
    existing = {e.id for e in store.entries(check="none")}
    n = 0
    for path in sorted(Path(cases_dir).rglob(f"*{CASE_SUFFIX}")):
        try:
            case = load_case(path)
            image_path = case.resolve_image_path(path)
        except (CaseFileError, ValueError, OSError) as exc:
            log(f"skipped {path}: {exc}")
            continue
        if not image_path.is_file():
            log(f"skipped {path}: its image {image_path} does not exist")
            continue
        legs = {s: case.landmarks(s) for s in case.sides}
        complete = {s: {k: (q.x, q.y) for k, q in lm.items()} for s, lm in legs.items()
                    if all(k in lm for k in LANDMARK_IDS)}
        if not complete:
            log(f"skipped {path}: no leg has all nine landmarks")
            continue
        try:
            case_id = store_entry_id(image_path, "import-")
        except OSError as exc:
            log(f"skipped {path}: {exc}")
            continue
        if case_id in existing:
            continue
        try:
            img = load_image(image_path)
        except ImageLoadError as exc:
            log(f"skipped {path}: {exc}")
            continue
        spacing = case.pixel_spacing_mm or img.pixel_spacing_mm
        if spacing is None and spacing_mm:
            spacing = (spacing_mm, spacing_mm)
            case.set_spacing(spacing, "manual-entry")
        have = {(r.get("side"), r.get("region")) for r in case.rois}
        rois = list(case.rois)
        for side, lm in complete.items():
            rois += [r for r in derive_rois(lm, side, spacing, img.width_px, img.height_px)
                     if (side, r["region"]) not in have]
        case.set_rois(rois)
        masks = {}
        if masks_dir is not None:
            for side in complete:
                mp = Path(masks_dir) / f"{image_path.stem}_diaphysis_{side}.png"
                if mp.is_file():
                    masks[f"diaphysis_{side}"] = mp.read_bytes()
        try:
            result = add_deidentified_case(case, image_path, store, source="import", masks=masks, case_id=case_id,
                                           replace=False)
        except (StoreError, ExportError, ImageLoadError, OSError) as exc:
            log(f"skipped {path}: {exc}")
            continue
        existing.add(case_id)
        log(f"imported {path} as {case_id}: {report_line(result.report)}")
        n += 1
    log(f"imported {n} case(s) into {out}")
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Import images + case files into a training store")
    p.add_argument("--cases", required=True, help="folder searched recursively for *.case.json")
    p.add_argument("--out", required=True, help="store folder (created or appended to)")
    p.add_argument("--masks", default=None, help="folder of <image stem>_diaphysis_<side>.png masks")
    p.add_argument("--spacing-mm", type=float, default=None, help="pixel spacing for images that have none")
    args = p.parse_args(argv)
    import_folder(args.cases, args.out, masks_dir=args.masks, spacing_mm=args.spacing_mm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
