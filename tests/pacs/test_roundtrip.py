"""The PACS round trip against Orthanc: send a synthetic study, find it, retrieve it (C-GET), analyse it with
the bundled demo model, write the case, make the SR, PDF and Secondary Capture, send them, retrieve them back
and check that the SR's landmarks (SCOORD) and metrics (NUM) are the case's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydicom import dcmread

from llm_viewer.pacs import find_series, find_studies, retrieve_study, send_files

from ..report.sr_content import measurement_groups
from .studies import synthetic_study

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"


def analyse_into_case(image_path, case_path):
    """Run the bundled demo model on the CPU (``llm-viewer analyze``) and store its result as a case file."""
    from llm_viewer.cli import main
    from llm_viewer.commands.export import case_from_analysis
    from llm_viewer.core.casefile import save_case

    out = case_path.parent / "analysis.json"
    assert main(["analyze", str(image_path), "--device", "cpu", "--json", str(out)]) == 0
    (doc,) = json.loads(out.read_text())
    case = case_from_analysis(doc, str(out))
    width_px, height_px = doc["image_size_px"]
    case.set_image(image_path, case_path, width_px=width_px, height_px=height_px)
    save_case(case, case_path)
    return doc


@pytest.mark.slow
def test_round_trip_through_orthanc(orthanc, tmp_path):
    node = orthanc.node()
    source = synthetic_study(tmp_path / "synth", seed=77)
    src = dcmread(source)
    study_uid = str(src.StudyInstanceUID)

    # 1. send the synthetic study, find it, retrieve it with C-GET
    assert send_files(node, [source]).ok
    (found,) = find_studies(node, patient_id=str(src.PatientID))
    assert found.study_instance_uid == study_uid and found.modalities == ("DX",)
    got = retrieve_study(node, study_uid, tmp_path / "worklist", method="C-GET")
    (image_path,) = got.paths
    assert np.array_equal(dcmread(image_path).pixel_array, src.pixel_array)

    # 2. analyse the retrieved image with the demo model and write the case next to it
    case_path = image_path.with_name(image_path.name[:-4] + ".case.json")
    doc = analyse_into_case(image_path, case_path)
    assert doc["pixel_spacing_mm"] is not None and doc["spacing_source"] != "unknown"
    from llm_viewer.core.casefile import load_case
    from llm_viewer.core.metrics import compute_leg_metrics

    case = load_case(case_path)
    sides = [s for s in ("right", "left") if case.landmarks(s)]
    assert sides, "the demo model found no leg in the synthetic study"

    # 3. SR, PDF and Secondary Capture in the source study, sent back to Orthanc
    from llm_viewer.report import dicom_codes as codes
    from llm_viewer.report.dicom_results import write_dicom_results

    res = write_dicom_results(case_path, tmp_path / "results")
    assert res.study_instance_uid == study_uid
    sent = send_files(node, [res.sr_path, res.pdf_path, res.sc_path])
    assert sent.ok, [i.message for i in sent.items]

    # 4. the study now holds the image and the three results; read them back from Orthanc
    (found,) = find_studies(node, study_uid=study_uid)
    assert found.n_instances == 4
    assert {"DX", "SR"} <= set(found.modalities)
    assert len(find_series(node, study_uid)) == 4
    back = retrieve_study(node, study_uid, tmp_path / "back")
    by_class: dict[str, list] = {}
    for p in back.paths:
        ds = dcmread(p)
        by_class.setdefault(str(ds.SOPClassUID), []).append(ds)
    (sr,) = by_class[COMPREHENSIVE_SR]
    (pdf,) = by_class[ENCAPSULATED_PDF]
    (sc,) = by_class[SECONDARY_CAPTURE]
    assert bytes(pdf.EncapsulatedDocument).startswith(b"%PDF") and pdf.MIMETypeOfEncapsulatedDocument == \
        "application/pdf"
    assert sc.pixel_array.ndim == 3 and sc.pixel_array.shape[2] == 3 and sc.StudyInstanceUID == study_uid

    groups = measurement_groups(sr)
    for side in sides:
        group = groups[f"{side} leg"]
        points = {codes.landmark_of(i.ConceptNameCodeSequence[0].CodeValue): [float(v) for v in i.GraphicData]
                  for i in group.ContentSequence if i.ValueType == "SCOORD"}
        lms = case.landmarks(side)
        assert set(points) == set(lms)
        for lm, p in lms.items():  # the SR's SCOORDs put (0, 0) at the top-left pixel's corner
            assert points[lm] == pytest.approx([p.x + 0.5, p.y + 0.5], abs=1e-3), (side, lm)
        metrics = compute_leg_metrics(lms, side, case.pixel_spacing_mm).as_dict()
        nums = {codes.metric_key_of(i.ConceptNameCodeSequence[0].CodeValue): float(
                i.MeasuredValueSequence[0].NumericValue) for i in group.ContentSequence if i.ValueType == "NUM"}
        expected = {k: float(v) for k, v in metrics.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "alignment"}
        assert len(expected) >= 5 and None not in nums, nums
        assert nums == pytest.approx(expected, rel=1e-6, abs=1e-6), side
