"""The case file: one versioned JSON document per image that never loses a clinician's work.

Its core is the spec's shape, so ``llm-viewer measure`` reads it directly::

    {"format": "llm-viewer-case", "format_version": 1,
     "pixel_spacing_mm": [0.143, 0.143] | null,
     "spacing_source": "ImagerPixelSpacing",
     "image": {"path": "../images/case-0001.dcm", "sha256": "...", "size_bytes": 123, "width_px": 2800,
               "height_px": 8100},
     "legs": {"right": {"landmarks": {"femoral_head": [x, y], ...},
                        "provenance": {"femoral_head": {"source": "model", "model_id": "...", "score": 0.98,
                                                        "uncertainty_px": 1.7, "original": [x, y],
                                                        "by": null, "at": "..."}}},
              "left": {...}},
     "rois": [{"side": "right", "region": "hip", "box_px": [x0, y0, x1, y1], "score": 0.99}],
     "review": {"status": "new" | "predicted" | "corrected" | "approved", "by": null, "at": null},
     "history": [{"at": "...", "by": "...", "action": "...", ...}],
     "study": {...},
     "annotations": [{"id": "...", "kind": "ruler" | "angle" | "line_angle", "points_px": [[x, y], ...],
                      "created_by": "...", "created_at": "..."}],  # optional (core.annotations)
     "plans": [{"id": "plan-...", "side": "left", "method": "hto_open_medial", ...}]}  # optional (core.planning)

Unknown keys anywhere are preserved on save. ``image.path`` is relative to the case file.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .annotations import Annotation, AnnotationError, parse_annotations
from .atomic import atomic_write_json
from .landmarks import LANDMARK_IDS, SIDES, LandmarkError, Point, parse_leg_landmarks, parse_point
from .metrics import validate_spacing
from .schema import (  # the schema owns the format constants; re-exported here
    CASE_FORMAT,
    CASE_VERSION,
    LANDMARK_SOURCES,
    MAX_JSON_BYTES,
    REVIEW_STATUSES,
    DocumentError,
    parse_json_bytes,
    validate_landmark_document,
)

SPACING_SOURCES: tuple[str, ...] = (
    "PixelSpacing",
    "ImagerPixelSpacing",
    "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor",
    "manual-ruler",
    "manual-ball",
    "manual-entry",
    "synthetic",
    "case-file",
    "unknown",
)
CASE_SUFFIX = ".case.json"


class CaseFileError(ValueError):
    """A case file cannot be read or is malformed; the message names the file and the problem."""


def utc_now() -> str:
    """Current time as an ISO-8601 UTC string with seconds, e.g. ``2026-11-24T01:02:03Z``."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ImageRef:
    """Where the case's image is and what it was when the case was made."""

    path: str
    sha256: str | None
    size_bytes: int | None
    width_px: int | None = None
    height_px: int | None = None


class Case:
    """An editable case document. Every mutation appends to ``history``; unknown keys are kept.

    Parameters
    ----------
    data : dict, optional
        A parsed case document (validated here). ``None`` starts an empty case.
    source : str
        Where ``data`` came from, used in error messages.
    """

    def __init__(self, data: Mapping[str, Any] | None = None, *, source: str = "case") -> None:
        raw = copy.deepcopy(dict(data)) if data is not None else {}
        self._source = source
        self._data = _validate(raw, source)

    # ------------------------------------------------------------------ construction / export
    @classmethod
    def new(cls, *, pixel_spacing_mm: Sequence[float] | None = None, spacing_source: str = "unknown") -> Case:
        """An empty case with status ``new``."""
        case = cls({"pixel_spacing_mm": list(pixel_spacing_mm) if pixel_spacing_mm else None,
                    "spacing_source": spacing_source})
        case.add_history("created")
        return case

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the document, ready for ``json.dump``."""
        return copy.deepcopy(self._data)

    # ------------------------------------------------------------------ spacing
    @property
    def pixel_spacing_mm(self) -> tuple[float, float] | None:
        return validate_spacing(self._data.get("pixel_spacing_mm"))

    @property
    def spacing_source(self) -> str:
        return str(self._data.get("spacing_source") or ("unknown" if self.pixel_spacing_mm is None else "case-file"))

    def set_spacing(self, pixel_spacing_mm: Sequence[float] | None, source: str, *, by: str | None = None,
                    details: Mapping[str, Any] | None = None) -> None:
        """Set the calibration; ``source`` says where it came from (see ``SPACING_SOURCES``)."""
        spacing = validate_spacing(list(pixel_spacing_mm) if pixel_spacing_mm is not None else None)
        old = self._data.get("pixel_spacing_mm")
        self._data["pixel_spacing_mm"] = list(spacing) if spacing else None
        self._data["spacing_source"] = source if spacing else "unknown"
        if details:
            self._data["calibration"] = dict(details, source=source)
        self.add_history("calibrated", by=by, old=old, new=self._data["pixel_spacing_mm"], source=source)

    # ------------------------------------------------------------------ image
    @property
    def image(self) -> ImageRef | None:
        img = self._data.get("image")
        if not img:
            return None
        return ImageRef(path=str(img["path"]), sha256=img.get("sha256"), size_bytes=img.get("size_bytes"),
                        width_px=img.get("width_px"), height_px=img.get("height_px"))

    def set_image(self, image_path: str | os.PathLike[str], case_path: str | os.PathLike[str], *,
                  width_px: int | None = None, height_px: int | None = None, hash_file: bool = True) -> None:
        """Record the image by its path relative to the case file, with its sha256 and size."""
        image_path = Path(image_path)
        case_dir = Path(case_path).resolve().parent
        rel = os.path.relpath(image_path.resolve(), case_dir)
        entry: dict[str, Any] = dict(self._data.get("image") or {})
        entry.update(path=Path(rel).as_posix(), size_bytes=image_path.stat().st_size,
                     sha256=sha256_file(image_path) if hash_file else None)
        if width_px is not None:
            entry["width_px"] = int(width_px)
        if height_px is not None:
            entry["height_px"] = int(height_px)
        self._data["image"] = entry

    def resolve_image_path(self, case_path: str | os.PathLike[str]) -> Path:
        """Absolute path of the image for a case stored at ``case_path``.

        Raises
        ------
        CaseFileError
            When the case names no image.
        """
        ref = self.image
        if ref is None:
            raise CaseFileError(f"{self._source}: the case names no image")
        return (Path(case_path).resolve().parent / ref.path).resolve()

    # ------------------------------------------------------------------ landmarks
    @property
    def sides(self) -> list[str]:
        """Leg sides present in the case, right first."""
        legs = self._data.get("legs") or {}
        return [s for s in SIDES if s in legs]

    def landmarks(self, side: str) -> dict[str, Point]:
        """The landmarks placed on ``side`` (possibly fewer than nine)."""
        leg = (self._data.get("legs") or {}).get(side) or {}
        return parse_leg_landmarks(leg.get("landmarks") or {}, side=side, require_all=False)

    def landmark(self, side: str, landmark: str) -> Point | None:
        return self.landmarks(side).get(landmark)

    def missing_landmarks(self, side: str) -> list[str]:
        have = self.landmarks(side)
        return [lm for lm in LANDMARK_IDS if lm not in have]

    def provenance(self, side: str, landmark: str) -> dict[str, Any]:
        leg = (self._data.get("legs") or {}).get(side) or {}
        return copy.deepcopy((leg.get("provenance") or {}).get(landmark) or {})

    def _leg(self, side: str) -> dict[str, Any]:
        if side not in SIDES:
            raise LandmarkError(f"unknown leg side {side!r}; expected 'right' or 'left'")
        legs = self._data.setdefault("legs", {})
        leg = legs.setdefault(side, {})
        leg.setdefault("landmarks", {})
        leg.setdefault("provenance", {})
        return leg

    @staticmethod
    def _check_id(landmark: str) -> None:
        if landmark not in LANDMARK_IDS:
            raise LandmarkError(f"unknown landmark {landmark!r}; expected one of {', '.join(LANDMARK_IDS)}")

    def set_prediction(self, side: str, landmark: str, xy: Sequence[float], *, model_id: str,
                       score: float | None = None, uncertainty_px: float | None = None,
                       flagged: bool = False, record: bool = True) -> None:
        """Place a model prediction; it becomes the point's ``original`` for later resets.

        ``flagged`` marks a point the model itself doubts (low map peak or large SGR disagreement); the
        viewer and reports show it as doubtful whatever its uncertainty value.
        """
        self._check_id(landmark)
        p = parse_point(list(xy), side=side, landmark=landmark)
        leg = self._leg(side)
        leg["landmarks"][landmark] = p.as_list()
        leg["provenance"][landmark] = {
            "source": "model", "model_id": model_id,
            "score": None if score is None else float(score),
            "uncertainty_px": None if uncertainty_px is None else float(uncertainty_px),
            "original": p.as_list(), "at": utc_now(), "by": None, "flagged": bool(flagged),
        }
        if self.status == "new":
            self._data["review"] = {"status": "predicted", "by": None, "at": utc_now()}
        if record:
            self.add_history("predicted", side=side, landmark=landmark, model_id=model_id, xy=p.as_list())

    def set_ground_truth(self, side: str, landmark: str, xy: Sequence[float], *, source: str = "ground_truth",
                         by: str | None = None) -> None:
        """Place a reference point (synthetic ground truth or an imported annotation); no history entry."""
        self._check_id(landmark)
        if source not in LANDMARK_SOURCES:
            raise LandmarkError(f"unknown landmark source {source!r}")
        p = parse_point(list(xy), side=side, landmark=landmark)
        leg = self._leg(side)
        leg["landmarks"][landmark] = p.as_list()
        leg["provenance"][landmark] = {"source": source, "original": p.as_list(), "by": by, "at": utc_now()}

    def move_landmark(self, side: str, landmark: str, xy: Sequence[float], *, by: str | None = None) -> None:
        """A manual correction (or placement of a missing point); keeps the original prediction."""
        self._check_id(landmark)
        p = parse_point(list(xy), side=side, landmark=landmark)
        leg = self._leg(side)
        old = leg["landmarks"].get(landmark)
        prov = dict(leg["provenance"].get(landmark) or {})
        if prov.get("source") != "manual":
            prov["predicted_by"] = prov.get("source")
        prov.setdefault("original", old)
        prov.update(source="manual", by=by, at=utc_now())
        leg["landmarks"][landmark] = p.as_list()
        leg["provenance"][landmark] = prov
        self._data["review"] = {"status": "corrected", "by": by, "at": utc_now()}
        self.add_history("moved", by=by, side=side, landmark=landmark, old=old, new=p.as_list())

    def reset_landmark(self, side: str, landmark: str, *, by: str | None = None) -> bool:
        """Restore a point to its original prediction; returns False when it has none."""
        self._check_id(landmark)
        leg = self._leg(side)
        prov = dict(leg["provenance"].get(landmark) or {})
        original = prov.get("original")
        if original is None:
            return False
        old = leg["landmarks"].get(landmark)
        leg["landmarks"][landmark] = list(original)
        prov["source"] = prov.pop("predicted_by", None) or "model"
        prov["at"] = utc_now()
        leg["provenance"][landmark] = prov
        self.add_history("reset", by=by, side=side, landmark=landmark, old=old, new=list(original))
        return True

    def restore_point(self, side: str, landmark: str, xy: Sequence[float] | None,
                      provenance: Mapping[str, Any] | None, review: Mapping[str, Any] | None, *,
                      action: str, by: str | None = None) -> None:
        """Put a point, its provenance and the review state back exactly (undo / redo).

        ``xy=None`` removes the point. The history records ``action`` (e.g. ``"undo"``) with the old and
        new position: history is never rewritten, even by an undo.
        """
        self._check_id(landmark)
        leg = self._leg(side)
        old = leg["landmarks"].get(landmark)
        if xy is None:
            leg["landmarks"].pop(landmark, None)
            leg["provenance"].pop(landmark, None)
        else:
            p = parse_point(list(xy), side=side, landmark=landmark)
            leg["landmarks"][landmark] = p.as_list()
            if provenance is None:
                leg["provenance"].pop(landmark, None)
            else:
                leg["provenance"][landmark] = copy.deepcopy(dict(provenance))
        if review is not None:
            if review.get("status", "new") not in REVIEW_STATUSES:
                raise CaseFileError(f"unknown review status {review.get('status')!r}")
            self._data["review"] = copy.deepcopy(dict(review))
        self.add_history(action, by=by, side=side, landmark=landmark, old=old,
                         new=None if xy is None else [float(xy[0]), float(xy[1])])

    def remove_landmark(self, side: str, landmark: str, *, by: str | None = None) -> None:
        """Delete a point (e.g. a false detection); the history keeps where it was."""
        self._check_id(landmark)
        leg = self._leg(side)
        old = leg["landmarks"].pop(landmark, None)
        leg["provenance"].pop(landmark, None)
        self.add_history("removed", by=by, side=side, landmark=landmark, old=old)

    def manual_moves(self) -> list[dict[str, Any]]:
        """Points changed by hand: side, landmark, original, current and distance moved in pixels."""
        out = []
        for side in self.sides:
            for lm, p in self.landmarks(side).items():
                prov = self.provenance(side, lm)
                if prov.get("source") == "manual":
                    orig = prov.get("original")
                    dist = None
                    if orig is not None:
                        dist = ((p.x - orig[0]) ** 2 + (p.y - orig[1]) ** 2) ** 0.5
                    out.append({"side": side, "landmark": lm, "original": orig, "current": p.as_list(),
                                "moved_px": dist, "by": prov.get("by")})
        return out

    # ------------------------------------------------------------------ ROIs
    @property
    def rois(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._data.get("rois") or [])

    def set_rois(self, rois: Iterable[Mapping[str, Any]]) -> None:
        self._data["rois"] = [dict(r) for r in rois]

    # ------------------------------------------------------------------ review
    @property
    def status(self) -> str:
        return str((self._data.get("review") or {}).get("status") or "new")

    @property
    def review(self) -> dict[str, Any]:
        return dict(self._data.get("review") or {"status": "new", "by": None, "at": None})

    def set_status(self, status: str, *, by: str | None = None) -> None:
        if status not in REVIEW_STATUSES:
            raise CaseFileError(f"unknown review status {status!r}; expected one of {', '.join(REVIEW_STATUSES)}")
        self._data["review"] = {"status": status, "by": by, "at": utc_now()}
        self.add_history("status", by=by, status=status)

    def approve(self, reviewer: str) -> None:
        """Mark the case approved by ``reviewer`` now."""
        if not reviewer or not reviewer.strip():
            raise CaseFileError("approving a case needs the reviewer's name")
        self.set_status("approved", by=reviewer.strip())

    # ------------------------------------------------------------------ free measurements
    @property
    def annotations(self) -> list[Annotation]:
        """The free measurements (ruler, angles; :mod:`llm_viewer.core.annotations`); none in older files."""
        return parse_annotations(self._data.get("annotations"))

    def set_annotations(self, annotations: Iterable[Annotation], *, by: str | None = None,
                        action: str = "annotations_changed", **details: Any) -> None:
        """Replace the free measurements (recorded in the history as ``action``); an approval is not affected."""
        items = [a.as_dict() for a in annotations]
        parse_annotations(items)  # raises AnnotationError for duplicates / bad points
        if items:
            self._data["annotations"] = items
        else:
            self._data.pop("annotations", None)
        self.add_history(action, by=by, **details)

    # ------------------------------------------------------------------ history / misc
    @property
    def history(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._data.get("history") or [])

    def add_history(self, action: str, *, by: str | None = None, **details: Any) -> None:
        """Append one entry to the append-only history."""
        entry = {"at": utc_now(), "by": by, "action": action}
        entry.update(details)
        self._data.setdefault("history", []).append(entry)

    @property
    def study(self) -> dict[str, Any]:
        return copy.deepcopy(self._data.get("study") or {})

    def set_study(self, study: Mapping[str, Any]) -> None:
        self._data["study"] = dict(study)

    def get(self, key: str, default: Any = None) -> Any:
        """Read any top-level key (a copy), including ones this version does not know."""
        return copy.deepcopy(self._data.get(key, default))

    def set(self, key: str, value: Any) -> None:
        """Set a top-level key not managed by a dedicated method (e.g. ``synthetic`` parameters)."""
        self._data[key] = copy.deepcopy(value)


def _validate(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Schema check (:mod:`llm_viewer.core.schema`, shared with ``measure``), then normalise format keys."""
    try:
        validate_landmark_document(raw)
    except DocumentError as exc:
        raise CaseFileError(f"{source}: {exc}") from None
    try:
        parse_annotations(raw.get("annotations"))
    except AnnotationError as exc:
        raise CaseFileError(f"{source}: {exc}") from None
    raw["format"] = CASE_FORMAT
    raw["format_version"] = CASE_VERSION
    if raw.get("legs") is None:
        raw["legs"] = {}
    for side, leg in raw["legs"].items():
        try:  # the schema checked every point; this also normalises nothing, it only guards the invariant
            parse_leg_landmarks(leg.get("landmarks") or {}, side=side, require_all=False)
        except LandmarkError as exc:
            raise CaseFileError(f"{source}: {exc}") from None
    return raw


def read_json_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON object from ``path`` with errors that name the file and the problem.

    Raises
    ------
    CaseFileError
        Missing, unreadable, empty, not UTF-8, not JSON, or not a JSON object.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:  # bounded read: /dev/zero or a huge file never fills memory
            data = fh.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise CaseFileError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise CaseFileError(f"{p}: is a folder, not a case file") from None
    except OSError as exc:
        raise CaseFileError(f"{p}: cannot read ({exc.strerror or exc})") from None
    try:
        return parse_json_bytes(data, str(p))
    except DocumentError as exc:
        raise CaseFileError(str(exc)) from None


def load_case(path: str | os.PathLike[str]) -> Case:
    """Read and validate a case file.

    Raises
    ------
    CaseFileError
        Naming the file and the problem (malformed JSON, newer version, bad landmark, ...).
    """
    return Case(read_json_document(path), source=str(path))


def save_case(case: Case, path: str | os.PathLike[str]) -> None:
    """Write ``case`` to ``path`` atomically (temp file, fsync, rename): a crash leaves old or new, never half."""
    atomic_write_json(path, case.to_dict())
