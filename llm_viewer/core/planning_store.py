"""Osteotomy plans kept with the case: the ``plans`` list of the case file and its history entries.

``case["plans"]`` holds at most one plan per leg, each the dict of
:meth:`llm_viewer.core.planning.OsteotomyPlan.as_dict` (the contract shared with the DICOM SR writer).
Every change appends a history entry ``{"action": "plan", "plan_id": ..., "change": ...}``; a plan changes
no landmark, so it never withdraws an approval.
"""

from __future__ import annotations

from collections.abc import Iterable

from .casefile import Case, utc_now
from .planning_types import PLANS_KEY, OsteotomyPlan, parse_plans

PLAN_ACTION = "plan"


def case_plans(case: Case) -> list[OsteotomyPlan]:
    """The plans stored in ``case``."""
    return parse_plans({PLANS_KEY: case.get(PLANS_KEY)})


def plan_for_side(case: Case, side: str) -> OsteotomyPlan | None:
    """The stored plan of one leg, or ``None``."""
    return next((p for p in case_plans(case) if p.side == side), None)


def _write(case: Case, plans: Iterable[OsteotomyPlan]) -> None:
    items = [p.as_dict() for p in plans]
    parse_plans({PLANS_KEY: items})  # one per leg, every field valid
    case.set(PLANS_KEY, items)


def save_plan(case: Case, plan: OsteotomyPlan, *, by: str | None = None) -> OsteotomyPlan:
    """Store ``plan`` (replacing the leg's plan, if any) with its authorship; appends a history entry.

    Returns
    -------
    OsteotomyPlan
        The plan as stored (``created_*`` kept from the plan it replaces when the id is the same).
    """
    now = utc_now()
    plans = case_plans(case)
    old = next((p for p in plans if p.side == plan.side), None)
    if old is not None and old.id == plan.id:
        stored = plan.with_changes(created_by=old.created_by, created_at=old.created_at, updated_by=by,
                                   updated_at=now)
        change = "updated"
    else:
        stored = plan.with_changes(created_by=by, created_at=now, updated_by=by, updated_at=now)
        change = "created" if old is None else "replaced"
    _write(case, [stored if p.side == plan.side else p for p in plans] if old else [*plans, stored])
    res = stored.result
    case.add_history(PLAN_ACTION, by=by, plan_id=stored.id, change=change, side=stored.side, method=stored.method,
                     target=stored.target.as_dict(), hinge_px=list(stored.hinge_px),
                     cut_start_px=list(stored.cut_start_px),
                     correction_deg=None if res is None else res.correction_deg,
                     replaced_plan_id=old.id if old is not None and old.id != stored.id else None)
    return stored


def remove_plan(case: Case, plan_id: str, *, by: str | None = None) -> bool:
    """Delete a plan; False when the case has none with ``plan_id``. The history keeps what it was."""
    plans = case_plans(case)
    old = next((p for p in plans if p.id == plan_id), None)
    if old is None:
        return False
    _write(case, [p for p in plans if p.id != plan_id])
    case.add_history(PLAN_ACTION, by=by, plan_id=plan_id, change="removed", side=old.side, old=old.as_dict())
    return True


def restore_plans(case: Case, plans: Iterable[OsteotomyPlan], *, by: str | None = None,
                  change: str = "undo") -> None:
    """Put back a whole earlier ``plans`` list exactly (undo / redo); one history entry per plan touched."""
    before = {p.id: p for p in case_plans(case)}
    after = list(plans)
    _write(case, after)
    touched = sorted(set(before) ^ {p.id for p in after} | {p.id for p in after if p.id in before
                                                              and before[p.id].as_dict() != p.as_dict()})
    for pid in touched:
        case.add_history(PLAN_ACTION, by=by, plan_id=pid, change=change)
