"""The one way a patient's case goes into a training-set store: de-identified, with provenance and a report.

The viewer's export (``llm_viewer.gui.export``), ``training.import_cases`` and ``llm-viewer export`` all call
:func:`add_deidentified_case`. It

- de-identifies the image with :func:`llm_viewer.core.imageio_deid.deidentify_image_file` (DICOM after the
  PS3.15 basic profile, raster images re-encoded as PNG without metadata),
- strips the case file of everything that can identify the patient: the study block keeps modality,
  manufacturer and body part plus the *new* UIDs read back from the cleaned DICOM; the original image path
  goes; top-level keys this version does not know are dropped (they may hold anything); history entries
  lose any path,
- names the entry by a keyed hash of the image's SOP Instance UID (or of its bytes when it has none): never
  by a file name, and the mapping back to the original is recorded nowhere,
- records what was removed (names, never values) in the manifest line's ``deidentification`` key.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .casefile import Case, sha256_file, utc_now
from .imageio_deid import DeidReport, clean_png_bytes, deidentify_image_file, identity_key, keyed_digest

SAFE_STUDY_KEYS: tuple[str, ...] = ("modality", "manufacturer", "body_part")
UID_KEYWORDS: dict[str, str] = {"study_instance_uid": "StudyInstanceUID", "series_instance_uid": "SeriesInstanceUID",
                                "sop_instance_uid": "SOPInstanceUID"}
CASE_KEYS: frozenset[str] = frozenset({
    "format", "format_version", "pixel_spacing_mm", "spacing_source", "legs", "rois", "review", "history",
    "study", "analysis", "calibration", "synthetic", "export", "import", "deidentified", "approval",
})
"""Top-level case-file keys an exported case keeps; any other key is dropped (and named in the report)."""
_PATH_KEYS = ("path", "image", "source_path", "file", "filename")


class ExportError(ValueError):
    """The case cannot be exported; the message says why."""


@dataclass(frozen=True)
class ExportResult:
    """Where the exported case went and what de-identification removed."""

    case_id: str
    store_root: Path
    case_path: Path
    image_path: Path
    moved: int
    report: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.case_id} in {self.store_root} ({self.moved} corrected point(s))"


def store_entry_id(image_path: str | os.PathLike[str], prefix: str = "export-", *, sha256: str | None = None) -> str:
    """A pseudonymous, stable id: the same image always maps to the same id (a re-export is a new version).

    A keyed hash (:func:`keyed_digest`) of the image's SOP Instance UID, or of its sha256 when it has none;
    never its file name.
    """
    digest = sha256 or sha256_file(image_path)
    return prefix + keyed_digest("store-id|" + identity_key(image_path, digest))


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


def _clean_uids(image: Path, suffix: str) -> dict[str, str]:
    """The (new) UIDs of the de-identified DICOM, for the case's study block."""
    if suffix != ".dcm":
        return {}
    import pydicom

    ds = pydicom.dcmread(image, stop_before_pixels=True, force=True)
    return {k: str(ds.get(kw)) for k, kw in UID_KEYWORDS.items() if ds.get(kw)}


def deidentified_case(case: Case, reviewer: str | None, *, uids: Mapping[str, str] | None = None,
                      provenance: str | None = "export", removed: list[str] | None = None) -> Case:
    """A copy of ``case`` without identifying data, with the ``export`` provenance block.

    The study block keeps modality, manufacturer and body part and ``uids`` (those of the de-identified
    DICOM); the image reference goes (the store writes its own); unknown top-level keys go (named in
    ``removed`` when given); history entries lose any path.
    """
    doc = case.to_dict()
    for key in sorted(set(doc) - CASE_KEYS - {"image"}):  # the image reference is replaced below
        doc.pop(key)
        if removed is not None:
            removed.append(key)
    study = doc.get("study") or {}
    clean = {k: study[k] for k in SAFE_STUDY_KEYS if isinstance(study.get(k), (str, int, float))}
    clean.update(uids or {})
    doc["study"] = clean
    doc["deidentified"] = {"at": utc_now(), "method": "llm-viewer store export (DICOM PS3.15 basic profile)"}
    doc.pop("image", None)
    for entry in doc.get("history") or []:
        for key in _PATH_KEYS:
            entry.pop(key, None)
    for key in ("export", "import", "analysis"):
        if isinstance(doc.get(key), dict):
            for p in _PATH_KEYS:
                doc[key].pop(p, None)
    out = Case(doc, source="export")
    if provenance:
        out.set(provenance, provenance_block(case, reviewer))
    return out


def _clean_size(image: Path, suffix: str) -> tuple[int | None, int | None]:
    if suffix == ".dcm":
        import pydicom

        ds = pydicom.dcmread(image, stop_before_pixels=True, force=True)
        return (int(ds.Columns) if ds.get("Columns") else None, int(ds.Rows) if ds.get("Rows") else None)
    from .imageio import raster_size

    size = raster_size(image.read_bytes()[:64], "png")
    return size if size is not None else (None, None)


def add_deidentified_case(case: Case, image_path: str | os.PathLike[str], store_path: Any, *,
                          source: str = "export", reviewer: str | None = None,
                          masks: Mapping[str, bytes] | None = None, extra: Mapping[str, Any] | None = None,
                          case_id: str | None = None, replace: bool = True,
                          progress: Callable[[float, str], None] | None = None,
                          cancel: Callable[[], bool] | None = None) -> ExportResult:
    """De-identify ``case`` and its image and add them to the store at ``store_path`` (created if needed).

    Parameters
    ----------
    case : Case
        The case (not modified).
    image_path : path-like
        Its image (DICOM, PNG, JPEG or TIFF).
    store_path : path-like or Store
        A training-set store, or an empty / new folder to create one in.
    source : str
        ``"export"`` (adds the ``export`` provenance block) or ``"import"``.
    reviewer : str, optional
        Who reviewed it (recorded in the provenance).
    masks : mapping, optional
        ``{name: PNG bytes}``; re-encoded (no PNG metadata chunk survives).
    extra : mapping, optional
        More manifest keys.
    case_id : str, optional
        Default: :func:`store_entry_id` with the prefix ``<source>-``.
    replace : bool
        Write a new version when the id exists (else :class:`StoreError`).

    Returns
    -------
    ExportResult
        With ``report``: the de-identification report (also in the manifest line).

    Raises
    ------
    ExportError, StoreError, ImageLoadError, OSError
        With a message naming the problem; nothing is half-written (the store writes atomically).
    """
    from .store import Store

    progress = progress or (lambda f, m: None)
    image_path = Path(image_path)
    if not image_path.is_file():
        raise ExportError(f"{image_path}: the case's image is missing")
    if not case.sides:
        raise ExportError("the case has no landmarks to export")
    missing = [f"{s}:{lm}" for s in case.sides for lm in case.missing_landmarks(s)]
    progress(0.1, "opening the store")
    store = store_path if isinstance(store_path, Store) else Store.create(store_path, exist_ok=True)
    progress(0.3, "de-identifying the image")
    with tempfile.TemporaryDirectory(prefix="llm-viewer-export-") as tmp:
        from .imageio import ImageLoadError, load_image

        source_image = load_image(image_path)  # a truncated or pixel-less source never becomes a store entry
        clean_image, suffix, report = deidentify_image_file(image_path, Path(tmp))
        try:
            clean = load_image(clean_image)
        except ImageLoadError as exc:
            raise ExportError(f"{image_path}: its de-identified copy does not load ({exc})") from None
        if clean.pixels.shape != source_image.pixels.shape:
            raise ExportError(f"{image_path}: its de-identified copy has {clean.pixels.shape} pixels, not "
                              f"{source_image.pixels.shape}")
        if cancel is not None and cancel():
            raise ExportError("cancelled")
        removed_keys: list[str] = []
        provenance = "export" if source == "export" else "import"
        clean_case = deidentified_case(case, reviewer, uids=_clean_uids(clean_image, suffix), provenance=provenance,
                                       removed=removed_keys)
        if missing:
            clean_case.set(provenance, dict(clean_case.get(provenance), missing_landmarks=missing))
        cid = case_id or store_entry_id(image_path, f"{source}-")
        width, height = _clean_size(clean_image, suffix)
        clean_masks = {name: clean_png_bytes(data, f"mask {name}") for name, data in (masks or {}).items()}
        summary = report.as_dict()
        summary["case_keys_removed"] = removed_keys
        summary["case_image_path_removed"] = case.image is not None
        more = dict(extra or {})
        more["deidentification"] = summary
        progress(0.7, "writing to the store")
        entry = store.add_case(cid, clean_case, image_path=clean_image, image_suffix=suffix, source=source,
                               masks=clean_masks, width_px=width, height_px=height, replace=replace, extra=more)
    progress(1.0, "exported")
    return ExportResult(entry.id, store.root, store.case_path(entry), store.image_path(entry),
                        len(case.manual_moves()), summary)


def report_line(report: Mapping[str, Any]) -> str:
    """The one-line summary of a manifest ``deidentification`` record (for command output)."""
    rep = DeidReport(report.get("format", "dicom"))
    for key in ("removed", "emptied", "replaced", "shifted", "metadata_removed", "warnings"):
        setattr(rep, key, list(report.get(key) or []))
    rep.private_tags_removed = int(report.get("private_tags_removed") or 0)
    rep.preamble_cleared = bool(report.get("preamble_cleared"))
    line = rep.summary()
    if report.get("case_keys_removed"):
        line += f"; case file: {', '.join(report['case_keys_removed'])} removed"
    return line


__all__ = ["CASE_KEYS", "ExportError", "ExportResult", "add_deidentified_case", "deidentified_case",
           "provenance_block", "report_line", "store_entry_id"]
