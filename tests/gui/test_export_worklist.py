"""Export to the training set (de-identified, with provenance), worklist, approval, the gui command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from llm_viewer.core.casefile import load_case

from .conftest import HEIGHT, WIDTH, have_imageio, open_and_wait, synthetic_pixels, write_png16

PATIENT = {"PatientName": "Doe^Jane", "PatientID": "PID-998877", "PatientBirthDate": "19610423"}


def write_identified_dicom(path: Path, spacing=(1.287, 1.287)) -> Path:
    """A small DICOM radiograph carrying a patient's name, ID and birth date."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    for k, v in PATIENT.items():
        setattr(ds, k, v)
    ds.Modality = "DX"
    ds.InstitutionName = "St Example Hospital"
    ds.Rows, ds.Columns = HEIGHT, WIDTH
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelSpacing = [str(spacing[0]), str(spacing[1])]
    ds.PixelData = np.clip(synthetic_pixels(), 0, 4095).astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


needs_imageio = pytest.mark.skipif(not have_imageio(), reason="llm_viewer.core.imageio not available yet")


@needs_imageio
def test_export_writes_a_deidentified_case_with_provenance(qtbot, make_window, tmp_path):
    img = write_identified_dicom(tmp_path / "patient.dcm")
    win = make_window(loader=None)
    open_and_wait(qtbot, win, img)
    assert win.doc.case.study  # the working case knows the study (not the patient's identity)
    k = win.doc.point("right", "knee_center")
    win.commit_move("right", "knee_center", k.x + 4.0, k.y - 3.0)
    win.approve("Dr. Reviewer")
    store = tmp_path / "store"
    with qtbot.waitSignal(win.exported, timeout=20000) as blocker:
        win.export_to_store(store, "Dr. Reviewer")
    result = blocker.args[0]
    case_text = result.case_path.read_text()
    for value in PATIENT.values():
        assert value not in case_text
        assert value.encode() not in result.image_path.read_bytes()
    assert b"St Example Hospital" not in result.image_path.read_bytes()
    assert str(tmp_path) not in case_text  # no path of the original file
    exported = load_case(result.case_path)
    block = exported.get("export")
    assert block["reviewer"] == "Dr. Reviewer"
    assert block["model_ids"] == ["fake-model-1"]
    assert block["original_prediction"]["right"]["knee_center"]["xy"] == [k.x, k.y]
    (moved,) = block["moved"]
    assert moved["landmark"] == "knee_center" and moved["moved_px"] == pytest.approx(5.0)
    assert moved["moved_mm"] == pytest.approx(5.0 * 1.287)
    assert exported.landmark("right", "knee_center").x == k.x + 4.0
    manifest = (store / "manifest.jsonl").read_text().strip().splitlines()
    assert json.loads(manifest[-1])["source"] == "export"
    # the de-identified image still opens, with its spacing
    from llm_viewer.core.imageio import load_image

    clean = load_image(result.image_path)
    assert clean.metadata.patient_name in (None, "") and clean.pixel_spacing_mm == pytest.approx((1.287, 1.287))


def test_worklist_status_filter_approve_and_next(qtbot, make_window, tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        write_png16(folder / name, synthetic_pixels())
    win = make_window()
    with qtbot.waitSignal(win.ready, timeout=20000):
        win.open_folder(folder)
    assert win.worklist_dock.isVisible()
    assert [e.name for e in win.worklist.entries] == ["a.png", "b.png", "c.png"]
    assert win.doc.image_path.name == "a.png"
    assert win.approve("R. Viewer")
    saved = load_case(win.doc.case_path)
    assert saved.status == "approved" and saved.review["by"] == "R. Viewer" and saved.review["at"]
    assert win.settings.value("reviewer") == "R. Viewer"
    win.worklist.status_filter.setCurrentText("approved")
    assert [e.name for e in win.worklist.visible_entries()] == ["a.png"]
    win.worklist.status_filter.setCurrentText("not approved")
    assert [e.name for e in win.worklist.visible_entries()] == ["b.png", "c.png"]
    with qtbot.waitSignal(win.ready, timeout=20000):
        win.step_case(1)
    assert win.doc.image_path.name in ("b.png", "c.png")
    assert str(folder / "a.png") in (win.settings.value("recent") or []) or str(folder) in win.settings.value("recent")


def test_read_only_folder_autosaves_to_app_data(qtbot, make_window, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write to read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    img = write_png16(ro / "leg.png", synthetic_pixels())
    ro.chmod(0o555)
    try:
        win = make_window()
        open_and_wait(qtbot, win, img)
        assert win.doc.case_fallback and str(tmp_path / "appdata") in str(win.doc.case_path)
        assert "read-only" in win.banner.text
    finally:
        ro.chmod(0o755)


def test_gui_command_screenshot(tmp_path):
    img = write_png16(tmp_path / "leg.png", synthetic_pixels())
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "llm_viewer.cli", "gui", str(img), "--no-analyze",
                           "--screenshot", str(out), "--size", "1000x700"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from PySide6 import QtGui

    shot = QtGui.QImage(str(out))
    assert (shot.width(), shot.height()) == (1000, 700)
    assert (tmp_path / "leg.case.json").exists()
    bad = subprocess.run([sys.executable, "-m", "llm_viewer.cli", "gui", str(tmp_path / "nope.dcm")],
                         capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr


@needs_imageio
def test_export_report_action_writes_the_pdf_of_the_reviewed_case(qtbot, make_window, tmp_path):
    from pypdf import PdfReader

    img = write_identified_dicom(tmp_path / "patient.dcm")
    win = make_window(loader=None)
    open_and_wait(qtbot, win, img)
    k = win.doc.point("right", "knee_center")
    win.commit_move("right", "knee_center", k.x + 4.0, k.y - 3.0)
    hka = win.panel.value("right", "hka_deg")
    out = tmp_path / "report.pdf"
    with qtbot.waitSignal(win.reportWritten, timeout=30000):
        win.export_report(out)
    text = "".join(page.extract_text() for page in PdfReader(str(out)).pages)
    assert f"{hka:.1f}°" in text  # the value the panel shows after the correction
    assert "Doe Jane" in text and "PID-998877" in text  # a clinical report names the patient
    assert "corrected by hand (1)" in text
