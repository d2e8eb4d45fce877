"""Start and stop a private Orthanc (Debian's ``orthanc`` package) on free loopback ports for the tests."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ORTHANC_AET = "ORTHANCTEST"
OUR_AET = "LLMVTEST"
START_TIMEOUT_S = 30.0


def orthanc_binary() -> str | None:
    """The Orthanc executable (on PATH or Debian's /usr/sbin/Orthanc), or None."""
    found = shutil.which("Orthanc")
    if found:
        return found
    return "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").is_file() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OrthancServer:
    """A running Orthanc: its process, ports, AE titles and log file."""

    process: subprocess.Popen
    dicom_port: int
    http_port: int
    move_port: int
    folder: Path
    log_path: Path
    ae_title: str = ORTHANC_AET
    our_ae_title: str = OUR_AET

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def node(self, **changes):
        from llm_viewer.pacs import PacsNode

        base = dict(ae_title=self.ae_title, host="127.0.0.1", port=self.dicom_port, calling_ae_title=self.our_ae_title,
                    timeout_s=15.0, move_ae_title=self.our_ae_title, move_port=self.move_port)
        base.update(changes)
        return PacsNode(**base)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class _ExitedAtStart(RuntimeError):
    """Orthanc stopped at once (typically: a port taken between choosing it and Orthanc binding it)."""


def start_orthanc(binary: str, folder: Path, tls: tuple[Path, Path] | None = None, attempts: int = 3) -> OrthancServer:
    """Write a config and start Orthanc; returns once C-ECHO succeeds (RuntimeError with its log otherwise).

    ``tls``: (certificate, key) PEM files: DICOM TLS only, the certificate also its trusted client list,
    no client certificate required. An Orthanc that exits at start is started again on other ports
    (``attempts`` times in all).
    """
    for attempt in range(1, attempts + 1):
        try:
            return _start(binary, folder / f"try{attempt}", tls)
        except _ExitedAtStart:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _start(binary: str, folder: Path, tls: tuple[Path, Path] | None) -> OrthancServer:
    from llm_viewer.pacs import PacsError, PacsNode, echo

    folder.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port, move_port = free_port(), free_port(), free_port()
    while len({dicom_port, http_port, move_port}) < 3:
        http_port, move_port = free_port(), free_port()
    config = {
        "Name": "llm-viewer-tests", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
        "DicomAet": ORTHANC_AET, "DicomPort": dicom_port, "HttpPort": http_port, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomCheckCalledAet": True, "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowFind": True, "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True, "DicomCheckModalityHost": False, "Plugins": [], "StorageCompression": False,
        "DicomScuTimeout": 10, "DicomAssociationCloseDelay": 0, "StableAge": 1,
        "DicomModalities": {"llmviewer": {"AET": OUR_AET, "Host": "127.0.0.1", "Port": move_port}},
    }
    if tls is not None:
        config.update({"DicomTlsEnabled": True, "DicomTlsCertificate": str(tls[0]), "DicomTlsPrivateKey": str(tls[1]),
                       "DicomTlsTrustedCertificates": str(tls[0]), "DicomTlsRemoteCertificateRequired": False})
    cfg = folder / "orthanc.json"
    cfg.write_text(json.dumps(config, indent=1))
    log_path = folder / "orthanc.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([binary, str(cfg)], stdout=log, stderr=subprocess.STDOUT, cwd=folder,
                                stdin=subprocess.DEVNULL)
    server = OrthancServer(proc, dicom_port, http_port, move_port, folder, log_path)
    from llm_viewer.pacs import TlsFiles

    node = PacsNode(ORTHANC_AET, "127.0.0.1", dicom_port, calling_ae_title=OUR_AET, timeout_s=3.0,
                    tls=TlsFiles(enabled=True, ca_path=str(tls[0])) if tls else TlsFiles())
    deadline = time.monotonic() + START_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _ExitedAtStart(f"Orthanc exited with status {proc.returncode} at start:\n{server.log()}")
        try:
            echo(node)
            return server
        except PacsError as exc:
            last = str(exc)
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"Orthanc did not answer C-ECHO within {START_TIMEOUT_S:g} s ({last}):\n{server.log()}")
