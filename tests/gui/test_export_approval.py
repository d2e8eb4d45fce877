"""Issue 18: exports from the viewer never present a stale approval as valid (the case file edited after the
approval, outside the viewer); a legacy approval without a fingerprint is exported marked "not verifiable"."""

from __future__ import annotations

import json

from pypdf import PdfReader

from llm_viewer.core.casefile import Case, load_case, save_case

from .conftest import open_and_wait


def _approved_then_edited_outside(qtbot, make_window, case_image):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    win.approve("Dr. Print")
    path = win.doc.case_path
    assert load_case(path).get("approval")["fingerprint"]
    raw = json.loads(path.read_text())
    x, y = raw["legs"]["right"]["landmarks"]["knee_center"]
    raw["legs"]["right"]["landmarks"]["knee_center"] = [x + 5.0, y]  # another tool, no history entry
    path.write_text(json.dumps(raw))
    win2 = make_window()
    open_and_wait(qtbot, win2, case_image)
    assert win2.doc.case.status == "approved"
    return win2


def test_an_approval_edited_outside_the_viewer_blocks_both_exports(qtbot, make_window, case_image, tmp_path):
    win = _approved_then_edited_outside(qtbot, make_window, case_image)
    assert "no longer matches the landmarks" in win.banner.text  # said when the case is opened
    assert win.export_report(tmp_path / "r.pdf") is None
    assert "Report not written" in win.last_error and "no longer matches" in win.last_error
    assert not (tmp_path / "r.pdf").exists()
    assert win.export_to_store(tmp_path / "store", reviewer="Dr. Print") is None
    assert "Not exported" in win.last_error and "no longer matches" in win.last_error
    assert not (tmp_path / "store").exists()


def test_a_legacy_approval_is_exported_marked_not_verifiable(qtbot, make_window, case_image, tmp_path):
    win = make_window()
    open_and_wait(qtbot, win, case_image)
    path = win.doc.case_path
    case = load_case(path)
    case.approve("Dr. Legacy")  # as an older version did: no fingerprint
    doc = case.to_dict()
    doc.pop("approval", None)
    save_case(Case(doc), path)
    win2 = make_window()
    open_and_wait(qtbot, win2, case_image)
    out = tmp_path / "legacy.pdf"
    with qtbot.waitSignal(win2.reportWritten, timeout=60000):
        assert win2.export_report(out) is not None
    assert "not verifiable" in win2.banner.text
    first = PdfReader(str(out)).pages[0].extract_text()
    assert "Approval not verifiable" in first
