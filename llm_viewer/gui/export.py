"""Export a reviewed case into the training-set store: de-identified, with provenance. Qt-free.

The exported case keeps the landmarks, calibration, ROIs and review state, and gains an ``export`` block:
model version, the original predictions, which points moved and by how much, the reviewer and the time.
It loses everything that identifies the patient: no name, ID or birth date in the case file or the image
(DICOM images go through :func:`llm_viewer.core.imageio.write_deidentified_dicom`; other images are
re-encoded as PNG, which drops any metadata), and no path of the original file.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.casefile import Case, sha256_file, utc_now

SAFE_STUDY_KEYS: tuple[str, ...] = ("modality", "manufacturer", "body_part")
UID_KEYS: tuple[str, ...] = ("study_instance_uid", "series_instance_uid", "sop_instance_uid")


class ExportError(ValueError):
    """The case cannot be exported; the message says why."""


@dataclass(frozen=True)
class ExportResult:
    """Where the exported case went."""

    case_id: str
    store_root: Path
    case_path: Path
    image_path: Path
    moved: int

    def __str__(self) -> str:
        return f"{self.case_id} in {self.store_root} ({self.moved} corrected point(s))"


def export_case_id(case: Case, image_sha256: str) -> str:
    """A pseudonymous, stable id: the same study always maps to the same id (re-export = new version)."""
    uid = (case.study or {}).get("study_instance_uid") or ""
    key = f"{uid}|{image_sha256}" if uid else image_sha256
    return "export-" + hashlib.sha256(("llm-viewer-export:" + key).encode("utf-8")).hexdigest()[:20]


def provenance_block(case: Case, reviewer: str | None) -> dict[str, Any]:
    """Model version, original predictions, manual moves (pixels and mm) and the reviewer."""
    spacing = case.pixel_spacing_mm
    original: dict[str, dict[str, Any]] = {}
    model_ids: set[str] = set()
    for side in case.sides:
        for lm in case.landmarks(side):
            prov = case.provenance(side, lm)
            if prov.get("model_id"):
                model_ids.add(str(prov["model_id"]))
            src = prov.get("predicted_by") or prov.get("source")
            if prov.get("original") is not None and src in ("model", "ground_truth", "imported"):
                original.setdefault(side, {})[lm] = {"xy": prov["original"], "source": src,
                                                     "score": prov.get("score"),
                                                     "uncertainty_px": prov.get("uncertainty_px")}
    moved = []
    for mv in case.manual_moves():
        entry = dict(mv)
        orig = mv.get("original")
        if orig is not None and spacing is not None:
            dx_mm = (mv["current"][0] - orig[0]) * spacing[1]
            dy_mm = (mv["current"][1] - orig[1]) * spacing[0]
            entry["moved_mm"] = math.hypot(dx_mm, dy_mm)
        else:
            entry["moved_mm"] = None
        entry["placed"] = orig is None  # a missing point placed by hand
        moved.append(entry)
    analysis = case.get("analysis") or {}
    if analysis.get("model_id"):
        model_ids.add(str(analysis["model_id"]))
    return {
        "exported_at": utc_now(),
        "reviewer": reviewer,
        "review": case.review,
        "model_ids": sorted(model_ids),
        "original_prediction": original,
        "moved": moved,
        "spacing_source": case.spacing_source,
    }


def deidentified_case(case: Case, reviewer: str | None) -> Case:
    """A copy of ``case`` without identifying data, with the ``export`` provenance block.

    The study block keeps modality, manufacturer and body part; UIDs are replaced exactly as the
    de-identified DICOM replaces them; the image reference is dropped (the store writes its own).
    """
    from ..core.imageio import remap_uid

    doc = case.to_dict()
    study = doc.get("study") or {}
    clean = {k: study[k] for k in SAFE_STUDY_KEYS if study.get(k) is not None}
    for k in UID_KEYS:
        if study.get(k):
            clean[k] = remap_uid(str(study[k]))
    doc["study"] = clean
    doc["deidentified"] = {"at": utc_now(), "method": "llm-viewer export (DICOM basic profile)"}
    doc.pop("image", None)
    for entry in doc.get("history") or []:  # history entries never carry paths, but be certain
        for key in ("path", "image", "source_path"):
            entry.pop(key, None)
    out = Case(doc, source="export")
    out.set("export", provenance_block(case, reviewer))
    return out


def _clean_image(image_path: Path, tmp_dir: Path) -> tuple[Path, str]:
    """A de-identified copy of the image in ``tmp_dir``: DICOM via imageio, others re-encoded as PNG."""
    from ..core.imageio import detect_format, write_deidentified_dicom

    with open(image_path, "rb") as fh:
        fmt = detect_format(fh.read(132))
    if fmt in ("dicom", "dicom-raw"):
        return write_deidentified_dicom(image_path, tmp_dir / "image.dcm"), ".dcm"
    import cv2
    import numpy as np

    data = np.fromfile(str(image_path), dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ExportError(f"{image_path.name}: cannot re-encode the image for export")
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise ExportError(f"{image_path.name}: PNG encoding failed")
    out = tmp_dir / "image.png"
    out.write_bytes(buf.tobytes())
    return out, ".png"


def export_case_to_store(case: Case, image_path: str | os.PathLike[str], store_path: str | os.PathLike[str],
                         reviewer: str | None, *, progress: Callable[[float, str], None] | None = None,
                         cancel: Callable[[], bool] | None = None) -> ExportResult:
    """Export ``case`` (corrected in the viewer) into the store at ``store_path`` (created if needed).

    Parameters
    ----------
    case : Case
        The case as reviewed (not modified).
    image_path : path-like
        Its image.
    store_path : path-like
        A training-set store folder, or an empty/new folder to create one in.
    reviewer : str or None
        Who reviewed it (recorded in the provenance).

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError, StoreError, ImageLoadError, OSError
        With a message naming the problem; nothing is half-written (the store writes atomically).
    """
    from ..core.store import Store

    progress = progress or (lambda f, m: None)
    image_path = Path(image_path)
    if not image_path.is_file():
        raise ExportError(f"{image_path}: the case's image is missing")
    missing = [f"{s}:{lm}" for s in case.sides for lm in case.missing_landmarks(s)]
    if not case.sides:
        raise ExportError("the case has no landmarks to export")
    progress(0.1, "opening the store")
    store = Store.create(store_path, exist_ok=True)
    progress(0.3, "de-identifying the image")
    with tempfile.TemporaryDirectory(prefix="llm-viewer-export-") as tmp:
        clean_image, suffix = _clean_image(image_path, Path(tmp))
        if cancel is not None and cancel():
            raise ExportError("cancelled")
        clean_case = deidentified_case(case, reviewer)
        if missing:
            clean_case.set("export", dict(clean_case.get("export"), missing_landmarks=missing))
        case_id = export_case_id(case, sha256_file(image_path))
        ref = case.image
        progress(0.7, "writing to the store")
        entry = store.add_case(case_id, clean_case, image_path=clean_image, image_suffix=suffix, source="export",
                               width_px=ref.width_px if ref else None, height_px=ref.height_px if ref else None,
                               replace=True, extra={"reviewer": reviewer, "status": case.status})
    progress(1.0, "exported")
    return ExportResult(case_id, store.root, store.case_path(entry), store.image_path(entry),
                        len(case.manual_moves()))
