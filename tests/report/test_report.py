"""The PDF report and the CSV export show exactly what ``llm-viewer measure`` computes."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from pypdf import PdfReader

from llm_viewer.cli import main
from llm_viewer.core.casefile import Case, save_case
from llm_viewer.core.measurement import measure_document
from llm_viewer.core.metrics import METRIC_KEYS


def _scaled_example(example, factor):
    legs = {s: {lm: [x * factor, y * factor] for lm, (x, y) in leg["landmarks"].items()}
            for s, leg in example["legs"].items()}
    sp = example["pixel_spacing_mm"]
    return legs, ([sp[0] / factor, sp[1] / factor] if sp else None)


@pytest.fixture()
def case_on_disk(tmp_path, alignment_examples):
    """A 16-bit PNG radiograph-like image (bright bones on grey) with a predicted, partly corrected case."""
    legs, spacing = _scaled_example(alignment_examples[0], 0.25)
    h, w = 2025, 700
    img = np.full((h, w), 9000, np.uint16)
    for leg in legs.values():
        pts = {k: (int(v[0]), int(v[1])) for k, v in leg.items()}
        cv2.line(img, pts["femoral_head"], pts["knee_center"], 40000, 18)
        ank = ((pts["malleolus_lateral"][0] + pts["malleolus_medial"][0]) // 2, pts["malleolus_lateral"][1])
        cv2.line(img, pts["knee_center"], ank, 40000, 16)
        cv2.circle(img, pts["femoral_head"], 14, 50000, -1)
    image_path = tmp_path / "img.png"
    cv2.imwrite(str(image_path), img)
    case_path = tmp_path / "img.case.json"
    case = Case.new(pixel_spacing_mm=spacing, spacing_source="PixelSpacing")
    case.set_image(image_path, case_path, width_px=w, height_px=h)
    for side, lms in legs.items():
        for lm, xy in lms.items():
            case.set_prediction(side, lm, xy, model_id="sgr-demo-0.1", score=0.9, uncertainty_px=3.0,
                                flagged=(side, lm) == ("left", "femoral_head"))
    kc = legs["right"]["knee_center"]
    case.move_landmark("right", "knee_center", [kc[0] + 4, kc[1] - 2], by="Dr Test")
    case.approve("Dr Test")
    save_case(case, case_path)
    return case_path


def _pdf_text(path):
    reader = PdfReader(str(path))
    return [page.extract_text() for page in reader.pages]


def test_pdf_values_equal_measure(case_on_disk, tmp_path, capsys):
    out = tmp_path / "r.pdf"
    assert main(["report", str(case_on_disk), "--out", str(out), "--institution", "Test Hospital"]) == 0
    pages = _pdf_text(out)
    assert len(pages) == 2
    text = pages[1]
    measured = measure_document(json.loads(case_on_disk.read_text())).as_dict()
    for side in ("right", "left"):
        for key in METRIC_KEYS:
            v = measured["legs"][side]["metrics"][key]
            if isinstance(v, float):
                assert f"{v:.1f}" in text, (side, key, v)
            else:
                assert str(v) in text, (side, key, v)
    assert f"{measured['study']['lld_mm']:+.1f} mm" in text
    assert "Test Hospital" in pages[0]
    assert "sgr-demo-0.1" in text
    assert "approved by Dr Test" in text
    assert "corrected by hand (1)" in text and "right Knee centre" in text
    assert "DE-IDENTIFIED" in pages[0]
    assert text.count("DOUBTFUL") == 1
    assert "Research use only" in pages[0]


def test_out_of_range_values_are_flagged(case_on_disk, tmp_path):
    out = tmp_path / "r.pdf"
    main(["report", str(case_on_disk), "--out", str(out)])
    text = _pdf_text(out)[1]
    measured = measure_document(json.loads(case_on_disk.read_text())).as_dict()
    hka = measured["legs"]["right"]["metrics"]["hka_deg"]  # 193.9: valgus, out of range
    assert f"{hka:.1f}° *" in text


def test_report_without_image_or_with_incomplete_leg(case_on_disk, tmp_path, capsys):
    raw = json.loads(case_on_disk.read_text())
    del raw["legs"]["left"]["landmarks"]["malleolus_medial"]
    raw["image"]["path"] = "gone.png"
    bad = tmp_path / "bad.case.json"
    bad.write_text(json.dumps(raw))
    out = tmp_path / "bad.pdf"
    assert main(["report", str(bad), "--out", str(out), "--allow-missing-image"]) == 0
    err = capsys.readouterr().err
    assert "image not found" in err
    pages = _pdf_text(out)
    assert "Image not shown" in pages[0]
    # the leg is measured from what is there: the reason stands where a number would be
    assert "Left leg not measured" not in pages[1]
    assert pages[1].count("needs malleolus_medial") >= 12  # each metric needing the ankle centre, and LLD
    measured = measure_document(raw).as_dict()["legs"]["left"]["metrics"]
    assert measured["mldfa_deg"] is not None and f"{measured['mldfa_deg']:.1f}°" in pages[1]


def test_report_many_cases_into_folder_and_bad_case_skipped(case_on_disk, tmp_path, capsys):
    broken = tmp_path / "broken.case.json"
    broken.write_text("{oops")
    outdir = tmp_path / "reports"
    code = main(["report", str(case_on_disk), str(broken), "--out", str(outdir)])
    assert code == 1
    assert (outdir / "img.pdf").exists()
    assert "skipped" in capsys.readouterr().err


def test_export_csv_one_row_per_leg(case_on_disk, tmp_path):
    out = tmp_path / "study.csv"
    assert main(["export-csv", str(tmp_path), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["side"] for r in rows] == ["right", "left"]
    measured = measure_document(json.loads(case_on_disk.read_text())).as_dict()
    for r in rows:
        m = measured["legs"][r["side"]]["metrics"]
        assert float(r["hka_deg"]) == pytest.approx(m["hka_deg"], abs=1e-4)
        assert float(r["mad_mm"]) == pytest.approx(m["mad_mm"], abs=1e-4)
        assert r["cpak_type"] == str(m["cpak_type"])
        assert r["status"] == "approved" and r["reviewer"] == "Dr Test"
        assert float(r["uncertainty_mean_px"]) == pytest.approx(3.0)
    assert rows[0]["manual_landmarks"] == "knee_center" and rows[1]["manual_landmarks"] == ""
    assert rows[0]["flagged_landmarks"] == "" and rows[1]["flagged_landmarks"] == "femoral_head"


def _partial_case(case_on_disk, tmp_path, drop: dict[str, tuple[str, ...]], name: str):
    raw = json.loads(case_on_disk.read_text())
    for side, lms in drop.items():
        for lm in lms:
            del raw["legs"][side]["landmarks"][lm]
            raw["legs"][side].get("provenance", {}).pop(lm, None)
    path = tmp_path / f"{name}.case.json"
    path.write_text(json.dumps(raw))
    return path, measure_document(raw)


def test_pdf_shows_reasons_inline_or_as_notes_and_every_computed_value(case_on_disk, tmp_path):
    path, measured = _partial_case(case_on_disk, tmp_path, {
        "right": ("diaphysis_center",),
        "left": ("femoral_head", "malleolus_lateral", "malleolus_medial"),
    }, "partial")
    out = tmp_path / "partial.pdf"
    assert main(["report", str(path), "--out", str(out)]) == 0
    text = _pdf_text(out)[1]
    right, left = measured.legs["right"].metrics, measured.legs["left"].metrics
    assert text.count("needs diaphysis_center") >= 1  # right FVA, short enough for its cell
    assert "needs femoral_head" in text  # left mLDFA and femur length
    # left HKA lacks three landmarks: too long for the cell, explained in a numbered note
    assert "not computed [1]" in text
    assert "[1] not computed: needs femoral_head, malleolus_lateral, malleolus_medial" in text
    for key in METRIC_KEYS:
        v = right.as_dict()[key]
        assert v is not None or key == "fva_deg"
        if isinstance(v, float):
            assert f"{v:.1f}" in text, key
    assert "needs femoral_head, malleolus_lateral, malleolus_medial of the left leg" in text  # LLD row
    assert left.as_dict()["hka_deg"] is None and "not measured" not in text


def test_export_csv_partial_leg_has_empty_cells_and_the_reason(case_on_disk, tmp_path):
    _partial_case(case_on_disk, tmp_path, {"left": ("diaphysis_center", "femoral_head")}, "partial")
    case_on_disk.unlink()
    out = tmp_path / "study.csv"
    assert main(["export-csv", str(tmp_path), "--out", str(out)]) == 0
    rows = {r["side"]: r for r in csv.DictReader(out.open())}
    right, left = rows["right"], rows["left"]
    assert left["fva_deg"] == "" and left["hka_deg"] == "" and left["leg_length_mm"] == ""
    assert float(left["mmpta_deg"]) > 0 and float(left["tibia_length_mm"]) > 0  # still computed
    assert left["error"] == ""
    parts = dict(item.split(" needs ", 1) for item in left["unmeasured"].split("; "))
    assert parts["fva_deg"] == "diaphysis_center, femoral_head"
    assert parts["hka_deg"] == "femoral_head" and parts["lld_mm"] == "left.leg_length_mm"
    assert "mmpta_deg" not in parts and "tibia_length_mm" not in parts
    assert right["unmeasured"] == "lld_mm needs left.leg_length_mm" and right["lld_mm"] == ""
    assert float(right["fva_deg"]) > 0
