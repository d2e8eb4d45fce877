"""PACS in the viewer against a real Orthanc: settings + Test connection, Open from PACS (search, retrieve,
worklist), Send to PACS (the case's SR, PDF and Secondary Capture), and the failures' messages."""

from __future__ import annotations

import json

import pytest
from pydicom import dcmread

from tests.pacs.orthanc import free_port, orthanc_binary, start_orthanc
from tests.pacs.studies import synthetic_study

from .conftest import open_and_wait


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    binary = orthanc_binary()
    if binary is None:
        pytest.skip("Orthanc is not installed (Debian package 'orthanc'; .ci/run installs it): "
                    "the viewer's PACS tests against a real server are skipped")
    server = start_orthanc(binary, tmp_path_factory.mktemp("orthanc-gui"))
    yield server
    server.stop()


@pytest.fixture
def pacs_settings(orthanc, tmp_path, monkeypatch):
    from llm_viewer.pacs import save_node

    path = tmp_path / "pacs.json"
    monkeypatch.setenv("LLM_VIEWER_PACS_SETTINGS", str(path))
    save_node(orthanc.node(), path)
    return path


@pytest.fixture(scope="module")
def stored_study(orthanc, tmp_path_factory):
    from llm_viewer.pacs import send_files

    path = synthetic_study(tmp_path_factory.mktemp("gui-send"), seed=41)
    assert send_files(orthanc.node(), [path]).ok
    return dcmread(path, stop_before_pixels=True)


def test_menus_hold_the_pacs_actions(make_window):
    win = make_window()
    texts = {a.text() for a in win.actions()}
    assert {"Open from PACS…", "PACS settings…", "Send to PACS"} <= texts
    assert win.pacs.send_case() is None and "Open a case first" in win.banner.label.text()


def test_settings_dialog_tests_the_connection_and_saves(make_window, qtbot, orthanc, tmp_path, monkeypatch):
    path = tmp_path / "pacs.json"
    monkeypatch.setenv("LLM_VIEWER_PACS_SETTINGS", str(path))
    win = make_window()
    dlg = win.pacs.settings_dialog()
    dlg.ae_title.setText(orthanc.ae_title)
    dlg.host.setText("127.0.0.1")
    dlg.port.setValue(orthanc.dicom_port)
    dlg.calling.setText(orthanc.our_ae_title)
    with qtbot.waitSignal(dlg.tested, timeout=20000) as sig:
        dlg.test_connection()
    assert sig.args[0] is True and "C-ECHO ok" in dlg.status.text()
    dlg.ae_title.setText("BAD\\AE")
    dlg.save()
    assert not path.exists() and "character DICOM does not allow" in dlg.status.text()
    dlg.ae_title.setText("WRONGAE")
    with qtbot.waitSignal(dlg.tested, timeout=20000) as sig:
        dlg.test_connection()
    assert sig.args[0] is False and "rejected the association" in dlg.status.text()
    dlg.ae_title.setText(orthanc.ae_title)
    dlg.save()
    assert json.loads(path.read_text())["node"]["port"] == orthanc.dicom_port
    again = win.pacs.settings_dialog()
    assert again.port.value() == orthanc.dicom_port and again.calling.text() == orthanc.our_ae_title


def test_open_from_pacs_searches_retrieves_and_opens_the_worklist(make_window, qtbot, pacs_settings, stored_study):
    win = make_window()
    dlg = win.pacs.show_open_dialog()
    dlg.fields["patient_id"].setText(str(stored_study.PatientID))
    with qtbot.waitSignal(dlg.searched, timeout=20000):
        worker = dlg.search()
    assert worker is not None  # the search ran in a worker thread
    assert dlg.table.rowCount() == 1 and dlg.table.item(0, 0).text() == str(stored_study.PatientID)
    assert dlg.table.item(0, 3).text() == "DX"
    with qtbot.waitSignal(win.ready, timeout=60000):
        with qtbot.waitSignal(dlg.retrieved, timeout=30000) as sig:
            dlg.retrieve()
    result = sig.args[0]
    folder = win.app_data_dir / "pacs" / str(stored_study.StudyInstanceUID)
    assert result.dest_dir == folder and [p.name for p in result.paths] == [f"{stored_study.SOPInstanceUID}.dcm"]
    assert win.doc.is_open and win.doc.image_path == result.paths[0]
    assert win.worklist.source == folder and [e.path.name for e in win.worklist.entries] == [result.paths[0].name]


def test_search_failures_are_messages(make_window, qtbot, orthanc, tmp_path, monkeypatch):
    from llm_viewer.pacs import save_node

    path = tmp_path / "pacs.json"
    monkeypatch.setenv("LLM_VIEWER_PACS_SETTINGS", str(path))
    win = make_window()
    dlg = win.pacs.show_open_dialog()
    assert dlg.search() is None  # nothing configured: the settings dialog opens instead
    assert "No PACS is configured" in dlg.status.text()
    save_node(orthanc.node(port=free_port()), path)
    with qtbot.waitSignal(dlg.failed, timeout=20000) as sig:
        dlg.search()
    assert "connection refused" in sig.args[0] and "connection refused" in dlg.status.text()
    dlg.fields["study_date"].setText("last week")
    save_node(orthanc.node(), path)
    with qtbot.waitSignal(dlg.failed, timeout=20000) as sig:
        dlg.search()
    assert "not YYYYMMDD" in sig.args[0]


def test_send_to_pacs_stores_the_results_in_the_study(make_window, qtbot, pacs_settings, orthanc, stored_study,
                                                        tmp_path):
    from llm_viewer.pacs import find_studies, retrieve_study

    node = orthanc.node()
    got = retrieve_study(node, stored_study.StudyInstanceUID, tmp_path / "case")
    win = make_window()
    open_and_wait(qtbot, win, got.paths[0])
    assert win.doc.case.landmarks("right")
    with qtbot.waitSignal(win.pacs.sent, timeout=60000) as sig:
        assert win.pacs.send_case() is not None
    out = sig.args[0]
    assert out["sent"].ok and out["sent"].n_sent == 3
    assert "Sent to" in win.banner.label.text()
    (study,) = find_studies(node, study_uid=str(stored_study.StudyInstanceUID))
    assert study.n_instances == 4 and "SR" in study.modalities


def test_pacs_settings_sit_next_to_the_viewer_settings(tmp_path, monkeypatch):
    from llm_viewer.gui.about import settings_file
    from llm_viewer.pacs import pacs_settings_file

    monkeypatch.delenv("LLM_VIEWER_PACS_SETTINGS", raising=False)
    assert pacs_settings_file().parent == settings_file().parent  # Qt's GenericConfigLocation, without Qt
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert pacs_settings_file() == settings_file().parent / "pacs.json" == tmp_path / "llm-viewer" / "pacs.json"
