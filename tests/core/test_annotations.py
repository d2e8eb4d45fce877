"""Free measurements (core.annotations): geometry with non-square pixels, parsing, case-file storage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from llm_viewer.core.annotations import (
    AnnotationError,
    annotation_text,
    distance,
    line_angle,
    measure_annotation,
    new_annotation,
    parse_annotations,
    radius_mm,
    vertex_angle,
)
from llm_viewer.core.casefile import Case, CaseFileError, load_case, save_case

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "examples" / "example_case.json"


def test_distance_uses_row_spacing_for_y_and_column_spacing_for_x():
    d = distance((0, 0), (30, 40), (0.2, 0.1))  # row 0.2 mm, col 0.1 mm
    assert d.unit == "mm" and d.calibrated
    assert d.value == pytest.approx(math.hypot(30 * 0.1, 40 * 0.2))
    assert d.text == f"{math.hypot(3.0, 8.0):.1f} mm"
    px = distance((0, 0), (30, 40), None)
    assert px.value == pytest.approx(50.0) and px.unit == "px" and px.text == "50 px (uncalibrated)"


def test_vertex_angle_and_non_square_pixels():
    assert vertex_angle((10, 0), (0, 0), (0, 10)).value == pytest.approx(90.0)
    assert vertex_angle((10, 0), (0, 0), (-10, 0)).value == pytest.approx(180.0)
    # 45° in pixels is not 45° on the patient when rows are twice as tall as columns
    a = vertex_angle((10, 0), (0, 0), (10, 10), (0.2, 0.1)).value
    assert a == pytest.approx(math.degrees(math.atan2(10 * 0.2, 10 * 0.1)))
    assert vertex_angle((10, 0), (0, 0), (10, 10)).text == "45.0°"
    with pytest.raises(AnnotationError, match="coincide"):
        vertex_angle((0, 0), (0, 0), (5, 5))


def test_line_angle_is_the_acute_angle_whatever_the_click_order():
    assert line_angle((0, 0), (10, 0), (0, 0), (10, 10)).value == pytest.approx(45.0)
    assert line_angle((10, 0), (0, 0), (0, 0), (10, 10)).value == pytest.approx(45.0)  # reversed first line
    assert line_angle((0, 0), (10, 0), (0, 5), (10, 5)).value == pytest.approx(0.0)
    assert line_angle((0, 0), (0, 10), (0, 0), (10, 1)).value == pytest.approx(90 - math.degrees(math.atan(0.1)))


def test_parse_rejects_bad_measurements_naming_them():
    good = new_annotation("ruler", [[1, 2], [3, 4]], created_by="A", created_at="t").as_dict()
    assert parse_annotations([good])[0].points_px == ((1.0, 2.0), (3.0, 4.0))
    assert parse_annotations(None) == []
    for bad, msg in (([{"kind": "circle", "points_px": []}], "unknown kind"),
                     ([{"kind": "angle", "points_px": [[0, 0], [1, 1]]}], "needs 3 points"),
                     ([{"kind": "ruler", "points_px": [[0, 0], [1, "x"]]}], r"\[x, y\] numbers"),
                     ([{"kind": "ruler", "points_px": [[0, 0], [1, float("nan")]]}], "finite"),
                     ([good, good], "same id"),
                     ({"kind": "ruler"}, "must be a list")):
        with pytest.raises(AnnotationError, match=msg):
            parse_annotations(bad)


def test_measure_and_text_never_raise_for_display():
    ann = new_annotation("angle", [[0, 0], [0, 0], [0, 0]], created_by=None, created_at=None)
    with pytest.raises(AnnotationError):
        measure_annotation(ann, None)
    assert annotation_text(ann, None).startswith("undefined")
    assert radius_mm(2.0, (0.1, 0.15)) == pytest.approx(0.3) and radius_mm(2.0, None) is None


def test_old_case_files_load_unchanged_and_annotations_round_trip(tmp_path):
    old = json.loads(EXAMPLE.read_text())
    assert "annotations" not in old
    case = Case(old)
    assert case.annotations == []
    save_case(case, tmp_path / "a.case.json")
    assert "annotations" not in json.loads((tmp_path / "a.case.json").read_text())  # nothing added
    ann = new_annotation("line_angle", [[0, 0], [10, 0], [0, 5], [10, 9]], created_by="Dr. B",
                         created_at="2026-12-01T12:00:00Z")
    case.set_annotations([ann], by="Dr. B", action="annotation_added", id=ann.id)
    save_case(case, tmp_path / "a.case.json")
    back = load_case(tmp_path / "a.case.json")
    assert back.annotations == [ann]
    assert back.history[-1]["action"] == "annotation_added"
    doc = json.loads((tmp_path / "a.case.json").read_text())
    doc["annotations"][0]["points_px"] = [[0, 0]]
    (tmp_path / "b.case.json").write_text(json.dumps(doc))
    with pytest.raises(CaseFileError, match=r"b\.case\.json: measurement annotations\[0\]: a line_angle needs 4 points"):
        load_case(tmp_path / "b.case.json")
