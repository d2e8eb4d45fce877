"""The DICOM SR measurement report holds the case's landmarks (pixel-corner origin) and core's metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from llm_viewer.core.casefile import Case, load_case, save_case
from llm_viewer.core.history import record_approval
from llm_viewer.core.metrics import METRIC_KEYS, compute_leg_metrics, compute_study_metrics
from llm_viewer.report import dicom_codes as C
from llm_viewer.report.dicom_results import DicomResultsError, write_dicom_results

from .sr_content import measurement_groups, walk

SPEC = Path(__file__).resolve().parents[1] / "data" / "spec" / "alignment_examples.json"
SCALE = 0.1
DX = "1.2.840.10008.5.1.4.1.1.1.1"


def source_dataset(rows: int = 760, cols: int = 320, **attrs) -> Dataset:
    """A small DX image: dark background, two bright 'bones' (enough for an overlay to be drawn on)."""
    pixels = np.full((rows, cols), 600, np.uint16)
    pixels[:, 40:90] = 3000
    pixels[:, 200:250] = 3000
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = DX
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-0001"
    ds.PatientBirthDate = "19600102"
    ds.PatientSex = "F"
    ds.StudyDate = "20240305"
    ds.StudyTime = "101500"
    ds.StudyID = "7"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Long leg standing"
    ds.AccessionNumber = "ACC-42"
    ds.InstitutionName = "General Hospital"
    ds.Manufacturer = "ACME"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]
    ds.ImagerPixelSpacing = [1.43, 1.43]
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds


def make_dicom_case(tmp_path: Path, *, approve: bool = True, fingerprint: bool = True, drop: tuple = (),
                    plans: list | None = None, image: Path | None = None, name: str = "leg") -> Path:
    """A DICOM image plus its case file (the spec's first example scaled by 0.1); returns the case path."""
    example = json.loads(SPEC.read_text())["cases"][0]
    image_path = image or tmp_path / f"{name}.dcm"
    if image is None:
        source_dataset().save_as(image_path, enforce_file_format=True)
    case_path = tmp_path / f"{name}.case.json"
    case = Case.new(pixel_spacing_mm=[s / SCALE for s in example["pixel_spacing_mm"]],
                    spacing_source="ImagerPixelSpacing")
    case.set_image(image_path, case_path, width_px=320, height_px=760)
    for side, leg in example["legs"].items():
        for lm, (x, y) in leg["landmarks"].items():
            if (side, lm) not in drop:
                case.set_prediction(side, lm, [x * SCALE, y * SCALE], model_id="sgr-test-1", score=0.9)
    kc = case.landmark("right", "knee_center")
    case.move_landmark("right", "knee_center", [kc.x + 0.25, kc.y - 0.75], by="Dr Move")
    if approve:
        case.approve("House^Gregory")
        if fingerprint:
            record_approval(case)
    if plans is not None:
        case.set("plans", plans)
    save_case(case, case_path)
    return case_path


def _children(group, value_type):
    return [c for c in group.ContentSequence if c.ValueType == value_type]


def test_landmarks_and_metrics_round_trip(tmp_path):
    case_path = make_dicom_case(tmp_path)
    res = write_dicom_results(case_path, tmp_path / "out", include=("sr",))
    assert res.pdf_path is None and res.sc_path is None
    assert res.sr_path.name == "leg.sr.dcm"
    sr = dcmread(res.sr_path)
    case = load_case(case_path)
    src = dcmread(tmp_path / "leg.dcm", stop_before_pixels=True)
    groups = measurement_groups(sr)
    assert set(groups) == {"right leg", "left leg", "both legs"}
    legs = {}
    for side in ("right", "left"):
        group = groups[f"{side} leg"]
        points = {}
        for item in _children(group, "SCOORD"):
            lm = C.landmark_of(item.ConceptNameCodeSequence[0].CodeValue)
            assert item.GraphicType == "POINT"
            ref = item.ContentSequence[0]
            assert ref.RelationshipType == "SELECTED FROM"
            assert ref.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
            assert ref.ReferencedSOPSequence[0].ReferencedSOPClassUID == src.SOPClassUID
            points[lm] = [float(v) for v in item.GraphicData]
        lms = case.landmarks(side)
        assert set(points) == set(lms)
        for lm, p in lms.items():  # pixel-centre [0, 0] in the case -> pixel-corner (0.5, 0.5) in DICOM
            # GraphicData is FL (float32): exact to ~1e-5 px here, to < 1e-3 px on a 10 000-row image
            assert points[lm] == pytest.approx([p.x + 0.5, p.y + 0.5], abs=1e-4), (side, lm)
        expected = compute_leg_metrics(lms, side, case.pixel_spacing_mm)
        legs[side] = expected
        nums = {item.ConceptNameCodeSequence[0].CodeValue: item for item in _children(group, "NUM")}
        for key in METRIC_KEYS:
            code, unit = C.METRIC_CODES[key]
            value = getattr(expected, key)
            if key == "alignment":
                codes_ = [c for c in _children(group, "CODE")
                          if c.ConceptNameCodeSequence[0].CodeValue == code.value]
                assert codes_[0].ConceptCodeSequence[0].CodeValue == C.ALIGNMENT_VALUES[value].value
                continue
            mv = nums[code.value].MeasuredValueSequence[0]
            assert float(mv.NumericValue) == pytest.approx(value, rel=1e-9, abs=1e-9), (side, key)
            assert mv.MeasurementUnitsCodeSequence[0].CodeValue == unit.value
            assert mv.MeasurementUnitsCodeSequence[0].CodingSchemeDesignator == "UCUM"
        sites = [c for c in _children(group, "CODE") if c.ConceptNameCodeSequence[0].CodeValue == "363698007"]
        lat = sites[0].ContentSequence[0].ConceptCodeSequence[0]
        assert lat.CodeValue == C.LATERALITY[side].value
    lld = _children(groups["both legs"], "NUM")[0].MeasuredValueSequence[0]
    assert float(lld.NumericValue) == pytest.approx(compute_study_metrics(legs).lld_mm, abs=1e-9)
    units = {it.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue
             for it in walk(sr.ContentSequence) if it.ValueType == "NUM"}
    assert {"deg", "mm", "%", "1"} <= units


def test_sr_sits_in_the_source_study(tmp_path):
    res = write_dicom_results(make_dicom_case(tmp_path), tmp_path / "out", include=("sr",))
    sr = dcmread(res.sr_path)
    src = dcmread(tmp_path / "leg.dcm", stop_before_pixels=True)
    assert res.study_instance_uid == src.StudyInstanceUID == sr.StudyInstanceUID
    assert sr.SeriesInstanceUID != src.SeriesInstanceUID and sr.SOPInstanceUID != src.SOPInstanceUID
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyDate",
               "StudyID"):
        assert sr.get(kw) == src.get(kw), kw
    ev = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert ev.StudyInstanceUID == src.StudyInstanceUID
    assert ev.ReferencedSeriesSequence[0].SeriesInstanceUID == src.SeriesInstanceUID
    assert ev.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    scheme = sr.CodingSchemeIdentificationSequence[0]
    assert scheme.CodingSchemeDesignator == "99LLMV"


def _observers(sr):
    out = {}
    for item in sr.ContentSequence:
        if item.ValueType in ("PNAME", "TEXT", "UIDREF") and item.RelationshipType == "HAS OBS CONTEXT":
            out[item.ConceptNameCodeSequence[0].CodeMeaning] = (
                str(item.get("PersonName", "")) or item.get("TextValue") or item.get("UID"))
    return out


def test_approved_case_is_verified_by_its_approver(tmp_path):
    res = write_dicom_results(make_dicom_case(tmp_path), tmp_path / "out", include=("sr",))
    sr = dcmread(res.sr_path)
    assert sr.VerificationFlag == "VERIFIED" and sr.CompletionFlag == "COMPLETE"
    assert sr.PreliminaryFlag == "FINAL"
    assert str(sr.VerifyingObserverSequence[0].VerifyingObserverName) == "House^Gregory"
    obs = _observers(sr)
    assert obs["Person Observer Name"] == "House^Gregory"
    assert obs["Device Observer Name"] == "llm-viewer"
    texts = [str(it.TextValue) for it in walk(sr.ContentSequence) if it.ValueType == "TEXT"]
    assert "sgr-test-1" in texts  # algorithm version = the model id
    assert res.warnings == []


def test_unapproved_and_stale_cases_are_unverified(tmp_path):
    res = write_dicom_results(make_dicom_case(tmp_path, approve=False), tmp_path / "a", include=("sr",),
                              reviewer="Resident^Rita")
    sr = dcmread(res.sr_path)
    assert sr.VerificationFlag == "UNVERIFIED" and sr.CompletionFlag == "PARTIAL"
    assert "VerifyingObserverSequence" not in sr
    assert _observers(sr)["Person Observer Name"] == "Resident^Rita"

    case_path = make_dicom_case(tmp_path, name="stale")
    case = load_case(case_path)
    kc = case.landmark("left", "knee_center")
    case.move_landmark("left", "knee_center", [kc.x + 3, kc.y], by="Someone")
    approval = case.get("approval")  # another tool moved a point and left the approval as it was
    case.set("review", {"status": "approved", "by": approval["by"], "at": approval["at"]})
    save_case(case, case_path)
    res = write_dicom_results(case_path, tmp_path / "b", include=("sr",))
    sr = dcmread(res.sr_path)
    assert sr.VerificationFlag == "UNVERIFIED" and sr.CompletionFlag == "PARTIAL"
    assert any("UNVERIFIED" in w for w in res.warnings)


def test_unverifiable_approval_is_verified_with_a_warning(tmp_path):
    res = write_dicom_results(make_dicom_case(tmp_path, fingerprint=False), tmp_path / "out", include=("sr",))
    assert dcmread(res.sr_path).VerificationFlag == "VERIFIED"
    assert any("cannot be checked" in w for w in res.warnings)


def test_missing_landmark_omits_its_metrics_with_the_reason(tmp_path):
    case_path = make_dicom_case(tmp_path, drop=(("left", "diaphysis_center"),))
    sr = dcmread(write_dicom_results(case_path, tmp_path / "out", include=("sr",)).sr_path)
    left = measurement_groups(sr)["left leg"]
    nums = {it.ConceptNameCodeSequence[0].CodeValue for it in _children(left, "NUM")}
    assert C.METRIC_CODES["fva_deg"][0].value not in nums
    assert C.METRIC_CODES["hka_deg"][0].value in nums
    points = {C.landmark_of(it.ConceptNameCodeSequence[0].CodeValue) for it in _children(left, "SCOORD")}
    assert "diaphysis_center" not in points and len(points) == 8
    reasons = [str(it.TextValue) for it in _children(left, "TEXT")
               if it.ConceptNameCodeSequence[0].CodeValue == C.UNMEASURED.value]
    assert reasons == ["FVA (fva_deg): needs diaphysis_center"]


def test_plan_group(tmp_path):
    plan = {"id": "plan-1234abcd", "side": "right", "method": "hto_open_medial",
            "target": {"kind": "wbl_ratio_pct", "value": 62.5}, "hinge_px": [120.0, 450.0],
            "cut_start_px": [60.0, 440.0],
            "result": {"correction_deg": 7.25, "wedge_height_mm": 9.5, "osteotomy_length_mm": None,
                       "pre": {"hka_deg": 174.0}, "post": {"hka_deg": 182.5, "wbl_ratio_pct": 62.5,
                                                           "alignment": "neutral", "mad_mm": None},
                       "notes": ["length not given"]},
            "created_by": "Dr Plan", "created_at": "2026-12-01T10:00:00Z"}
    sr = dcmread(write_dicom_results(make_dicom_case(tmp_path, plans=[plan]), tmp_path / "o",
                                     include=("sr",)).sr_path)
    group = measurement_groups(sr)["osteotomy plan plan-1234abcd (right)"]
    nums = {it.ConceptNameCodeSequence[0].CodeValue: float(it.MeasuredValueSequence[0].NumericValue)
            for it in _children(group, "NUM")}
    assert nums == {"TGT-WBL": 62.5, "CORR-ANGLE": 7.25, "WEDGE-HEIGHT": 9.5, "POST-HKA": 182.5,
                    "POST-WBL-RATIO": 62.5}
    points = {it.ConceptNameCodeSequence[0].CodeValue: [float(v) for v in it.GraphicData]
              for it in _children(group, "SCOORD")}
    assert points == {"HINGE": [120.5, 450.5], "CUT-START": [60.5, 440.5]}
    codes_ = {it.ConceptNameCodeSequence[0].CodeValue: it.ConceptCodeSequence[0].CodeValue
              for it in _children(group, "CODE")}
    assert codes_["121071"] == "OST-PLAN" and codes_["370129005"] == "HTO-OW-MED"
    assert codes_["POST-ALIGN"] == "NEUTRAL"


def test_png_source_is_refused_with_a_clear_message(tmp_path):
    import cv2

    png = tmp_path / "leg.png"
    cv2.imwrite(str(png), np.zeros((760, 320), np.uint8))
    case_path = make_dicom_case(tmp_path, image=png)
    with pytest.raises(DicomResultsError, match=r"references the source image by its DICOM UIDs; .*leg\.png is a "
                                                r"PNG image"):
        write_dicom_results(case_path, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_malformed_source_gives_a_message(tmp_path):
    case_path = make_dicom_case(tmp_path)
    dcm = tmp_path / "leg.dcm"
    dcm.write_bytes(dcm.read_bytes()[:300])  # truncated inside the header
    with pytest.raises(DicomResultsError, match="leg.dcm"):
        write_dicom_results(case_path, tmp_path / "out")
    ds = source_dataset()
    del ds.StudyInstanceUID
    ds.save_as(dcm, enforce_file_format=True)
    with pytest.raises(DicomResultsError, match="lacks StudyInstanceUID"):
        write_dicom_results(case_path, tmp_path / "out")


def test_names_survive_any_character_set(tmp_path):
    """A Latin-1 source name and a reviewer outside Latin-1 both read back exactly (results are UTF-8)."""
    image = tmp_path / "latin1.dcm"
    source_dataset(PatientName="Müller^Jörg").save_as(image, enforce_file_format=True)  # ISO_IR 100
    case_path = make_dicom_case(tmp_path, image=image)
    res = write_dicom_results(case_path, tmp_path / "out", reviewer="Łukasiewicz^Jan", include=("sr", "pdf"))
    for path in res.paths:
        ds = dcmread(path)
        assert ds.SpecificCharacterSet == "ISO_IR 192"
        assert str(ds.PatientName) == "Müller^Jörg", path.name
    sr = dcmread(res.sr_path)
    assert [str(it.PersonName) for it in sr.ContentSequence if it.ValueType == "PNAME"] == ["Łukasiewicz^Jan"]


def test_highdicom_reads_the_report_back(tmp_path):
    import highdicom as hd

    case_path = make_dicom_case(tmp_path)
    sr = hd.sr.srread(write_dicom_results(case_path, tmp_path / "out", include=("sr",)).sr_path)
    case = load_case(case_path)
    groups = {str(g.tracking_identifier): g for g in sr.content.get_image_measurement_groups()}
    for side in ("right", "left"):
        expected = compute_leg_metrics(case.landmarks(side), side, case.pixel_spacing_mm)
        got = {m.name.value: (m.value, m.unit.value) for m in groups[f"{side} leg"].get_measurements()}
        for key in METRIC_KEYS:
            if key == "alignment":
                continue
            code, unit = C.METRIC_CODES[key]
            assert got[code.value][0] == pytest.approx(getattr(expected, key), rel=1e-9), (side, key)
            assert got[code.value][1] == unit.value
        site = groups[f"{side} leg"].finding_sites[0]
        assert site.value.value == C.LOWER_LIMB.value and site.laterality.value == C.LATERALITY[side].value


def test_reviewer_text_becomes_a_valid_person_name(tmp_path):
    res = write_dicom_results(make_dicom_case(tmp_path, approve=False), tmp_path / "out", include=("sr",),
                              reviewer="Dr\\ Who\x07" + "x" * 80)
    names = [str(it.PersonName) for it in dcmread(res.sr_path).ContentSequence if it.ValueType == "PNAME"]
    assert names == ["Dr Who" + "x" * 58]  # no value separator, no control character, 64 characters


def test_every_code_fits_its_value_representation():
    """Code values are SH (16 characters), meanings LO (64): highdicom refuses longer ones at export time."""
    codes_ = [*C.LANDMARK_CODES.values(), *(c for c, _ in C.METRIC_CODES.values()), C.LLD_CODE, C.UNMEASURED,
              C.MANUAL_LANDMARKS, C.LANDMARK_MODEL, C.PROCEDURE, C.PLAN_FINDING, C.PLAN_NOTE,
              *C.ALIGNMENT_VALUES.values(), *C.PLAN_METHODS.values(), *C.PLAN_POINTS.values(),
              *(c for c, _ in C.PLAN_TARGETS.values()), *(c for c, _ in C.PLAN_RESULTS.values()),
              *(C.post_code(k) for k in METRIC_KEYS)]
    for code in codes_:
        assert len(code.value) <= 16 and len(code.meaning) <= 64, code
    assert len({c.value for c in codes_}) == len(codes_)  # no two concepts share a code


@pytest.mark.filterwarnings("ignore:Invalid value for VR")  # pydicom, when the fixture writes the bad values
def test_malformed_sex_date_time_are_left_empty_with_a_warning(tmp_path):
    image = tmp_path / "odd.dcm"
    source_dataset(PatientSex="X", StudyTime="25:99", PatientBirthDate="19xx0102").save_as(
        image, enforce_file_format=True)
    res = write_dicom_results(make_dicom_case(tmp_path, image=image), tmp_path / "out", include=("sr", "pdf"))
    for path in res.paths:
        ds = dcmread(path)
        assert ds.PatientSex == "" and ds.StudyTime == "" and ds.PatientBirthDate == ""
        assert ds.PatientName == "Doe^Jane" and ds.PatientID == "PID-0001"  # identifiers copied as they are
    text = " ".join(res.warnings)
    assert "PatientSex 'X' is not a valid DICOM sex" in text and "StudyTime '25:99'" in text
