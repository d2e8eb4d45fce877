"""Retrieve a study into a folder: C-GET (default; no inbound connection) or C-MOVE to our storage SCP.

Each instance is written atomically as ``<SOP Instance UID>.dcm`` with the bytes the node sent (a file meta
header added), so a half-received file never appears in the folder.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.atomic import atomic_write_bytes
from .association import associate, check_dimse_status, make_ae
from .errors import PacsCancelled, PacsConnectionError, PacsSettingsError, PacsStatusError
from .node import PacsNode
from .query import UNCOMPRESSED

STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STORAGE_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.1": "Computed Radiography Image Storage",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.59": "Key Object Selection Document Storage",
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF Storage",
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State Storage",
}
"""The storage SOP classes we accept when retrieving: radiographs (DX, CR), Secondary Capture, SR, PDF."""
TRANSFER_SYNTAXES = (
    *UNCOMPRESSED,
    "1.2.840.10008.1.2.4.70",  # JPEG lossless, first-order prediction
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.5",  # RLE lossless
)
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
Progress = Callable[[float, str], None]


@dataclass
class RetrieveResult:
    """What a retrieval wrote.

    Attributes
    ----------
    study_instance_uid : str
    dest_dir : Path
    paths : list of Path
        Files written, in arrival order.
    method : str
        ``"C-GET"`` or ``"C-MOVE"``.
    n_completed, n_failed, n_warning : int
        Sub-operation counts from the node's final answer.
    warnings : list of str
        Instances not stored (with the reason) and partial-success notes.
    """

    study_instance_uid: str
    dest_dir: Path
    paths: list[Path] = field(default_factory=list)
    method: str = "C-GET"
    n_completed: int = 0
    n_failed: int = 0
    n_warning: int = 0
    warnings: list[str] = field(default_factory=list)


def instance_file_name(sop_instance_uid: str) -> str:
    """``<uid>.dcm`` for a well-formed UID, else a hash-based name (never a path outside the folder)."""
    uid = (sop_instance_uid or "").strip()
    if _UID.match(uid) and len(uid) <= 64:
        return f"{uid}.dcm"
    return f"instance-{hashlib.sha256(uid.encode()).hexdigest()[:20]}.dcm"


class _Receiver:
    """The C-STORE handler: writes each instance atomically and records it (thread-safe)."""

    def __init__(self, dest_dir: Path, cancel: Callable[[], bool] | None) -> None:
        self.dest_dir = dest_dir
        self.cancel = cancel
        self.paths: list[Path] = []
        self.warnings: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> int:
        from pydicom.filewriter import write_file_meta_info

        if self.cancel is not None and self.cancel():
            return 0xA700  # refused: the retrieval is being cancelled (the caller aborts at the next answer)
        sop_uid = str(event.request.AffectedSOPInstanceUID)
        target = self.dest_dir / instance_file_name(sop_uid)
        try:
            buf = io.BytesIO()
            buf.write(b"\x00" * 128 + b"DICM")
            write_file_meta_info(buf, event.file_meta, enforce_standard=True)
            buf.write(event.request.DataSet.getvalue())
            atomic_write_bytes(target, buf.getvalue())
        except Exception as exc:  # noqa: BLE001 - a refused instance is a status to the node, never a crash
            with self.lock:
                self.warnings.append(f"instance {sop_uid} not stored: {exc}")
            return 0xA700
        with self.lock:
            self.paths.append(target)
        return 0x0000


def _query(study_uid: str) -> Any:
    from pydicom.dataset import Dataset

    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = study_uid
    return q


def _follow(node: PacsNode, assoc: Any, responses: Any, result: RetrieveResult, what: str,
            progress: Progress | None, cancel: Callable[[], bool] | None) -> None:
    """Walk the C-GET/C-MOVE answers: progress, cancel, the final counts and status."""
    for status, _identifier in responses:
        if cancel is not None and cancel():
            assoc.abort()
            raise PacsCancelled(f"{what} of study {result.study_instance_uid} from {node.label} cancelled")
        check_dimse_status(node, assoc, status, what)
        code = int(status.Status)
        done = int(status.get("NumberOfCompletedSuboperations", 0) or 0)
        left = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
        failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
        warned = int(status.get("NumberOfWarningSuboperations", 0) or 0)
        if code == 0xFF00:
            total = done + left + failed + warned
            if progress is not None and total:
                progress((done + failed + warned) / total, f"{what}: {done + warned} of {total} instances")
            continue
        result.n_completed, result.n_failed, result.n_warning = done, failed, warned
        if code == 0x0000:
            return
        if code == 0xB000:
            result.warnings.append(f"{node.label}: {failed} instance(s) of the study could not be retrieved")
            return
        if code == 0xFE00:
            raise PacsCancelled(f"{what} of study {result.study_instance_uid} cancelled by {node.label}")
        detail = "; ".join(x for x in (_meaning(code, what), str(status.get("ErrorComment", "") or "")) if x)
        raise PacsStatusError(f"{node.label} refused {what} of study {result.study_instance_uid}: status "
                              f"0x{code:04X}" + (f" ({detail})" if detail else ""))


def _meaning(code: int, what: str) -> str:
    known = {0xA701: "out of resources", 0xA702: "out of resources", 0xA801: "move destination unknown to the node",
             0xA900: "identifier does not match the SOP class", 0xAA00: "none of the frames found"}
    if code in known:
        return known[code]
    if 0xC000 <= code <= 0xCFFF:
        if what.startswith("C-MOVE"):
            return "unable to process: unknown study, or a move destination the node does not know"
        return "unable to process: unknown study or a query the node cannot answer"
    return ""


def retrieve_study(node: PacsNode, study_uid: str, dest_dir: str | Path, progress: Progress | None = None,
                   cancel: Callable[[], bool] | None = None, *, method: str | None = None) -> RetrieveResult:
    """Retrieve every instance of one study into ``dest_dir`` (created).

    Parameters
    ----------
    node : PacsNode
    study_uid : str
        Study Instance UID (from :func:`find_studies`).
    dest_dir : path
        Folder receiving ``<SOP Instance UID>.dcm`` files.
    progress : callable, optional
        ``progress(fraction, message)`` after each instance.
    cancel : callable, optional
        Returns True to stop: the association is aborted and :class:`PacsCancelled` raised (files already
        received stay).
    method : str, optional
        ``"C-GET"`` or ``"C-MOVE"``; default: the node's ``retrieve_method``.

    Returns
    -------
    RetrieveResult

    Raises
    ------
    PacsError
        Network failure, a refused request, or a study the node does not hold.
    """
    uid = (study_uid or "").strip()
    if not _UID.match(uid):
        raise PacsSettingsError(f"{study_uid!r} is not a Study Instance UID (digits and dots)")
    method = (method or node.retrieve_method).upper()
    dest = Path(dest_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PacsSettingsError(f"cannot create the folder {dest}: {exc.strerror or exc}") from None
    receiver = _Receiver(dest, cancel)
    result = RetrieveResult(uid, dest, method=method)
    if method == "C-GET":
        _get(node, receiver, result, progress, cancel)
    elif method == "C-MOVE":
        _move(node, receiver, result, progress, cancel)
    else:
        raise PacsSettingsError(f"unknown retrieve method {method!r} (C-GET or C-MOVE)")
    result.paths = list(receiver.paths)
    result.warnings = receiver.warnings + result.warnings
    if not result.paths:
        raise PacsStatusError(f"{node.label} sent no instance of study {uid} by {method}"
                              + (f" ({'; '.join(result.warnings)})" if result.warnings else
                                 " (unknown study, or instances of unsupported SOP classes)"))
    if progress is not None:
        progress(1.0, f"{method}: {len(result.paths)} instance(s) received")
    return result


def _get(node: PacsNode, receiver: _Receiver, result: RetrieveResult, progress: Progress | None,
         cancel: Callable[[], bool] | None) -> None:
    from pynetdicom import evt

    contexts = [(STUDY_ROOT_GET, UNCOMPRESSED)] + [(uid, TRANSFER_SYNTAXES) for uid in STORAGE_CLASSES]
    with associate(node, contexts, what="C-GET", roles=list(STORAGE_CLASSES),
                   evt_handlers=[(evt.EVT_C_STORE, receiver)]) as assoc:
        _follow(node, assoc, assoc.send_c_get(_query(result.study_instance_uid), STUDY_ROOT_GET), result, "C-GET",
                progress, cancel)


def _move(node: PacsNode, receiver: _Receiver, result: RetrieveResult, progress: Progress | None,
          cancel: Callable[[], bool] | None) -> None:
    from pynetdicom import evt

    if not node.move_ae_title or not node.move_port:
        raise PacsSettingsError(f"{node.label}: C-MOVE needs a move destination (AE title and port) in the settings")
    scp = make_ae(node, node.move_ae_title)
    for uid in STORAGE_CLASSES:
        scp.add_supported_context(uid, list(TRANSFER_SYNTAXES))
    try:
        server = scp.start_server(("", node.move_port), block=False, evt_handlers=[(evt.EVT_C_STORE, receiver)])
    except OSError as exc:
        raise PacsConnectionError(f"cannot listen on port {node.move_port} for C-MOVE from {node.label}: "
                                  f"{exc.strerror or exc}") from None
    try:
        with associate(node, [(STUDY_ROOT_MOVE, UNCOMPRESSED)], what="C-MOVE") as assoc:
            _follow(node, assoc, assoc.send_c_move(_query(result.study_instance_uid), node.move_ae_title,
                                                   STUDY_ROOT_MOVE), result, f"C-MOVE to {node.move_ae_title}",
                    progress, cancel)
    finally:
        server.shutdown()
        scp.shutdown()
