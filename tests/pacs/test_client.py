"""The PACS client against a real Orthanc: echo, C-STORE, C-FIND, C-GET, C-MOVE, and every failure's message."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from pydicom import dcmread

from llm_viewer.pacs import (
    PacsAssociationError,
    PacsCancelled,
    PacsConnectionError,
    PacsStatusError,
    PacsTimeoutError,
    echo,
    find_series,
    find_studies,
    retrieve_study,
    send_files,
)

from .orthanc import free_port
from .studies import private_class_copy, synthetic_study


@pytest.fixture(scope="module")
def stored(orthanc, tmp_path_factory):
    """One synthetic study sent to Orthanc: (node, file, dataset)."""
    node = orthanc.node()
    path = synthetic_study(tmp_path_factory.mktemp("send"), seed=21)
    result = send_files(node, [path])
    assert result.ok, [i.message for i in result.items]
    return node, path, dcmread(path)


def test_echo(orthanc):
    assert echo(orthanc.node()) < 5.0


def test_send_reports_each_file(orthanc, stored, tmp_path):
    node, path, _ = stored
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom")
    private = private_class_copy(path, tmp_path / "private.dcm")
    result = send_files(node, [path, junk, tmp_path / "missing.dcm", private])
    assert [i.ok for i in result.items] == [True, False, False, False]
    assert result.n_sent == 1 and result.n_failed == 3 and not result.ok
    assert result.items[0].status == 0 and result.items[0].sop_instance_uid == str(stored[2].SOPInstanceUID)
    assert "not a DICOM file" in result.items[1].message
    assert "no such file" in result.items[2].message
    assert "does not accept" in result.items[3].message and node.label in result.items[3].message
    (alone,) = send_files(node, [private]).items  # the node accepts none of the proposed services
    assert not alone.ok and "does not accept" in alone.message and "424242" in alone.message


def test_find_studies_by_each_key(stored):
    node, _, ds = stored
    uid = str(ds.StudyInstanceUID)
    (rec,) = find_studies(node, patient_id=str(ds.PatientID))
    assert rec.study_instance_uid == uid and rec.patient_name == str(ds.PatientName)
    assert rec.study_date == ds.StudyDate and rec.accession_number == ds.AccessionNumber
    assert rec.modalities == ("DX",) and rec.n_instances == 1 and rec.n_series == 1
    assert uid in {r.study_instance_uid for r in find_studies(node, patient_name=str(ds.PatientName)[:6] + "*")}
    assert uid in {r.study_instance_uid for r in find_studies(node, study_date=f"{ds.StudyDate}-{ds.StudyDate}")}
    assert uid in {r.study_instance_uid for r in find_studies(node, modality="DX")}
    assert [r.study_instance_uid for r in find_studies(node, accession=ds.AccessionNumber)] == [uid]
    assert find_studies(node, patient_id="NOBODY-HERE") == []
    assert uid not in {r.study_instance_uid for r in find_studies(node, modality="MR")}
    (series,) = find_series(node, uid)
    assert series.series_instance_uid == ds.SeriesInstanceUID and series.modality == "DX" and series.n_instances == 1


@pytest.mark.parametrize("method", ["C-GET", "C-MOVE"])
def test_retrieve_writes_the_instances(stored, tmp_path, method):
    node, _, ds = stored
    seen = []
    result = retrieve_study(node, ds.StudyInstanceUID, tmp_path / "in", progress=lambda f, m: seen.append(f),
                            method=method)
    assert result.method == method and result.n_failed == 0
    (path,) = result.paths
    assert path.name == f"{ds.SOPInstanceUID}.dcm" and path.parent == tmp_path / "in"
    back = dcmread(path)
    assert back.SOPInstanceUID == ds.SOPInstanceUID and back.PatientID == ds.PatientID
    assert np.array_equal(back.pixel_array, ds.pixel_array)
    assert seen and seen[-1] == 1.0
    assert not [p for p in (tmp_path / "in").iterdir() if p.suffix != ".dcm"]  # no temporary files left


def test_retrieve_unknown_study_and_cancel(stored, tmp_path):
    node, _, ds = stored
    with pytest.raises(PacsStatusError, match="1.2.3.999"):
        retrieve_study(node, "1.2.3.999", tmp_path / "none")
    with pytest.raises(PacsCancelled, match="cancelled"):
        retrieve_study(node, ds.StudyInstanceUID, tmp_path / "cancel", cancel=lambda: True)


def test_move_to_an_unknown_destination_is_refused(orthanc, stored, tmp_path):
    node = orthanc.node(move_ae_title="STRANGER", move_port=free_port())
    with pytest.raises(PacsStatusError, match="C-MOVE to STRANGER.*move destination the node does not know"):
        retrieve_study(node, stored[2].StudyInstanceUID, tmp_path / "x", method="C-MOVE")


def test_wrong_called_ae_title_is_a_rejection_naming_it(orthanc):
    node = orthanc.node(ae_title="NOTORTHANC")
    with pytest.raises(PacsAssociationError, match="NOTORTHANC@127.0.0.1.*rejected.*Called AE title not recognised"):
        find_studies(node)


def test_refused_connection(orthanc):
    node = orthanc.node(port=free_port())
    with pytest.raises(PacsConnectionError, match="connection refused"):
        echo(node)


class _Silent:
    """A TCP server that accepts connections and then says nothing (or closes them at once)."""

    def __init__(self, close: bool) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.close = close
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.close:
                conn.close()
            else:
                self.conns.append(conn)

    def stop(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("close", [False, True])
def test_a_node_that_never_answers_times_out_and_one_that_hangs_up_aborts(orthanc, close):
    server = _Silent(close)
    node = orthanc.node(port=server.port, timeout_s=1.5)
    t0 = time.monotonic()
    try:
        with pytest.raises((PacsTimeoutError, PacsAssociationError)) as info:
            echo(node)
    finally:
        server.stop()
    assert time.monotonic() - t0 < 10
    assert node.label in str(info.value)
    if close:
        assert isinstance(info.value, PacsAssociationError) and "aborted" in str(info.value)
    else:
        assert isinstance(info.value, PacsTimeoutError) and "1.5 s" in str(info.value)
