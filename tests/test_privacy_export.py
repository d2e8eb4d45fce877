"""Privacy: an identified study exported into a store by every route leaves no byte of its identity there.

Routes: the viewer's export (``llm_viewer.gui.export.export_case_to_store``), ``training.import_cases`` and
``llm-viewer export`` (a case file and an ``analyze`` JSON). The study carries the name DOE^JANE, the ID
PID-778899 and the birth date 19510317 in the preamble, the patient module, StudyComments, the alternative
calendar birth date, the clinical-trial subject IDs, DeviceDescription, ContentDescription, a TextValue in a
content sequence, a CodeMeaning in a code sequence, private tags, nested sequences, its UIDs, its file
and folder names, a PNG text chunk, JPEG EXIF / comment segments and the case file.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from llm_viewer.cli import main as cli
from llm_viewer.core.casefile import Case, save_case
from llm_viewer.core.imageio import load_image
from llm_viewer.core.landmarks import LANDMARK_IDS
from llm_viewer.core.store import Store

NAME, PID, BIRTH = "DOE^JANE", "PID-778899", "19510317"
DX = "1.2.840.10008.5.1.4.1.1.1.1"
ROOT = f"1.2.826.0.1.3680043.8.498.{BIRTH}.778899"  # identity inside the UIDs, as some systems do
ROWS, COLS = 96, 64

# every form the identity could take in a file: whole values, parts, other case, other encodings
_TEXTS = [NAME, "DOE", "JANE", "Doe", "Jane", "doe^jane", "Jane Doe", "JANE DOE", PID, "778899", BIRTH, "1951",
          "1951-03-17", "17.03.1951", "03/17/1951", "1951.03.17"]
NEEDLES: list[bytes] = sorted({
    *(t.encode() for t in _TEXTS),
    *(t.encode("utf-16-le") for t in (NAME, "DOE", "JANE", PID, "778899", BIRTH, "1951")),
    *(t.encode("utf-16-be") for t in (NAME, "DOE", PID, BIRTH)),
    *(base64.b64encode(t.encode()) for t in (NAME, PID, BIRTH)),
    *(t.encode().hex().encode() for t in (NAME, "DOE", PID, BIRTH, "1951")),
})
# Only these short all-digit tokens can also occur by chance inside a generated sha256 / store id / new UID
# (a long run of hex digits); the full values are searched in every byte without exception.
_CHANCE = {b"1951", b"778899"}
_GENERATED_RUN = re.compile(rb"[0-9a-f]{20,}|(?<![0-9.])2\.\d{30,}")


def pixels() -> np.ndarray:
    # 12-bit values: in little-endian 16-bit words every other byte is < 0x10, so no 3 consecutive
    # pixel bytes can ever spell a text needle by chance
    y, x = np.mgrid[0:ROWS, 0:COLS]
    return ((x * 37 + y * 23) % 4000 + 50).astype(np.uint16)


def identified_dicom(path: Path) -> Path:
    """A DX radiograph with the identity everywhere the issue found it, and more."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX
    meta.MediaStorageSOPInstanceUID = ROOT + ".3"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "DOE^JANE"
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = f"{NAME} {PID} {BIRTH}".encode().ljust(128, b"\x00")
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = DX
    ds.SOPInstanceUID = ROOT + ".3"
    ds.StudyInstanceUID = ROOT + ".1"
    ds.SeriesInstanceUID = ROOT + ".2"
    ds.FrameOfReferenceUID = ROOT + ".4"
    ds.StudyDate, ds.StudyTime, ds.ContentDate = "20240105", "101112", "20240105"
    ds.Modality, ds.Manufacturer, ds.BodyPartExamined, ds.ViewPosition = "DX", "ACME", "LEG", "AP"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = NAME, PID, BIRTH, "F"
    ds.OtherPatientIDs = PID
    ds.PatientAge, ds.PatientAddress = "072Y", "1 DOE street"
    ds.AccessionNumber, ds.StudyID = PID, "778899"
    ds.InstitutionName, ds.OperatorsName, ds.ReferringPhysicianName = f"{NAME} clinic", NAME, NAME
    ds.StudyComments = f"patient {NAME}, {PID}, born {BIRTH}"
    ds.PatientBirthDateInAlternativeCalendar = BIRTH
    ds.ClinicalTrialSubjectID = PID
    ds.ClinicalTrialSubjectReadingID = NAME
    ds.DeviceDescription = f"brace of {NAME}"
    ds.ContentDescription = f"{PID} {BIRTH}"
    ds.StudyDescription = f"long leg {NAME}"
    ds.ImageComments = f"{NAME} 1951"
    text = Dataset()
    text.RelationshipType, text.ValueType, text.TextValue = "CONTAINS", "TEXT", f"{NAME} {PID} {BIRTH}"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = "121106", "DCM", NAME
    text.ConceptNameCodeSequence = Sequence([concept])
    person = Dataset()
    person.RelationshipType, person.ValueType, person.PersonName = "CONTAINS", "PNAME", NAME
    ds.ContentSequence = Sequence([text, person])
    view = Dataset()
    view.CodeValue, view.CodingSchemeDesignator, view.CodeMeaning = "R-10206", "SRT", f"{NAME} {BIRTH}"
    ds.ViewCodeSequence = Sequence([view])
    other = Dataset()
    other.PatientID, other.IssuerOfPatientID = PID, "DOE hospital"
    ds.OtherPatientIDsSequence = Sequence([other])
    ref = Dataset()  # a kept sequence: its item goes through the same rules
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = DX, ROOT + ".3"
    ref.PatientName, ref.PatientBirthDate = NAME, BIRTH
    ref.add_new(0x00110010, "LO", "ACME NESTED")
    ref.add_new(0x00111001, "LO", PID)
    ds.ReferencedImageSequence = Sequence([ref])
    ds.add_new(0x00110010, "LO", "ACME PRIVATE")  # private creator and its block
    ds.add_new(0x00111010, "LO", NAME)
    ds.add_new(0x00111011, "LO", PID)
    ds.add_new(0x00111012, "DA", BIRTH)
    ds.add_new(0x00111013, "OB", f"{NAME}|{PID}|{BIRTH}".encode())
    ds.add_new(0x00111014, "SQ", Sequence([other.copy()]))
    # what measurement needs
    ds.Rows, ds.Columns = ROWS, COLS
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelSpacing = ["0.15", "0.16"]
    ds.ImagerPixelSpacing = ["0.18", "0.192"]
    ds.EstimatedRadiographicMagnificationFactor = "1.2"
    ds.PixelSpacingCalibrationType = "GEOMETRY"
    ds.DistanceSourceToDetector, ds.DistanceSourceToPatient = "1800", "1500"
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "1", "0", "US"
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = "2000", "3800", "LINEAR"
    voi = Dataset()
    voi.add_new(0x00283002, "US", [4, 0, 12])  # LUTDescriptor
    voi.add_new(0x00283006, "US", [0, 1000, 2000, 4000])  # LUTData
    voi.LUTExplanation = f"{NAME}'s window"
    ds.VOILUTSequence = Sequence([voi])
    ds.PresentationLUTShape, ds.BurnedInAnnotation = "INVERSE", "NO"
    ds.PixelData = pixels().astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    assert path.read_bytes()[:8] == NAME.encode()  # the preamble really holds the identity
    return path


def identified_png(path: Path) -> Path:
    """A 16-bit PNG with the identity in tEXt, zTXt and iTXt chunks."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Patient", f"{NAME} {PID} {BIRTH}")
    info.add_text("Comment", NAME, zip=True)
    info.add_itxt("Author", f"{NAME} 1951")
    Image.fromarray(pixels().astype(np.uint16)).save(path, pnginfo=info)
    assert NAME.encode() in path.read_bytes()
    return path


def identified_jpeg(path: Path) -> Path:
    """An 8-bit JPEG with the identity in an EXIF segment and a comment."""
    from PIL import Image

    img = Image.fromarray((pixels() // 16).astype(np.uint8))
    exif = Image.Exif()
    exif[0x010E] = f"{NAME} {PID}"  # ImageDescription
    exif[0x013B] = NAME  # Artist
    img.save(path, exif=exif.tobytes(), comment=f"{NAME} {BIRTH}".encode())
    assert NAME.encode() in path.read_bytes()
    return path


def identified_case(image: Path, case_path: Path) -> Case:
    """A reviewed case that also names the patient (study block, unknown key, history path)."""
    case = Case.new(pixel_spacing_mm=(0.15, 0.16), spacing_source="PixelSpacing")
    for side, x0 in (("right", 16.0), ("left", 44.0)):
        for i, lm in enumerate(LANDMARK_IDS):
            case.set_prediction(side, lm, (x0 + (i % 3), 6.0 + 9.0 * i), model_id="m-1", score=0.9)
    case.move_landmark("right", "knee_center", (17.5, 40.0), by="Dr Who")
    case.set_study({"patient_name": NAME, "patient_id": PID, "patient_birth_date": BIRTH, "modality": "DX",
                    "study_instance_uid": ROOT + ".1", "study_description": f"legs {NAME}"})
    case.set("notes", f"{NAME} {PID} {BIRTH}")  # a key this version does not know: dropped
    case.add_history("opened", by="Dr Who", path=str(image))
    case.set_image(image, case_path)
    save_case(case, case_path)
    return case


def leaks(root: Path, manifest: bool = True) -> list[str]:
    """Every (file, needle) where the identity survives, over every byte of every file under ``root``."""
    found = []
    files = [p for p in root.rglob("*") if p.is_file()]
    assert not manifest or any(p.name == "manifest.jsonl" for p in files)
    for p in files:
        data = p.read_bytes()
        lowered = data.lower()
        for needle in NEEDLES:
            hay = _GENERATED_RUN.sub(b"-", data) if needle in _CHANCE else data
            if p.name == ".writer.lock" and needle in _CHANCE:  # it names the writer's pid
                hay = re.sub(rb"\d+", b"-", hay)
            if needle in hay or (needle.isalpha() and needle.lower() in lowered):
                found.append(f"{p.relative_to(root)}: {needle!r}")
    return found


@pytest.fixture
def patient(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / f"{NAME}_{PID}_{BIRTH}"  # the identity in every path too
    folder.mkdir()
    dcm = identified_dicom(folder / f"DOE_JANE_{PID}.dcm")
    png = identified_png(folder / f"DOE_JANE_{BIRTH}.png")
    jpg = identified_jpeg(folder / "Jane Doe 1951.jpg")
    cases = {}
    for img in (dcm, png, jpg):
        cp = folder / (img.stem + ".case.json")
        identified_case(img, cp)
        cases[img.suffix] = cp
    return {"dir": folder, "dcm": dcm, "png": png, "jpg": jpg, "case_dcm": cases[".dcm"],
            "case_png": cases[".png"], "case_jpg": cases[".jpg"]}


def _analyze_json(path: Path, images: list[Path]) -> Path:
    docs = []
    for img in images:
        docs.append({"image": str(img), "pixel_spacing_mm": [0.15, 0.16], "spacing_source": "PixelSpacing",
                     "image_size_px": [COLS, ROWS], "model_id": "m-1", "device": "cpu", "warnings": [],
                     "legs": {"right": {"landmarks": {lm: [20.0, 6.0 + 9 * i] for i, lm in enumerate(LANDMARK_IDS)},
                                        "score": {"knee_center": 0.8}, "uncertainty_px": {"knee_center": 1.5}}},
                     "rois": [{"side": "right", "region": "knee", "box_px": [1, 2, 30, 60], "score": 0.9}]})
    path.write_text(json.dumps(docs))
    return path


def test_every_route_leaves_no_identity_in_any_byte_of_the_store(patient, tmp_path, capsys):
    from llm_viewer.core.casefile import load_case
    from llm_viewer.gui.export import export_case_to_store
    from training.import_cases import import_folder

    source_leaks = leaks(patient["dir"], manifest=False)  # the check itself finds the identity where it is
    for needle in (NAME, PID, BIRTH, "DOE", "1951"):
        for f in (patient["dcm"], patient["png"], patient["jpg"], patient["case_dcm"]):
            assert f"{f.name}: {needle.encode()!r}" in source_leaks, (f.name, needle)
    viewer, imported, command = tmp_path / "s-viewer", tmp_path / "s-import", tmp_path / "s-command"
    for key in ("case_dcm", "case_png", "case_jpg"):  # 1. the viewer's export
        case = load_case(patient[key])
        export_case_to_store(case, case.resolve_image_path(patient[key]), viewer, "Dr Who")
    masks = tmp_path / "masks"  # 2. import, with a mask that carries a text chunk
    masks.mkdir()
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Patient", NAME)
    Image.fromarray(np.zeros((ROWS, COLS), np.uint8)).convert("1").save(
        masks / f"{patient['dcm'].stem}_diaphysis_right.png", pnginfo=info)
    log: list[str] = []
    assert import_folder(patient["dir"], imported, masks_dir=masks, log=log.append) == 3
    analysis = _analyze_json(tmp_path / f"{NAME}.analysis.json", [patient["dcm"], patient["jpg"]])
    rc = cli(["export", str(patient["case_dcm"]), str(patient["case_png"]), str(analysis), "--store", str(command),
              "--reviewer", "Dr Who"])  # 3. the command
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert len(out.out.strip().splitlines()) == 4  # one line per case

    for store in (viewer, imported, command):
        assert leaks(store) == [], store.name
        entries = Store.open(store).entries(check="hash")
        assert entries and Store.open(store).verify().ok
        for e in entries:
            assert re.fullmatch(r"(export|import)-[0-9a-f]{20}", e.id)  # never from a file name
            rep = e.extra["deidentification"]
            if rep["format"] == "dicom":
                for kw in ("StudyComments", "PatientBirthDateInAlternativeCalendar", "ClinicalTrialSubjectID",
                           "ClinicalTrialSubjectReadingID", "DeviceDescription", "ContentDescription",
                           "ContentSequence", "ViewCodeSequence", "ReferencedImageSequence[0].PatientName",
                           "VOILUTSequence[0].LUTExplanation"):
                    assert kw in rep["removed"], kw
                assert rep["private_tags_removed"] >= 8 and rep["preamble_cleared"] is True
                assert {"PatientName", "PatientID", "PatientBirthDate"} <= set(rep["emptied"])
                assert "StudyInstanceUID" in rep["replaced"] and "StudyDate" in rep["shifted"]
            else:
                assert rep["metadata_removed"]  # text chunks / EXIF / comment
            if "notes" in json.dumps(rep):
                assert rep["case_keys_removed"] == ["notes"]
    imported_masks = [p for p in (imported / "masks").iterdir()]
    assert len(imported_masks) == 1 and Image.open(imported_masks[0]).mode == "1"  # still a 1-bit mask


def test_pixels_spacing_and_display_survive(patient, tmp_path):
    from llm_viewer.core.casefile import load_case
    from llm_viewer.gui.export import export_case_to_store

    store = tmp_path / "store"
    results = {}
    for key in ("case_dcm", "case_png", "case_jpg"):
        case = load_case(patient[key])
        results[key] = export_case_to_store(case, case.resolve_image_path(patient[key]), store, None)
    before, after = pydicom.dcmread(patient["dcm"]), pydicom.dcmread(results["case_dcm"].image_path)
    assert after.preamble == b"\x00" * 128
    assert after.PixelData == before.PixelData
    for kw in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
               "PhotometricInterpretation", "PixelSpacing", "ImagerPixelSpacing",
               "EstimatedRadiographicMagnificationFactor", "PixelSpacingCalibrationType", "DistanceSourceToDetector",
               "RescaleSlope", "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth", "VOILUTFunction",
               "PresentationLUTShape", "Modality", "Manufacturer", "BodyPartExamined", "ViewPosition", "SOPClassUID"):
        assert after.get(kw) == before.get(kw), kw
    assert list(after.VOILUTSequence[0].LUTData) == list(before.VOILUTSequence[0].LUTData)
    assert after.PatientIdentityRemoved == "YES"
    assert after.PatientName == "" and after.PatientID == "" and after.PatientBirthDate == ""
    assert after.StudyInstanceUID != before.StudyInstanceUID and "PID" not in str(after.StudyInstanceUID)
    assert after.ReferencedImageSequence[0].ReferencedSOPInstanceUID == after.SOPInstanceUID  # consistent map
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    assert "20220105" <= after.StudyDate < "20231104" and after.StudyTime  # shifted 62-730 days back
    old, new = load_image(patient["dcm"]), load_image(results["case_dcm"].image_path)
    np.testing.assert_array_equal(new.pixels, old.pixels)
    assert new.pixel_spacing_mm == old.pixel_spacing_mm == (0.15, 0.16) and new.spacing_source == old.spacing_source
    assert new.window == old.window and new.photometric == old.photometric
    case = load_case(results["case_dcm"].case_path)  # the case names the new UIDs, not the old ones
    assert case.study["study_instance_uid"] == after.StudyInstanceUID
    assert case.study["sop_instance_uid"] == after.SOPInstanceUID and case.pixel_spacing_mm == (0.15, 0.16)
    for key, src in (("case_png", "png"), ("case_jpg", "jpg")):
        np.testing.assert_array_equal(load_image(results[key].image_path).pixels, load_image(patient[src]).pixels)
    assert load_image(results["case_png"].image_path).bits_stored == 16
    # the same study exported again: same id (a new version), same new UIDs
    case = load_case(patient["case_dcm"])
    again = export_case_to_store(case, patient["dcm"], store, None)
    assert again.case_id == results["case_dcm"].case_id
    assert pydicom.dcmread(again.image_path).StudyInstanceUID == after.StudyInstanceUID


# ------------------------------------------------------------------------------------ the command's bad input
def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli(["export", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _one_line_error(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llm-viewer export: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # pydicom on the truncated file
def test_export_command_bad_inputs(patient, tmp_path, capsys):
    store = str(tmp_path / "store")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "noimage.json").write_text(json.dumps({"model_id": "m", "legs": {}}))
    (tmp_path / "textimage.json").write_text(json.dumps([{"image": str(tmp_path / "notes.txt"), "model_id": "m",
                                                          "legs": {"right": {"landmarks": {"knee_center": [1, 2]}}}}]))
    (tmp_path / "badpoint.json").write_text(json.dumps({"image": str(patient["dcm"]), "model_id": "m",
                                                        "legs": {"right": {"landmarks": {"knee_center": "x"}}}}))
    gone = tmp_path / "gone.case.json"
    case = Case.new()
    case.set_prediction("right", "knee_center", (3, 4), model_id="m")
    img = tmp_path / "gone.png"
    img.write_bytes(patient["png"].read_bytes())
    case.set_image(img, gone)
    save_case(case, gone)
    img.unlink()
    trunc = tmp_path / "trunc.dcm"
    trunc.write_bytes(patient["dcm"].read_bytes()[:400])
    (tmp_path / "trunc.json").write_text(json.dumps({"image": str(trunc), "model_id": "m",
                                                     "legs": {"right": {"landmarks": {"knee_center": [1, 2]}}}}))
    nolm = tmp_path / "nolm.json"
    nolm.write_text(json.dumps({"image": str(patient["png"]), "model_id": "m", "legs": {}}))
    cases = [
        (["missing.json"], ("missing.json", "no such file")),
        ([str(tmp_path)], ("is a folder",)),
        ([str(tmp_path / "bad.json")], ("bad.json",)),
        ([str(tmp_path / "empty.json")], ("holds no analysis",)),
        ([str(tmp_path / "noimage.json")], ("names no image",)),
        ([str(tmp_path / "textimage.json")], ("notes.txt", "not a recognised image")),
        ([str(tmp_path / "badpoint.json")], ("knee_center",)),
        ([str(gone)], ("gone.png", "does not exist")),
        ([str(tmp_path / "trunc.json")], ("trunc.dcm",)),
        ([str(nolm)], ("no landmarks",)),
    ]
    for paths, words in cases:
        rc, out, err = _run(capsys, *paths, "--store", store)
        assert rc == 2, (paths, err)
        _one_line_error(err, *words)
        assert out == ""
    assert not Store.open(store).entries(check="none")  # nothing half-written
    (tmp_path / "afile").write_text("x")
    rc, _, err = _run(capsys, str(patient["case_png"]), "--store", str(tmp_path / "afile"))
    assert rc == 2
    _one_line_error(err, "afile", "not an empty folder or a store")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thing").write_text("x")
    rc, _, err = _run(capsys, str(patient["case_png"]), "--store", str(busy))
    assert rc == 2
    _one_line_error(err, "busy")
    with pytest.raises(SystemExit) as exc:  # --store is required
        cli(["export", str(patient["case_png"])])
    assert exc.value.code == 2 and "--store" in capsys.readouterr().err
    # a batch with good and bad inputs: the good ones are exported, each bad one named, exit status 1
    rc, out, err = _run(capsys, str(patient["case_png"]), "missing.json", str(gone), "--store", store, "--json")
    assert rc == 1 and "Traceback" not in err
    doc = json.loads(out)
    assert len(doc["exported"]) == 1 and len(doc["skipped"]) == 2
    assert [ln for ln in err.splitlines() if ln.startswith("llm-viewer export: skipped ")] and "missing.json" in err
    assert len(Store.open(store).entries()) == 1


def test_export_command_is_registered_and_documented():
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    run = subprocess.run([sys.executable, "-m", "llm_viewer", "export", "--help"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert run.returncode == 0 and "--store" in run.stdout


def test_the_key_lives_outside_the_store_private_and_stable(tmp_path, monkeypatch, patient):
    from llm_viewer.core import imageio_deid

    key_file = tmp_path / "config" / "deid-key"
    monkeypatch.delenv(imageio_deid.KEY_ENV, raising=False)
    monkeypatch.setenv(imageio_deid.KEY_FILE_ENV, str(key_file))
    first = imageio_deid.remap_uid(ROOT + ".1")
    assert key_file.is_file() and (key_file.stat().st_mode & 0o777) == 0o600
    assert imageio_deid.remap_uid(ROOT + ".1") == first != imageio_deid.remap_uid(ROOT + ".2")  # stable
    key_file.write_text("another installation\n")
    assert imageio_deid.remap_uid(ROOT + ".1") != first  # without the key, nobody can map UIDs back
    store = tmp_path / "store"
    assert cli(["export", str(patient["case_dcm"]), "--store", str(store)]) == 0
    text = key_file.read_text().strip().encode()
    assert all(text not in p.read_bytes() for p in store.rglob("*") if p.is_file())  # the key is never stored
