"""The Encapsulated PDF and the overlay Secondary Capture: in the source study, referencing the source image."""

from __future__ import annotations

import io

import pytest
from pydicom import dcmread
from pypdf import PdfReader

from llm_viewer.core.casefile import load_case
from llm_viewer.report.dicom_results import write_dicom_results

from .test_dicom_sr import make_dicom_case


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dicom-objects")
    case_path = make_dicom_case(tmp)
    res = write_dicom_results(case_path, tmp / "out")
    return tmp, case_path, res


def _same_study(obj, src):
    assert obj.StudyInstanceUID == src.StudyInstanceUID
    assert obj.SeriesInstanceUID != src.SeriesInstanceUID
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
               "StudyDate"):
        assert obj.get(kw) == src.get(kw), kw
    ref = obj.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == src.SeriesInstanceUID
    assert ref.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID


def test_three_files_in_one_new_series_each(results):
    tmp, _, res = results
    assert [p.name for p in res.paths] == ["leg.sr.dcm", "leg.pdf.dcm", "leg.sc.dcm"]
    series = {dcmread(p, stop_before_pixels=True).SeriesInstanceUID for p in res.paths}
    assert len(series) == 3
    assert not [p for p in (tmp / "out").iterdir() if p.name.startswith(".tmp-")]


def test_encapsulated_pdf(results):
    tmp, _, res = results
    src = dcmread(tmp / "leg.dcm", stop_before_pixels=True)
    ds = dcmread(res.pdf_path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert ds.Modality == "DOC" and ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    _same_study(ds, src)
    assert ds.SourceInstanceSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert ds.SourceInstanceSequence[0].ReferencedSOPClassUID == src.SOPClassUID
    pdf = bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "approved by House^Gregory" in text and "sgr-test-1" in text
    assert "General Hospital" in text  # the source's institution in the header
    assert ds.VerificationFlag == "VERIFIED"


def test_secondary_capture_burns_the_overlay_into_the_source_grid(results):
    tmp, case_path, res = results
    src = dcmread(tmp / "leg.dcm")
    ds = dcmread(res.sc_path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert ds.BurnedInAnnotation == "YES" and ds.PhotometricInterpretation == "RGB"
    _same_study(ds, src)
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    rgb = ds.pixel_array
    assert rgb.shape == (src.Rows, src.Columns, 3)
    grey = (rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])
    # away from the overlay the capture is the windowed radiograph: bone bright, background dark, grey
    assert grey[40:80, :].all()  # above the hips: nothing drawn
    assert rgb[60, 65, 0] > rgb[60, 140, 0] + 100
    case = load_case(case_path)
    for side in ("right", "left"):
        for p in case.landmarks(side).values():  # each landmark is drawn in colour where it is
            x, y = int(round(p.x)), int(round(p.y))
            assert not grey[y, x], (side, p)
