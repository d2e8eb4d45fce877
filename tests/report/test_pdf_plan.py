"""The PDF's plan page: one page per plan, numbers from core.planning recomputed on the current landmarks."""

from __future__ import annotations

import pytest
from pypdf import PdfReader

from llm_viewer.core.casefile import load_case, save_case
from llm_viewer.core.planning import simulate
from llm_viewer.core.planning_store import case_plans
from llm_viewer.report.model import build_case_report
from llm_viewer.report.pdf import render_case_pdf
from llm_viewer.report.pdf_plan import plan_pages
from tests.planning_fixtures import write_demo_case


def _pages(path):
    return [" ".join(p.extract_text().split()) for p in PdfReader(str(path)).pages]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("plan") / "study")


def test_one_plan_page_per_plan_with_core_numbers(demo, tmp_path):
    out = tmp_path / "r.pdf"
    render_case_pdf(build_case_report(demo), out)
    pages = _pages(out)
    assert len(pages) == 4 and "page 4/4" in pages[3] and "page 1/4" in pages[0]
    case = load_case(demo)
    for text, side in ((pages[2], "right"), (pages[3], "left")):
        plan = next(p for p in case_plans(case) if p.side == side)
        res = simulate(plan, case.landmarks(side), side, case.pixel_spacing_mm)
        assert f"Osteotomy plan: {side} leg" in text
        assert f"Correction angle {res.correction_deg:.1f}°" in text
        assert f"{res.wedge_height_mm:.1f} mm" in text
        assert f"{res.post['hka_deg']:.1f}°" in text and f"{res.pre['hka_deg']:.1f}°" in text
        assert plan.id in text and "Dr Plan" in text
    assert "changed since the plan was saved" not in pages[2]


def test_no_plan_no_page(tmp_path):
    case_path = write_demo_case(tmp_path / "s", height_px=800, with_plans=False)
    out = tmp_path / "r.pdf"
    render_case_pdf(build_case_report(case_path), out)
    pages = _pages(out)
    assert len(pages) == 2 and "page 2/2" in pages[1] and "Osteotomy plan" not in "".join(pages)


def test_moved_landmarks_are_flagged_and_recomputed(demo, tmp_path):
    case = load_case(demo)
    k = case.landmark("left", "malleolus_medial")
    case.move_landmark("left", "malleolus_medial", [k.x + 15, k.y], by="x")
    moved = tmp_path / "demo.case.json"
    case.set_image(demo.parent / "demo.dcm", moved)
    save_case(case, moved)
    report = build_case_report(moved)
    page = next(p for p in plan_pages(report) if p.plan.side == "left")
    assert page.stale and page.result.correction_deg != pytest.approx(page.plan.result.correction_deg)
    out = tmp_path / "r.pdf"
    render_case_pdf(report, out)
    text = _pages(out)[3]
    assert "changed since the plan was saved" in text and f"{page.result.correction_deg:.1f}°" in text


def test_uncalibrated_plan_refuses_the_wedge(tmp_path):
    case_path = write_demo_case(tmp_path / "u", height_px=800, spacing=False)
    out = tmp_path / "r.pdf"
    render_case_pdf(build_case_report(case_path), out)
    text = _pages(out)[3]
    assert "refused: no calibration" in text and "Correction angle" in text


def test_unsimulable_plan_shows_why(tmp_path):
    case_path = write_demo_case(tmp_path / "x", height_px=800)
    case = load_case(case_path)
    raw = case.get("plans")
    left = next(p for p in raw if p["side"] == "left")
    left["hinge_px"], left["cut_start_px"] = left["cut_start_px"], left["hinge_px"]
    case.set("plans", raw)
    save_case(case, case_path)
    out = tmp_path / "r.pdf"
    render_case_pdf(build_case_report(case_path), out)
    text = _pages(out)[3]
    assert "cannot be simulated" in text and "wrong side" in text
