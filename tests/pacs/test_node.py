"""PACS settings: validation messages, the shared settings file, the TLS context (no server needed)."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess

import pytest

from llm_viewer.pacs import (
    PacsNode,
    PacsSettingsError,
    PacsTlsError,
    TlsFiles,
    load_node,
    pacs_settings_file,
    save_node,
    ssl_context,
)
from llm_viewer.pacs.node import config_dir
from llm_viewer.pacs.query import validate_date
from llm_viewer.pacs.retrieve import instance_file_name


def test_settings_round_trip_through_the_json_file(tmp_path):
    node = PacsNode("PACS1", " pacs.example.org ", 11112, calling_ae_title="ME", timeout_s=12,
                    tls=TlsFiles(enabled=True, ca_path="/etc/ca.pem"), move_ae_title="MYSCP", move_port=11113,
                    retrieve_method="c-move")
    path = save_node(node, tmp_path / "sub" / "pacs.json")
    assert path.is_file() and json.loads(path.read_text())["version"] == 1
    back = load_node(path)
    assert back == node
    assert back.host == "pacs.example.org" and back.retrieve_method == "C-MOVE" and back.tls.ca_path == "/etc/ca.pem"
    assert load_node(tmp_path / "missing.json") is None


def test_settings_file_is_next_to_the_viewer_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM_VIEWER_PACS_SETTINGS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_dir() == tmp_path
    assert pacs_settings_file() == tmp_path / "llm-viewer" / "pacs.json"
    monkeypatch.setenv("LLM_VIEWER_PACS_SETTINGS", str(tmp_path / "other.json"))
    assert pacs_settings_file() == tmp_path / "other.json"


@pytest.mark.parametrize("kwargs, message", [
    (dict(ae_title="", host="h", port=104), "AE title is empty"),
    (dict(ae_title="A" * 17, host="h", port=104), "longer than 16"),
    (dict(ae_title="BAD\\AE", host="h", port=104), "character DICOM does not allow"),
    (dict(ae_title="PACS", host="", port=104), "host"),
    (dict(ae_title="PACS", host="h", port=70000), "outside 1-65535"),
    (dict(ae_title="PACS", host="h", port="abc"), "whole number"),
    (dict(ae_title="PACS", host="h", port=104, timeout_s=0), "timeout"),
    (dict(ae_title="PACS", host="h", port=104, calling_ae_title=" "), "calling AE title is empty"),
    (dict(ae_title="PACS", host="h", port=104, retrieve_method="C-MOVE"), "C-MOVE needs a move destination"),
    (dict(ae_title="PACS", host="h", port=104, retrieve_method="C-PUT"), "neither C-GET nor C-MOVE"),
    (dict(ae_title="PACS", host="h", port=104, tls=TlsFiles(enabled=True, key_path="k.pem")), "key file"),
])
def test_invalid_settings_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(PacsSettingsError, match=message):
        PacsNode(**kwargs)


def test_broken_settings_files_name_the_file_and_the_problem(tmp_path):
    p = tmp_path / "pacs.json"
    p.write_text("{not json")
    with pytest.raises(PacsSettingsError, match="not valid JSON") as info:
        load_node(p)
    assert str(p) in str(info.value)
    p.write_text(json.dumps({"version": 1, "node": {"ae_title": "X", "host": "h", "port": 104, "colour": 1}}))
    with pytest.raises(PacsSettingsError, match="unknown PACS setting.*colour"):
        load_node(p)
    p.write_text(json.dumps({"version": 1, "node": {"ae_title": "X", "port": 104}}))
    with pytest.raises(PacsSettingsError, match="lack host"):
        load_node(p)
    p.write_text(json.dumps({"node": {"ae_title": "X", "host": "h", "port": 0}}))
    with pytest.raises(PacsSettingsError, match="outside 1-65535"):
        load_node(p)


def test_dates_and_file_names():
    assert validate_date("2021-12-14") == "20211214"
    assert validate_date("20210101-20211231") == "20210101-20211231"
    assert validate_date("20210101-") == "20210101-"
    assert validate_date(" ") is None
    for bad in ("yesterday", "2021", "20210101 20211231", "-"):
        with pytest.raises(PacsSettingsError, match="not YYYYMMDD"):
            validate_date(bad)
    assert instance_file_name("1.2.3.4") == "1.2.3.4.dcm"
    odd = instance_file_name("../../etc/passwd")
    assert "/" not in odd and odd.endswith(".dcm") and odd.startswith("instance-")


def test_tls_context_off_missing_files_and_bad_pem(tmp_path):
    assert ssl_context(PacsNode("P", "h", 104)) is None
    missing = PacsNode("P", "h", 104, tls=TlsFiles(enabled=True, ca_path=str(tmp_path / "none.pem")))
    with pytest.raises(PacsTlsError, match="CA file .*none.pem does not exist"):
        ssl_context(missing)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(PacsTlsError, match="junk.pem"):
        ssl_context(PacsNode("P", "h", 104, tls=TlsFiles(enabled=True, ca_path=str(junk))))
    with pytest.raises(PacsTlsError, match="certificate .*junk.pem"):
        ssl_context(PacsNode("P", "h", 104, tls=TlsFiles(enabled=True, cert_path=str(junk))))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed (needed to make a certificate)")
def test_tls_context_is_built_from_pem_files(tmp_path):
    from .tls import make_certificate

    cert, key = make_certificate(tmp_path, "client")
    node = PacsNode("P", "127.0.0.1", 104, tls=TlsFiles(enabled=True, ca_path=str(cert), cert_path=str(cert),
                                                         key_path=str(key)))
    ctx = ssl_context(node)
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert any("llm-viewer-test-client" in str(c.get("subject")) for c in ctx.get_ca_certs())
    assert subprocess.run(["openssl", "x509", "-in", str(cert), "-noout"], check=False).returncode == 0
