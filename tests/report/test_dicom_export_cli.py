"""``llm-viewer dicom-export``: files written, user errors as one line, exit status."""

from __future__ import annotations

import numpy as np
from pydicom import dcmread

from llm_viewer.cli import main

from .test_dicom_sr import make_dicom_case


def test_exports_the_requested_objects(tmp_path, capsys):
    case_path = make_dicom_case(tmp_path)
    out = tmp_path / "dicom"
    assert main(["dicom-export", str(case_path), "--out", str(out), "--only", "sr,pdf",
                 "--reviewer", "Fellow^Fay"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "leg.sr.dcm"), str(out / "leg.pdf.dcm")]
    assert not (out / "leg.sc.dcm").exists()
    sr = dcmread(out / "leg.sr.dcm")
    names = [str(it.PersonName) for it in sr.ContentSequence if it.ValueType == "PNAME"]
    assert names == ["Fellow^Fay"]


def test_png_case_is_skipped_with_one_line(tmp_path, capsys):
    import cv2

    png = tmp_path / "leg.png"
    cv2.imwrite(str(png), np.zeros((760, 320), np.uint8))
    case_path = make_dicom_case(tmp_path, image=png)
    assert main(["dicom-export", str(case_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "is a PNG image, not DICOM" in err and "Traceback" not in err
    assert "no DICOM results written" in err


def test_stale_approval_exits_1_and_bad_only_is_refused(tmp_path, capsys):
    from llm_viewer.core.casefile import load_case, save_case

    case_path = make_dicom_case(tmp_path)
    case = load_case(case_path)  # another tool moves a point and leaves the status "approved"
    kc = case.landmark("left", "knee_center")
    case.move_landmark("left", "knee_center", [kc.x + 2, kc.y], by="x")
    case.set("review", dict(case.get("approval"), status="approved"))
    save_case(case, case_path)
    assert main(["dicom-export", str(case_path), "--out", str(tmp_path / "o"), "--only", "sr"]) == 1
    err = capsys.readouterr().err
    assert "the SR is UNVERIFIED" in err and "no longer matches" in err
    assert dcmread(tmp_path / "o" / "leg.sr.dcm").VerificationFlag == "UNVERIFIED"
    assert main(["dicom-export", str(case_path), "--out", str(tmp_path / "o"), "--only", "sr,xml"]) == 2
    assert "unknown kind 'xml'" in capsys.readouterr().err
