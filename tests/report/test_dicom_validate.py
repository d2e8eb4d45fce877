"""The SR, the Encapsulated PDF and the Secondary Capture pass a DICOM validator with no errors.

dciodvfy (Debian's dicom3tools) checks each object against its IOD; dcmtk's dsrdump must parse the SR and
dcmtk's dcmdump each file. A test skips, saying why, when its tool is not installed (CI installs them).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from pydicom import dcmread

from llm_viewer.report.dicom_results import write_dicom_results

from .test_dicom_sr import make_dicom_case, source_dataset

PLAN = {"id": "plan-0badcafe", "side": "left", "method": "dfo_close_medial",
        "target": {"kind": "hka_deg", "value": 180.0}, "hinge_px": [230.0, 420.0], "cut_start_px": [205.0, 400.0],
        "result": {"correction_deg": 5.0, "wedge_height_mm": None, "osteotomy_length_mm": 61.0,
                   "pre": {}, "post": {"hka_deg": 180.0, "alignment": "neutral"}, "notes": ["no spacing"]}}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {'dicom3tools' if name == 'dciodvfy' else 'dcmtk'})")
    return path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dicom-validate")
    both = write_dicom_results(make_dicom_case(tmp, plans=[PLAN]), tmp / "out")
    one = write_dicom_results(make_dicom_case(tmp, approve=False, name="one",
                                              drop=tuple(("left", lm) for lm in (
                                                  "femoral_head", "diaphysis_center", "femoral_condyle_lateral",
                                                  "femoral_condyle_medial", "knee_center", "tibial_plateau_lateral",
                                                  "tibial_plateau_medial", "malleolus_lateral", "malleolus_medial"))
                                              + (("right", "diaphysis_center"),)), tmp / "out")
    assert dcmread(one.sc_path, stop_before_pixels=True).Laterality == "R"  # a one-leg capture names its leg
    # approved (VerifyingObserverSequence) on a source without InstitutionName, whose preamble is a TIFF header,
    # de-identified without naming the method, with an invalid sex
    ds = source_dataset()
    del ds.InstitutionName
    ds.PatientIdentityRemoved = "YES"  # without DeidentificationMethod (type 1C then), as the synthetic DICOMs
    ds.PatientSex = "X"  # not an enumerated value: written empty
    ds.preamble = b"II*\x00" + b"\x00" * 124
    ds.save_as(tmp / "bare.dcm", enforce_file_format=True)
    bare = write_dicom_results(make_dicom_case(tmp, image=tmp / "bare.dcm", name="bare"), tmp / "out",
                               include=("sr",))
    assert dcmread(bare.sr_path).VerificationFlag == "VERIFIED"
    return both.paths + one.paths + bare.paths


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_dciodvfy_reports_no_error(outputs):
    exe = _tool("dciodvfy")
    for path in outputs:
        run = _run([exe, "-new", str(path)])
        lines = (run.stdout + run.stderr).splitlines()
        errors = [line for line in lines if line.startswith("Error")]
        assert not errors, f"{path.name}:\n" + "\n".join(errors)
        iod = {"sr": "ComprehensiveSR", "pdf": "EncapsulatedPDF", "sc": "SCImage"}[path.name.split(".")[-2]]
        assert iod in [line.strip() for line in lines], lines[:3]  # the IOD it recognised and checked


def test_dsrdump_parses_the_sr(outputs):
    exe = _tool("dsrdump")
    for path in (p for p in outputs if p.name.endswith(".sr.dcm")):
        run = _run([exe, str(path)])
        assert run.returncode == 0, run.stderr
        assert "Comprehensive SR Document" in run.stdout
        assert "Femoral head landmark" in run.stdout and "(deg,UCUM,\"degree\")" in run.stdout
        assert "E: " not in run.stderr, run.stderr


def test_dcmdump_reads_every_file(outputs):
    exe = _tool("dcmdump")
    for path in outputs:
        run = _run([exe, "-q", str(path)])
        assert run.returncode == 0 and "E: " not in run.stderr, (path.name, run.stderr)
