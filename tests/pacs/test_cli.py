"""``llm-viewer pacs echo|find|get|send|config`` as a user runs them (against Orthanc)."""

from __future__ import annotations

import json

import pytest

from llm_viewer.cli import main

from .orthanc import free_port
from .studies import synthetic_study


@pytest.fixture
def settings(orthanc, tmp_path, monkeypatch):
    """A settings file pointing at the test Orthanc, stored with ``pacs config``."""
    path = tmp_path / "pacs.json"
    monkeypatch.setenv("LLM_VIEWER_PACS_SETTINGS", str(path))
    assert main(["pacs", "config", "--aet", orthanc.ae_title, "--host", "127.0.0.1", "--port",
                 str(orthanc.dicom_port), "--calling-aet", orthanc.our_ae_title, "--timeout-s", "15",
                 "--move-aet", orthanc.our_ae_title, "--move-port", str(orthanc.move_port)]) == 0
    return path


def test_config_saves_validates_and_shows(settings, capsys):
    doc = json.loads(settings.read_text())
    assert doc["node"]["ae_title"] == "ORTHANCTEST" and doc["node"]["timeout_s"] == 15.0
    capsys.readouterr()
    assert main(["pacs", "config", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["port"] == doc["node"]["port"] and shown["settings_file"] == str(settings)
    assert main(["pacs", "config", "--port", "99999"]) == 2
    assert "outside 1-65535" in capsys.readouterr().err
    assert json.loads(settings.read_text()) == doc  # a refused change leaves the file as it was


def test_no_settings_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLM_VIEWER_PACS_SETTINGS", str(tmp_path / "none.json"))
    assert main(["pacs", "echo"]) == 2
    err = capsys.readouterr().err
    assert "no PACS node configured" in err and "llm-viewer pacs config" in err and "Traceback" not in err


def test_echo_send_find_get(settings, tmp_path, capsys):
    assert main(["pacs", "echo"]) == 0
    assert "C-ECHO ok" in capsys.readouterr().out
    study = synthetic_study(tmp_path / "in", seed=31)
    junk = tmp_path / "in" / "notes.txt"
    junk.write_text("not dicom")
    assert main(["pacs", "send", str(tmp_path / "in")]) == 1  # a folder: the study is stored, the text refused
    cap = capsys.readouterr()
    assert "1 of 2 file(s) stored" in cap.out and "REFUSED" in cap.err and "notes.txt" in cap.err
    assert main(["pacs", "find", "--patient-id", "SYN-31-*", "--json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["patient_id"] == "SYN-31-000000" and rec["modalities"] == ["DX"]
    assert main(["pacs", "find", "--patient-id", "SYN-31-*", "--series"]) == 0
    table = capsys.readouterr().out
    assert rec["study_instance_uid"] in table and "1 study on" in table and "series 1 DX" in table
    for extra in ([], ["--move"]):
        out = tmp_path / ("moved" if extra else "got")
        assert main(["pacs", "get", rec["study_instance_uid"], "--out", str(out), *extra]) == 0
        assert "1 instance(s)" in capsys.readouterr().out
        assert [p.suffix for p in out.iterdir()] == [".dcm"]
    assert study.exists()


def test_network_errors_are_one_line(settings, tmp_path, capsys):
    assert main(["pacs", "echo", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llm-viewer pacs: error:") and "connection refused" in err and "\n" not in err
    assert main(["pacs", "find", "--aet", "NOBODY"]) == 2
    assert "rejected the association" in capsys.readouterr().err
    assert main(["pacs", "find", "--date", "last week"]) == 2
    assert "not YYYYMMDD" in capsys.readouterr().err
    assert main(["pacs", "get", "1.2.3.999", "--out", str(tmp_path / "got")]) == 2
    assert "refused C-GET of study 1.2.3.999" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["pacs", "get", "1.2.3.999", "--out", str(tmp_path / "file" / "x")]) == 2
    assert "cannot create the folder" in capsys.readouterr().err
