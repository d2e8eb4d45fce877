"""The open case as a document with change events: views subscribe, edits go through here.

The document owns the :class:`~llm_viewer.core.casefile.Case`, the image, the live measurement (always from
core) and the autosave. A drag first *previews* a point (measurement and overlays follow the mouse, the case
is not touched), then an undoable command *commits* it into the case and autosaves atomically.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from ..core.casefile import Case, save_case, utc_now
from ..core.history import positions_at, record_approval
from ..core.landmarks import LANDMARK_IDS, SIDES, Point
from ..core.uncertainty import case_radii_px, case_uncertainty
from .state import CaseMeasurement, DisplayPreset, measure_case_legs


@dataclass(frozen=True)
class PointState:
    """A landmark's position, provenance and the case's review state, for undo and redo."""

    xy: tuple[float, float] | None
    provenance: dict[str, Any] | None
    review: dict[str, Any]


PROTECTED_SOURCES = ("manual", "ground_truth", "imported")
"""Points a re-analysis never overwrites by itself: it proposes instead (so do all points of an approved case)."""


@dataclass(frozen=True)
class Proposal:
    """The model's position for a point it may not overwrite, shown beside the point until accepted or rejected."""

    xy: tuple[float, float]
    model_id: str
    score: float | None
    uncertainty_px: float | None
    flagged: bool


def login_name() -> str | None:
    try:
        return getpass.getuser() or None
    except Exception:  # noqa: BLE001 - no login name (some containers): the history then says "unknown"
        return None


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
    approvalCleared(str)
        A change to an approved case withdrew its approval; the message says what changed.
    proposalsChanged()
        The model's pending proposals (re-analysis of protected points) changed.
    """

    loaded = QtCore.Signal()
    pointsChanged = QtCore.Signal(str)
    measurementChanged = QtCore.Signal(object)
    caseChanged = QtCore.Signal()
    saved = QtCore.Signal(str)
    saveFailed = QtCore.Signal(str)
    approvalCleared = QtCore.Signal(str)
    proposalsChanged = QtCore.Signal()

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
        self._radii: dict[str, dict[str, float | None]] = {}
        self._measure_cache: dict = {}
        self._preview: dict[tuple[str, str], Point] = {}
        self._after_save: list[Callable[[Path], None]] = []
        self.proposals: dict[tuple[str, str], Proposal] = {}
        self.last_analysis: dict[str, int] = {}

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
        self.proposals.clear()
        self._reload_base()
        self._remeasure()
        self.loaded.emit()
        self.measurementChanged.emit(self.measurement)

    def close(self) -> None:
        self.image = self.case = self.case_path = self.image_path = None
        self._base.clear()
        self._preview.clear()
        self.proposals.clear()
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

    def radius90_px(self, side: str, landmark: str) -> float | None:
        """The calibrated 90 % radius of the model's point (px; 0 for a hand-placed one, ``None`` uncalibrated)."""
        return self._radii.get(side, {}).get(landmark)

    def is_flagged(self, side: str, landmark: str) -> bool:
        """The model marked this prediction as doubtful (and nobody has corrected it since)."""
        prov = self.provenance(side, landmark)
        return bool(prov.get("flagged")) and prov.get("source") == "model"

    def is_manual(self, side: str, landmark: str) -> bool:
        return self.provenance(side, landmark).get("source") == "manual"

    @property
    def pixel_spacing_mm(self) -> tuple[float, float] | None:
        return self.case.pixel_spacing_mm if self.case else None

    @property
    def actor(self) -> str | None:
        """Who makes the changes, for the history: the reviewer's name, else the login name."""
        return self.reviewer or login_name()

    # ------------------------------------------------------------------ live preview (no undo, no save)
    def preview_move(self, side: str, landmark: str, x: float, y: float) -> None:
        """Move a point while dragging: overlays and numbers update, the case is unchanged."""
        self._preview[(side, landmark)] = Point(float(x), float(y))
        self._remeasure()
        self.pointsChanged.emit(side)
        self.measurementChanged.emit(self.measurement)

    @property
    def previewing(self) -> bool:
        """Whether a drag is in progress (a point is moved live and the case is not yet changed)."""
        return bool(self._preview)

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
        before = self.case.review
        self.case.move_landmark(side, landmark, [float(xy[0]), float(xy[1])], by=self.actor)
        self._withdraw_approval(before, f"{_name(side, landmark)} was moved")
        self._after_edit(side)

    def reset_landmark(self, side: str, landmark: str) -> bool:
        """Put a point back to the model's prediction; False when it has none."""
        assert self.case is not None
        original = self.case.provenance(side, landmark).get("original")
        current = self.case.landmark(side, landmark)
        if original is not None and current is not None and [current.x, current.y] == list(original) and (
                not self.is_manual(side, landmark)):
            return False  # already the prediction: nothing to reset, nothing to withdraw
        before = self.case.review
        ok = self.case.reset_landmark(side, landmark, by=self.actor)
        if ok:
            self._withdraw_approval(before, f"{_name(side, landmark)} was reset to the prediction")
            self._after_edit(side)
        return ok

    def restore_point_state(self, side: str, landmark: str, state: PointState, action: str) -> None:
        """Undo/redo: put a point, its provenance and the review state back; history records ``action``.

        An undo or redo never restores an approval: approving takes the reviewer's explicit act.
        """
        assert self.case is not None
        before = self.case.review
        restored_approval = state.review.get("status") == "approved"
        self.case.restore_point(side, landmark, state.xy, state.provenance,
                                None if restored_approval else state.review, action=action, by=self.actor)
        if restored_approval and self.case.status != "approved":
            derived = self.status_without_approval()
            if derived != self.case.status:
                self.case.set_status(derived, by=self.actor)
        self._withdraw_approval(before, f"{action} of {_name(side, landmark)}", restored=restored_approval)
        self._after_edit(side)

    def set_calibration(self, pixel_spacing_mm: tuple[float, float] | None, source: str,
                        details: dict[str, Any] | None = None) -> None:
        """Change the calibration (DICOM, ruler, ball); saved in the case. A new spacing withdraws an approval."""
        assert self.case is not None
        before, old = self.case.review, self.case.pixel_spacing_mm
        self.case.set_spacing(pixel_spacing_mm, source, by=self.actor, details=details)
        if self.case.pixel_spacing_mm != old:
            self._withdraw_approval(before, "the calibration changed")
        self._remeasure()
        self.autosave()
        self.caseChanged.emit()
        self.measurementChanged.emit(self.measurement)

    def approve(self, reviewer: str) -> None:
        assert self.case is not None
        self.case.approve(reviewer)
        record_approval(self.case)  # what was approved: a later change is detected even outside the viewer
        self.reviewer = reviewer.strip()
        self.autosave()
        self.caseChanged.emit()

    # ------------------------------------------------------------------ approval
    def status_without_approval(self) -> str:
        """The status a case returns to when its approval is withdrawn."""
        assert self.case is not None
        points = [(s, lm) for s in self.case.sides for lm in self.case.landmarks(s)]
        if any(self.case.provenance(s, lm).get("source") == "manual" for s, lm in points):
            return "corrected"
        return "predicted" if points else "new"

    def _withdraw_approval(self, before: dict[str, Any], what: str, *, restored: bool = False) -> None:
        """After a change: an approval (the one held before, or one an undo put back) no longer holds."""
        assert self.case is not None
        was = before.get("status") == "approved"
        if self.case.status == "approved":
            self.case.set_status(self.status_without_approval(), by=self.actor)
        if was:
            self.case.add_history("approval_withdrawn", by=self.actor, reason=what, approved_by=before.get("by"),
                                  approved_at=before.get("at"))
            self.approvalCleared.emit(
                f"Approval by {before.get('by') or 'unknown'} ({before.get('at') or '?'}) withdrawn: {what}. "
                "Approve again (Ctrl+Return) when the case is right.")
        elif restored:
            self.approvalCleared.emit(f"{what[0].upper()}{what[1:]}: an undo or redo does not restore an approval; "
                                      "approve again (Ctrl+Return).")

    # ------------------------------------------------------------------ re-analysis proposals
    def proposal(self, side: str, landmark: str) -> Proposal | None:
        return self.proposals.get((side, landmark))

    def accept_proposal(self, side: str, landmark: str) -> bool:
        """Move a point to the model's proposal (called by an undo command); False when there is none."""
        assert self.case is not None
        prop = self.proposals.pop((side, landmark), None)
        if prop is None:
            return False
        before = self.case.review
        old = self.case.landmark(side, landmark)
        old_prov = self.case.provenance(side, landmark) or None
        self.case.set_prediction(side, landmark, list(prop.xy), model_id=prop.model_id, score=prop.score,
                                 uncertainty_px=prop.uncertainty_px, flagged=prop.flagged, record=False)
        self.case.add_history("proposal_accepted", by=self.actor, side=side, landmark=landmark,
                              old=None if old is None else old.as_list(), new=list(prop.xy),
                              old_provenance=old_prov, model_id=prop.model_id)
        self._withdraw_approval(before, f"the model's proposal for {_name(side, landmark)} was accepted")
        self._after_edit(side)
        self.proposalsChanged.emit()
        return True

    def put_proposal(self, side: str, landmark: str, prop: Proposal) -> None:
        """Show a proposal again (undo of its acceptance or rejection)."""
        self.proposals[(side, landmark)] = prop
        self.proposalsChanged.emit()

    def reject_proposal(self, side: str, landmark: str) -> Proposal | None:
        """Drop a proposal; the point stays. Recorded in the history; returns the proposal dropped."""
        prop = self.proposals.pop((side, landmark), None)
        if prop is not None and self.case is not None:
            self.case.add_history("proposal_rejected", by=self.actor, side=side, landmark=landmark,
                                  proposed=list(prop.xy), model_id=prop.model_id)
            self.autosave()
            self.proposalsChanged.emit()
        return prop

    # ------------------------------------------------------------------ earlier versions
    def version_points(self, index: int) -> tuple[dict[str, dict[str, list[float]]], list[float] | None]:
        """Points and spacing the case had just before ``history[index]``."""
        assert self.case is not None
        return positions_at(self.case, index)

    def set_point_state(self, side: str, landmark: str, xy: tuple[float, float] | None, action: str) -> None:
        """Put a point at ``xy`` (``None``: remove it) as a manual point (restoring an earlier version)."""
        assert self.case is not None
        before = self.case.review
        prov = self.case.provenance(side, landmark) or {}
        if xy is not None and prov.get("source") != "manual":
            prov = dict(prov, predicted_by=prov.get("source"), source="manual")
        prov.update(by=self.actor, at=utc_now())
        self.case.restore_point(side, landmark, xy, prov if xy is not None else None, None, action=action,
                                by=self.actor)
        if self.case.status != "approved" and xy is not None:
            self.case.set_status("corrected", by=self.actor)
        self._withdraw_approval(before, f"{_name(side, landmark)} was restored from an earlier version")
        self._after_edit(side)

    def is_protected(self, side: str, landmark: str) -> bool:
        """A re-analysis may not overwrite this point by itself (approved case, manual or reference point)."""
        if self.case is None:
            return False
        if self.case.status == "approved":
            return True
        return self.case.landmark(side, landmark) is not None and (
            self.provenance(side, landmark).get("source") in PROTECTED_SOURCES)

    def apply_analysis(self, result: Any) -> list[str]:
        """Store a pipeline result. Returns the warnings.

        Model predictions of a case not yet approved are replaced (the history keeps where they were).
        Manual, ground-truth and imported points, and every point of an approved case, are never
        overwritten: the model's position becomes a :class:`Proposal`, shown beside the point until the
        reviewer accepts it (an undoable command) or rejects it; the approval stays until then.
        """
        assert self.case is not None
        model_id = str(getattr(result, "model_id", "unknown"))
        placed = 0
        replaced: list[dict[str, Any]] = []
        applied: set[tuple[str, str]] = set()  # points this analysis placed (their radius is stored)
        self.proposals.clear()
        for side, leg in (getattr(result, "legs", None) or {}).items():
            for lm, pred in leg.landmarks.items():
                if lm not in LANDMARK_IDS:
                    continue
                xy = (float(pred.x_px), float(pred.y_px))
                old = self.case.landmark(side, lm)
                if self.is_protected(side, lm):
                    if old is None or abs(old.x - xy[0]) > 1e-6 or abs(old.y - xy[1]) > 1e-6:
                        self.proposals[(side, lm)] = Proposal(
                            xy, model_id, None if pred.score is None else float(pred.score),
                            None if pred.uncertainty_px is None else float(pred.uncertainty_px),
                            bool(getattr(pred, "flagged", False)))
                    continue
                placed += 1
                if old is not None:
                    replaced.append({"side": side, "landmark": lm, "old": old.as_list(),
                                     "old_source": self.provenance(side, lm).get("source")})
                self.case.set_prediction(side, lm, list(xy), model_id=model_id,
                                         score=pred.score, uncertainty_px=pred.uncertainty_px,
                                         flagged=bool(getattr(pred, "flagged", False)), record=False)
                applied.add((side, lm))
        self.case.set_rois([{"side": r.side, "region": r.region, "box_px": [r.x0, r.y0, r.x1, r.y1],
                             "score": r.score} for r in (getattr(result, "rois", None) or [])])
        warnings = [str(w) for w in (getattr(result, "warnings", None) or [])]
        analysis = {"model_id": model_id, "device": str(getattr(result, "device", "")),
                    "warnings": warnings, "at": utc_now(),
                    "timings_s": dict(getattr(result, "timings_s", {}) or {})}
        unc = getattr(result, "uncertainty", None)
        if unc is not None and getattr(unc, "calibrated", False):  # radii and interval factors for ± (core)
            analysis["uncertainty"] = {
                **unc.as_dict(), "metric_factors": dict(unc.metric_factors),
                "radius90_px": {side: {lm: p.radius90_px for lm, p in leg.landmarks.items()
                                       if getattr(p, "radius90_px", None) is not None and (side, lm) in applied}
                                for side, leg in (getattr(result, "legs", None) or {}).items()}}
        self.case.set("analysis", analysis)
        self.case.add_history("analyzed", by=self.actor, model_id=model_id, placed=placed, replaced=replaced,
                              proposed=len(self.proposals))
        self.last_analysis = {"placed": placed, "replaced": len(replaced), "proposed": len(self.proposals)}
        self._preview.clear()
        self._reload_base()
        self._remeasure()
        self.autosave()
        for s in SIDES:
            self.pointsChanged.emit(s)
        self.caseChanged.emit()
        self.measurementChanged.emit(self.measurement)
        self.proposalsChanged.emit()
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
        calibrated = self.case is not None and case_uncertainty(self.case) is not None
        self._radii = {s: case_radii_px(self.case, s) for s in self.case.sides} if calibrated else {}

    def _remeasure(self) -> None:
        if self.case is None:
            self.measurement = None
            return
        sides = [s for s in SIDES if self.points(s)]
        info = None if self._preview else case_uncertainty(self.case)  # no ± while a point is dragged
        radii = {s: case_radii_px(self.case, s) for s in sides} if info else None
        self.measurement = measure_case_legs({s: self.points(s) for s in sides}, self.case.pixel_spacing_mm,
                                             self.case.spacing_source, cache=self._measure_cache,
                                             radii_by_side=radii, uncertainty_info=info)

    def _after_edit(self, side: str) -> None:
        self._preview.clear()
        self._reload_base()
        self._remeasure()
        self.autosave()
        self.pointsChanged.emit(side)
        self.caseChanged.emit()
        self.measurementChanged.emit(self.measurement)


def _name(side: str, landmark: str) -> str:
    from ..core.landmarks import LANDMARK_LABELS

    return f"{LANDMARK_LABELS.get(landmark, landmark)} ({side})"
