"""What a case's approval covers, and the case's earlier versions rebuilt from its append-only history.

An approval holds for exactly the points and the calibration that were approved. :func:`approval_fingerprint`
hashes those; the viewer stores it beside the review (``case["approval"]``) when a reviewer approves, and
:func:`stale_approval` tells whether a case still reads "approved" after a change (a file written by an
older version, or edited by another tool). Cases without a fingerprint are judged by their history: any
entry that moves a point or changes the calibration after the last approval makes it stale.

Every entry of the history that changes a point records where the point was before (``old``; for an
analysis that replaced model predictions, ``replaced``), so :func:`positions_at` rebuilds the positions
the case had before any entry, and an earlier version can be restored. Pure Python, no Qt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .casefile import Case

POINT_ACTIONS: frozenset[str] = frozenset({
    "moved", "reset", "undo", "redo", "removed", "predicted", "calibrated", "proposal_accepted",
    "version_restored",
})
"""History actions that change what an approval covers (an ``analyzed`` entry does when it replaced points)."""


def approval_fingerprint(case: Case) -> str:
    """sha256 of the case's points and calibration (what an approval vouches for)."""
    doc = {"legs": {s: {lm: [round(p.x, 6), round(p.y, 6)] for lm, p in sorted(case.landmarks(s).items())}
                    for s in case.sides},
           "pixel_spacing_mm": list(case.pixel_spacing_mm) if case.pixel_spacing_mm else None}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode("utf-8")).hexdigest()


def record_approval(case: Case) -> None:
    """Store the fingerprint of what was just approved (call right after ``case.approve``)."""
    review = case.review
    case.set("approval", {"fingerprint": approval_fingerprint(case), "by": review.get("by"),
                          "at": review.get("at")})


def _changes_points(entry: Mapping[str, Any]) -> bool:
    action = entry.get("action")
    if action in POINT_ACTIONS:
        return True
    return action == "analyzed" and bool(entry.get("replaced"))


def stale_approval(case: Case) -> str | None:
    """Why the case's approval no longer holds, or ``None`` (not approved, or approved as it is).

    With a fingerprint recorded at this approval the points and calibration are compared; otherwise any
    point or calibration change recorded in the history after the last approval makes it stale.
    """
    if case.status != "approved":
        return None
    review = case.review
    who = f"{review.get('by') or 'unknown'} at {review.get('at') or 'unknown time'}"
    rec = case.get("approval") or {}
    if isinstance(rec, dict) and rec.get("fingerprint") and rec.get("at") == review.get("at"):
        if rec["fingerprint"] != approval_fingerprint(case):
            return f"the approval by {who} no longer matches the landmarks or the calibration"
        return None
    history = case.history
    last = max((i for i, e in enumerate(history) if e.get("action") == "status" and e.get("status") == "approved"),
               default=None)
    if last is None:
        return None  # approved by a tool that keeps no history: nothing to compare with
    later = [e for e in history[last + 1:] if _changes_points(e)]
    if later:
        return f"the case was changed ({later[0].get('action')}) after its approval by {who}"
    return None


def _set(points: dict[str, dict[str, list[float]]], side: str, lm: str, xy: Any) -> None:
    leg = points.setdefault(side, {})
    if xy is None:
        leg.pop(lm, None)
    else:
        leg[lm] = [float(xy[0]), float(xy[1])]


def positions_at(case: Case, index: int) -> tuple[dict[str, dict[str, list[float]]], list[float] | None]:
    """The points and the pixel spacing the case had just before ``history[index]`` was recorded.

    Walks the history back from the current state, putting back each entry's ``old`` values. Entries that
    recorded no old value (``predicted`` entries written without one) leave the point where it is now.

    Returns
    -------
    (points, spacing)
        ``{side: {landmark: [x, y]}}`` and ``[row_mm, col_mm]`` or ``None``.
    """
    history = case.history
    if not 0 <= index <= len(history):
        raise IndexError(f"history has {len(history)} entries, no version before entry {index}")
    points = {s: {lm: p.as_list() for lm, p in case.landmarks(s).items()} for s in case.sides}
    spacing = list(case.pixel_spacing_mm) if case.pixel_spacing_mm else None
    for entry in reversed(history[index:]):
        action = entry.get("action")
        if action == "calibrated":
            spacing = entry.get("old")
        elif action == "analyzed":
            for r in entry.get("replaced") or ():
                _set(points, r["side"], r["landmark"], r.get("old"))
        elif "side" in entry and "landmark" in entry and "old" in entry:
            _set(points, entry["side"], entry["landmark"], entry.get("old"))
    return {s: leg for s, leg in points.items() if leg}, spacing


def versions(case: Case) -> list[tuple[int, str]]:
    """Restorable versions: ``(index, description)`` for each entry that changed points or calibration
    (restoring ``index`` gives the case as it was just before that entry), newest first."""
    out = []
    for i, e in enumerate(case.history):
        if _changes_points(e) or e.get("action") == "version_restored":
            what = e.get("action")
            where = f" {e.get('landmark')} ({e.get('side')})" if e.get("landmark") else ""
            out.append((i, f"before {what}{where} at {e.get('at')} by {e.get('by') or 'unknown'}"))
    return out[::-1]
