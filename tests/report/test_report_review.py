"""Issue 18 in the report: a stale approval is never shown as valid (header, review line, exit code), a legacy
approval is "not verifiable", and the free measurements are listed in an "Other measurements" table."""

from __future__ import annotations

import json

from pypdf import PdfReader

from llm_viewer.cli import main
from llm_viewer.core.annotations import distance, new_annotation, vertex_angle
from llm_viewer.core.casefile import load_case, save_case
from llm_viewer.core.history import record_approval

from .test_report import case_on_disk  # noqa: F401 - the fixture


def _pages(path):
    return [p.extract_text() for p in PdfReader(str(path)).pages]


def _approve_with_fingerprint(path):
    case = load_case(path)
    case.approve("Dr Print")
    record_approval(case)
    save_case(case, path)


def test_a_fingerprinted_approval_is_verified(case_on_disk, tmp_path, capsys):  # noqa: F811
    _approve_with_fingerprint(case_on_disk)
    out = tmp_path / "ok.pdf"
    assert main(["report", str(case_on_disk), "--out", str(out)]) == 0
    pages = _pages(out)
    assert "NOT VALID" not in pages[0] + pages[1] and "not verifiable" not in pages[0] + pages[1]
    assert "approved by Dr Print" in pages[1] and "verified" in pages[1]
    assert "approval" not in capsys.readouterr().err.lower()


def test_landmarks_edited_after_the_approval_make_it_not_valid(case_on_disk, tmp_path, capsys):  # noqa: F811
    _approve_with_fingerprint(case_on_disk)
    raw = json.loads(case_on_disk.read_text())
    x, y = raw["legs"]["left"]["landmarks"]["knee_center"]
    raw["legs"]["left"]["landmarks"]["knee_center"] = [x + 6.0, y]  # edited outside the viewer
    case_on_disk.write_text(json.dumps(raw))
    out = tmp_path / "stale.pdf"
    assert main(["report", str(case_on_disk), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "APPROVAL NOT VALID" in err and "no longer matches the landmarks" in err
    assert out.exists()  # written, and it says so
    pages = _pages(out)
    for page in pages:
        assert "APPROVAL NOT VALID" in page  # in the header of both pages
    assert "approved by Dr Print" in pages[1] and "NOT VALID: changed after the approval" in pages[1]
    assert "verified (" not in pages[1]


def test_a_legacy_approval_is_marked_not_verifiable(case_on_disk, tmp_path, capsys):  # noqa: F811
    assert load_case(case_on_disk).get("approval") is None  # approved by Case.approve only: no fingerprint
    out = tmp_path / "legacy.pdf"
    assert main(["report", str(case_on_disk), "--out", str(out)]) == 0
    assert "not verifiable" in capsys.readouterr().err
    pages = _pages(out)
    assert "Approval not verifiable" in pages[0] and "not verifiable" in pages[1]
    assert "verified (" not in pages[1]


def test_other_measurements_table_lists_the_free_measurements(case_on_disk, tmp_path):  # noqa: F811
    case = load_case(case_on_disk)
    ruler = new_annotation("ruler", [[100, 200], [160, 280]], created_by="Dr Ruler", created_at="2026-12-01T12:00:00Z")
    angle = new_annotation("angle", [[300, 400], [250, 450], [320, 470]], created_by="Dr Angle",
                           created_at="2026-12-01T12:01:00Z")
    case.set_annotations([ruler, angle], by="Dr Ruler")
    save_case(case, case_on_disk)
    out = tmp_path / "m.pdf"
    main(["report", str(case_on_disk), "--out", str(out)])
    text = _pages(out)[1]
    sp = case.pixel_spacing_mm
    assert "Other measurements" in text
    assert distance(*ruler.points_px, sp).text in text and "Dr Ruler" in text
    assert vertex_angle(*angle.points_px, sp).text in text and "Dr Angle" in text
    assert "Distance" in text and "Angle (3 points)" in text


def test_no_table_without_free_measurements(case_on_disk, tmp_path):  # noqa: F811
    out = tmp_path / "n.pdf"
    main(["report", str(case_on_disk), "--out", str(out)])
    assert "Other measurements" not in _pages(out)[1]
