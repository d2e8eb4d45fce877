"""A synthetic two-leg study for the planning tests and figures: right leg valgus (DFO), left leg varus (HTO)."""

from __future__ import annotations

from pathlib import Path

from llm_viewer.core.casefile import CASE_SUFFIX, Case, save_case

DEMO_SEED = 1  # generate_case(1): right HKA ~192° (valgus), left ~173° (varus)
PLANS = {"left": "hto_open_medial", "right": "dfo_open_lateral"}


def write_demo_case(folder: Path, *, height_px: int = 1000, with_plans: bool = True, by: str = "Dr Plan",
                    spacing: bool = True) -> Path:
    """Write ``demo.dcm`` and ``demo.case.json`` (with a default plan per leg) into ``folder``; returns the case."""
    from llm_viewer.core.planning import default_plan, plan_with_result
    from llm_viewer.core.planning_store import save_plan
    from llm_viewer.synth.dicom import dicom_bytes
    from llm_viewer.synth.generator import generate_case
    from llm_viewer.synth.params import SynthConfig
    from llm_viewer.synth.writer import build_case_document

    folder.mkdir(parents=True, exist_ok=True)
    cfg = SynthConfig.with_height(height_px, implants_rate=0.0, one_leg_rate=0.0, monochrome="MONOCHROME2",
                                  calibration="none")
    syn = generate_case(DEMO_SEED, cfg)
    image = folder / "demo.dcm"
    image.write_bytes(dicom_bytes(syn))
    case = Case(build_case_document(syn), source="planning demo")
    case.set_status("predicted", by=by)
    if not spacing:
        case.set_spacing(None, "unknown", by=by)
    case_path = folder / ("demo" + CASE_SUFFIX)
    case.set_image(image, case_path, width_px=syn.width_px, height_px=syn.height_px)
    if with_plans:
        for side, method in PLANS.items():
            lms = case.landmarks(side)
            save_plan(case, plan_with_result(default_plan(lms, side, method, case.pixel_spacing_mm), lms,
                                             case.pixel_spacing_mm), by=by)
    save_case(case, case_path)
    return case_path
