"""Plans kept in the case file: one per leg, history entries, round trip through save/load."""

from __future__ import annotations

import json

import pytest

from llm_viewer.core.casefile import Case, load_case, save_case
from llm_viewer.core.planning import PlanError, default_plan, parse_plans, plan_with_result
from llm_viewer.core.planning_store import case_plans, plan_for_side, remove_plan, restore_plans, save_plan
from tests.core.planning_cases import synthetic_leg

SPACING = (0.14, 0.14)


def _case() -> Case:
    case = Case.new(pixel_spacing_mm=SPACING, spacing_source="synthetic")
    for side, knee in (("right", 8.0), ("left", 6.0)):
        for lm, xy in synthetic_leg(side, knee, SPACING).items():
            case.set_ground_truth(side, lm, xy)
    return case


def _plan(case: Case, side: str, method: str = "hto_open_medial"):
    lms = case.landmarks(side)
    return plan_with_result(default_plan(lms, side, method, SPACING), lms, SPACING)


def test_save_load_round_trip_with_history(tmp_path):
    case = _case()
    stored = save_plan(case, _plan(case, "right"), by="Dr A")
    assert stored.created_by == "Dr A" and stored.created_at and stored.updated_at
    path = tmp_path / "x.case.json"
    save_case(case, path)
    raw = json.loads(path.read_text())
    assert raw["plans"][0]["id"] == stored.id and raw["plans"][0]["result"]["correction_deg"] > 3
    again = load_case(path)
    assert [p.as_dict() for p in case_plans(again)] == [stored.as_dict()]
    assert parse_plans(again.to_dict())[0].as_dict() == stored.as_dict()  # the contract's reader
    entry = again.history[-1]
    assert entry["action"] == "plan" and entry["plan_id"] == stored.id and entry["change"] == "created"
    assert entry["by"] == "Dr A" and entry["correction_deg"] == pytest.approx(stored.result.correction_deg)


def test_one_plan_per_leg_update_replace_remove():
    case = _case()
    first = save_plan(case, _plan(case, "right"), by="A")
    save_plan(case, _plan(case, "left"), by="A")
    moved = first.with_changes(hinge_px=(first.hinge_px[0] + 3, first.hinge_px[1]))
    updated = save_plan(case, moved, by="B")
    assert updated.id == first.id and updated.created_by == "A" and updated.updated_by == "B"
    assert case.history[-1]["change"] == "updated"
    assert len(case_plans(case)) == 2 and plan_for_side(case, "right").hinge_px == moved.hinge_px
    other = save_plan(case, _plan(case, "right", "hto_close_lateral"), by="C")
    assert case.history[-1]["change"] == "replaced" and case.history[-1]["replaced_plan_id"] == first.id
    assert [p.side for p in case_plans(case)].count("right") == 1
    assert remove_plan(case, other.id, by="C") is True
    assert case.history[-1]["change"] == "removed" and case.history[-1]["old"]["id"] == other.id
    assert plan_for_side(case, "right") is None and remove_plan(case, other.id) is False


def test_restore_plans_puts_back_an_earlier_list():
    case = _case()
    before = case_plans(case)
    p = save_plan(case, _plan(case, "right"))
    n = len(case.history)
    restore_plans(case, before, by="A", change="undo")
    assert case_plans(case) == [] and case.history[n]["plan_id"] == p.id and case.history[n]["change"] == "undo"
    restore_plans(case, [p], change="redo")
    assert case_plans(case)[0].as_dict() == p.as_dict()


def test_plans_survive_unrelated_edits_and_bad_plans_are_named():
    case = _case()
    save_plan(case, _plan(case, "left"))
    case.move_landmark("left", "knee_center", [100.0, 100.0])
    assert len(case_plans(case)) == 1
    case.set("plans", [{"id": "plan-1", "side": "left"}])
    with pytest.raises(PlanError, match=r"plans\[0\]: missing '(method|target)'"):
        case_plans(case)
    case.set("plans", "not a list")
    with pytest.raises(PlanError, match="must be a list"):
        case_plans(case)
