"""``llm-viewer plan``: prints what core.planning computes, saves the plan with --save, one-line errors."""

from __future__ import annotations

import json

import pytest

from llm_viewer.cli import main
from llm_viewer.core.casefile import Case, load_case, save_case
from llm_viewer.core.planning import PlanTarget, default_plan, simulate
from llm_viewer.core.planning_store import case_plans
from tests.core.planning_cases import synthetic_leg

SPACING = (0.14, 0.14)


@pytest.fixture()
def case_path(tmp_path):
    case = Case.new(pixel_spacing_mm=SPACING, spacing_source="synthetic")
    for side, knee in (("right", 8.0), ("left", -7.0)):
        for lm, xy in synthetic_leg(side, knee, SPACING).items():
            case.set_ground_truth(side, lm, xy)
    path = tmp_path / "leg.case.json"
    save_case(case, path)
    return path


def test_json_equals_core_and_save_stores_the_plan(case_path, capsys):
    assert main(["plan", str(case_path), "--side", "right", "--method", "hto_open_medial", "--target-wbl", "60",
                 "--json", "--save", "--by", "Dr P"]) == 0
    out = json.loads(capsys.readouterr().out)
    lms = load_case(case_path).landmarks("right")
    expected = simulate(default_plan(lms, "right", "hto_open_medial", SPACING,
                                     target=PlanTarget("wbl_ratio_pct", 60.0)), lms, "right", SPACING)
    assert out["result"]["correction_deg"] == pytest.approx(expected.correction_deg)
    assert out["result"]["post"]["wbl_ratio_pct"] == pytest.approx(60.0, abs=0.5)
    stored = case_plans(load_case(case_path))
    assert [p.id for p in stored] == [out["id"]] and stored[0].created_by == "Dr P"
    assert load_case(case_path).history[-1]["action"] == "plan"


def test_table_hinge_and_hka_deviation(case_path, capsys):
    lms = load_case(case_path).landmarks("right")
    base = default_plan(lms, "right", "hto_close_lateral", SPACING)
    hinge = (base.hinge_px[0] - 20.0, base.hinge_px[1] + 10.0)
    assert main(["plan", str(case_path), "--side", "right", "--method", "hto_close_lateral", "--target-hka", "1.5",
                 "--hinge", str(hinge[0]), str(hinge[1])]) == 0
    text = capsys.readouterr().out
    res = simulate(base.with_changes(hinge_px=hinge, target=PlanTarget("hka_deg", 181.5)), lms, "right", SPACING)
    assert f"correction angle   {res.correction_deg:.2f}°" in text
    assert f"{res.wedge_height_mm:.1f} mm" in text and "HKA 181.5°" in text
    assert case_plans(load_case(case_path)) == []  # nothing saved without --save


def test_default_method_follows_the_knee(case_path, capsys):
    assert main(["plan", str(case_path), "--side", "left", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "dfo_open_lateral" and out["target"] == {"kind": "wbl_ratio_pct", "value": 50.0}


@pytest.mark.parametrize("argv,message", [
    (["--side", "right", "--method", "dfo_open_lateral"], "away from the target"),
    ([], "both legs"),
    (["--side", "right", "--hinge", "1", "1", "--cut-start", "1", "1"], "coincide"),
    (["--side", "right", "--target-wbl", "500"], "out of range"),
])
def test_errors_are_one_line(case_path, capsys, argv, message):
    assert main(["plan", str(case_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_missing_file(tmp_path, capsys):
    assert main(["plan", str(tmp_path / "none.case.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_stored_plans_and_missing_landmarks_are_one_line_errors(case_path, capsys):
    case = load_case(case_path)
    case.set("plans", "not a list")
    save_case(case, case_path)
    assert main(["plan", str(case_path), "--side", "right"]) == 2
    assert "'plans' must be a list" in capsys.readouterr().err
    case.set("plans", [])
    case.remove_landmark("right", "tibial_plateau_lateral")
    save_case(case, case_path)
    assert main(["plan", str(case_path), "--side", "right", "--method", "hto_open_medial"]) == 2
    err = capsys.readouterr().err
    assert "tibial_plateau_lateral" in err and "Traceback" not in err
