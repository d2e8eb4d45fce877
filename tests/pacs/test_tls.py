"""DICOM over TLS against an Orthanc with a self-signed certificate (made with the ``openssl`` command)."""

from __future__ import annotations

import shutil

import pytest
from pydicom import dcmread

from llm_viewer.pacs import PacsAssociationError, PacsTlsError, TlsFiles, echo, find_studies, retrieve_study, send_files

from .orthanc import orthanc_binary, start_orthanc
from .studies import synthetic_study
from .tls import make_certificate

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="openssl is not installed: no certificate for the TLS tests")


@pytest.fixture(scope="module")
def tls_orthanc(tmp_path_factory):
    binary = orthanc_binary()
    if binary is None:
        pytest.skip("Orthanc is not installed (Debian package 'orthanc'; .ci/run installs it)")
    folder = tmp_path_factory.mktemp("orthanc-tls")
    cert, key = make_certificate(folder, "server")
    server = start_orthanc(binary, folder / "server", tls=(cert, key))
    server.cert = cert
    yield server
    server.stop()


def test_echo_send_find_get_over_tls(tls_orthanc, tmp_path):
    node = tls_orthanc.node(tls=TlsFiles(enabled=True, ca_path=str(tls_orthanc.cert)))
    assert echo(node) < 5.0
    path = synthetic_study(tmp_path / "in", seed=51)
    assert send_files(node, [path]).ok
    ds = dcmread(path, stop_before_pixels=True)
    (study,) = find_studies(node, patient_id=str(ds.PatientID))
    got = retrieve_study(node, study.study_instance_uid, tmp_path / "out")
    assert [p.name for p in got.paths] == [f"{ds.SOPInstanceUID}.dcm"]


def test_tls_mismatches_have_clear_messages(tls_orthanc, orthanc, tmp_path):
    with pytest.raises(PacsAssociationError, match="does the node expect TLS"):
        echo(tls_orthanc.node())  # plain DICOM to a TLS-only node
    other, _ = make_certificate(tmp_path, "other")
    with pytest.raises(PacsTlsError, match="certificate is not trusted.*check the CA file"):
        echo(tls_orthanc.node(tls=TlsFiles(enabled=True, ca_path=str(other))))
    with pytest.raises(PacsTlsError, match="closed the connection during the TLS handshake"):
        echo(orthanc.node(tls=TlsFiles(enabled=True, ca_path=str(tls_orthanc.cert))))  # TLS to a plain node
