"""The open case as a document with change events: views subscribe, edits go through here.

The document owns the :class:`~llm_viewer.core.casefile.Case`, the image, the live measurement (always from
core) and the autosave. A drag first *previews* a point (measurement and overlays follow the mouse, the case
is not touched), then an undoable command *commits* it into the case and autosaves atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from ..core.casefile import Case, save_case, utc_now
from ..core.landmarks import LANDMARK_IDS, SIDES, Point
from .state import CaseMeasurement, DisplayPreset, measure_case_legs


@dataclass(frozen=True)
class PointState:
    """A landmark's position, provenance and the case's review state, for undo and redo."""

    xy: tuple[float, float] | None
    provenance: dict[str, Any] | None
    review: dict[str, Any]


class Document(QtCore.QObject):
    """The case being reviewed.

    Signals
    -------
    loaded()
        A new image/case replaced the previous one.
    pointsChanged(side)
        Points of ``side`` moved (preview or commit).
    measurementChanged(object)
        The :class:`CaseMeasurement` changed.
    caseChanged()
        Provenance, review status, calibration or ROIs changed.
    saved(str)
        The case was autosaved to this path.
    saveFailed(str)
        Autosave failed (message); the in-memory case is kept.
    """

    loaded = QtCore.Signal()
    pointsChanged = QtCore.Signal(str)
    measurementChanged = QtCore.Signal(object)
    caseChanged = QtCore.Signal()
    saved = QtCore.Signal(str)
    saveFailed = QtCore.Signal(str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.image: Any = None
        self.image_path: Path | None = None
        self.case: Case | None = None
        self.case_path: Path | None = None
        self.case_fallback = False
        self.presets: list[DisplayPreset] = []
        self.measurement: CaseMeasurement | None = None
        self.reviewer: str | None = None
        self.save_count = 0
        self._base: dict[str, dict[str, Point]] = {}
        self._prov: dict[tuple[str, str], dict[str, Any]] = {}
        self._measure_cache: dict = {}
        self._preview: dict[tuple[str, str], Point] = {}
        self._after_save: list[Callable[[Path], None]] = []

    # ------------------------------------------------------------------ loading
    @property
    def is_open(self) -> bool:
        return self.case is not None and self.image is not None

    def set_case(self, image: Any, case: Case, case_path: Path, *, image_path: Path | None = None,
                 fallback: bool = False, presets: list[DisplayPreset] | None = None) -> None:
        """Show ``case`` on ``image``; ``case_path`` is where edits are autosaved."""
        self.image = image
        self.image_path = Path(image_path) if image_path else getattr(image, "source_path", None)
        self.case = case
        self.case_path = Path(case_path)
        self.case_fallback = fallback
        self.presets = list(presets or [])
        self._preview.clear()
        self._reload_base()
        self._remeasure()
        self.loaded.emit()
        self.measurementChanged.emit(self.measurement)

    def close(self) -> None:
        self.image = self.case = self.case_path = self.image_path = None
        self._base.clear()
        self._preview.clear()
        self.measurement = None
        self.loaded.emit()

    # ------------------------------------------------------------------ reading
    def sides(self) -> list[str]:
        """Legs shown: those in the case (both sides always offered for placing points)."""
        return list(SIDES)

    def points(self, side: str) -> dict[str, Point]:
        """Current points of ``side`` including a drag in progress."""
        pts = dict(self._base.get(side, {}))
        for (s, lm), p in self._preview.items():
            if s == side:
                pts[lm] = p
        return pts

    def point(self, side: str, landmark: str) -> Point | None:
        return self._preview.get((side, landmark)) or self._base.get(side, {}).get(landmark)

    def provenance(self, side: str, landmark: str) -> dict[str, Any]:
        """Provenance of a point (a cached copy, refreshed after every edit; do not modify)."""
        return self._prov.get((side, landmark), {})

    def uncertainty_px(self, side: str, landmark: str) -> float | None:
        u = self.provenance(side, landmark).get("uncertainty_px")
        return float(u) if isinstance(u, (int, float)) else None

    def is_flagged(self, side: str, landmark: str) -> bool:
        """The model marked this prediction as doubtful (and nobody has corrected it since)."""
        prov = self.provenance(side, landmark)
        return bool(prov.get("flagged")) and prov.get("source") == "model"

    def is_manual(self, side: str, landmark: str) -> bool:
        return self.provenance(side, landmark).get("source") == "manual"

    @property
    def pixel_spacing_mm(self) -> tuple[float, float] | None:
        return self.case.pixel_spacing_mm if self.case else None

    # ------------------------------------------------------------------ live preview (no undo, no save)
    def preview_move(self, side: str, landmark: str, x: float, y: float) -> None:
        """Move a point while dragging: overlays and numbers update, the case is unchanged."""
        self._preview[(side, landmark)] = Point(float(x), float(y))
        self._remeasure()
        self.pointsChanged.emit(side)
        self.measurementChanged.emit(self.measurement)

    def cancel_preview(self) -> None:
        sides = {s for s, _ in self._preview}
        self._preview.clear()
        self._remeasure()
        for s in sides:
            self.pointsChanged.emit(s)
        self.measurementChanged.emit(self.measurement)

    # ------------------------------------------------------------------ edits (called by undo commands)
    def point_state(self, side: str, landmark: str) -> PointState:
        assert self.case is not None
        p = self.case.landmark(side, landmark)
        prov = self.case.provenance(side, landmark) or None
        return PointState(None if p is None else (p.x, p.y), prov, self.case.review)

    def move_landmark(self, side: str, landmark: str, xy: tuple[float, float]) -> None:
        """Commit a manual move (or the placement of a missing point) and autosave."""
        assert self.case is not None
        self.case.move_landmark(side, landmark, [float(xy[0]), float(xy[1])], by=self.reviewer)
        self._after_edit(side)

    def reset_landmark(self, side: str, landmark: str) -> bool:
        """Put a point back to the model's prediction; False when it has none."""
        assert self.case is not None
        ok = self.case.reset_landmark(side, landmark, by=self.reviewer)
        if ok:
            self._after_edit(side)
        return ok

    def restore_point_state(self, side: str, landmark: str, state: PointState, action: str) -> None:
        """Undo/redo: put a point, its provenance and the review state back; history records ``action``."""
        assert self.case is not None
        self.case.restore_point(side, landmark, state.xy, state.provenance, state.review, action=action,
                                by=self.reviewer)
        self._after_edit(side)

    def set_calibration(self, pixel_spacing_mm: tuple[float, float] | None, source: str,
                        details: dict[str, Any] | None = None) -> None:
        """Change the calibration (DICOM, ruler, ball); saved in the case."""
        assert self.case is not None
        self.case.set_spacing(pixel_spacing_mm, source, by=self.reviewer, details=details)
        self._remeasure()
        self.autosave()
        self.caseChanged.emit()
        self.measurementChanged.emit(self.measurement)

    def approve(self, reviewer: str) -> None:
        assert self.case is not None
        self.case.approve(reviewer)
        self.reviewer = reviewer.strip()
        self.autosave()
        self.caseChanged.emit()

    def apply_analysis(self, result: Any) -> list[str]:
        """Store a pipeline result as predictions; manual points are kept. Returns the warnings."""
        assert self.case is not None
        model_id = str(getattr(result, "model_id", "unknown"))
        placed = 0
        for side, leg in (getattr(result, "legs", None) or {}).items():
            for lm, pred in leg.landmarks.items():
                if lm not in LANDMARK_IDS or self.is_manual(side, lm):
                    continue
                placed += 1
                self.case.set_prediction(side, lm, [pred.x_px, pred.y_px], model_id=model_id,
                                         score=pred.score, uncertainty_px=pred.uncertainty_px,
                                         flagged=bool(getattr(pred, "flagged", False)), record=False)
        self.case.set_rois([{"side": r.side, "region": r.region, "box_px": [r.x0, r.y0, r.x1, r.y1],
                             "score": r.score} for r in (getattr(result, "rois", None) or [])])
        warnings = [str(w) for w in (getattr(result, "warnings", None) or [])]
        self.case.set("analysis", {"model_id": model_id, "device": str(getattr(result, "device", "")),
                                   "warnings": warnings, "at": utc_now(),
                                   "timings_s": dict(getattr(result, "timings_s", {}) or {})})
        self.case.add_history("analyzed", model_id=model_id)
        if placed and self.case.status == "approved":  # new points: an earlier approval no longer holds
            self.case.set_status("predicted")
        self._preview.clear()
        self._reload_base()
        self._remeasure()
        self.autosave()
        for s in SIDES:
            self.pointsChanged.emit(s)
        self.caseChanged.emit()
        self.measurementChanged.emit(self.measurement)
        return warnings

    # ------------------------------------------------------------------ saving
    def autosave(self) -> bool:
        """Write the case atomically to its file; emits ``saved`` or ``saveFailed``."""
        if self.case is None or self.case_path is None:
            return False
        try:
            self.case_path.parent.mkdir(parents=True, exist_ok=True)
            save_case(self.case, self.case_path)
        except (OSError, ValueError) as exc:
            self.saveFailed.emit(f"autosave to {self.case_path} failed: {exc}")
            return False
        self.save_count += 1
        self.saved.emit(str(self.case_path))
        return True

    # ------------------------------------------------------------------ internals
    def _reload_base(self) -> None:
        self._base = {s: self.case.landmarks(s) for s in self.case.sides} if self.case else {}
        legs = (self.case.get("legs") or {}) if self.case else {}
        self._prov = {(s, lm): dict(p or {}) for s, leg in legs.items()
                      for lm, p in ((leg or {}).get("provenance") or {}).items()}

    def _remeasure(self) -> None:
        if self.case is None:
            self.measurement = None
            return
        sides = [s for s in SIDES if self.points(s)]
        self.measurement = measure_case_legs({s: self.points(s) for s in sides}, self.case.pixel_spacing_mm,
                                             self.case.spacing_source, cache=self._measure_cache)

    def _after_edit(self, side: str) -> None:
        self._preview.clear()
        self._reload_base()
        self._remeasure()
        self.autosave()
        self.pointsChanged.emit(side)
        self.caseChanged.emit()
        self.measurementChanged.emit(self.measurement)
