"""C-STORE: send DICOM files to the node, with a status per file and clear reasons for refused ones."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .association import associate, check_dimse_status
from .errors import PacsCancelled, PacsError, PacsNoServiceError
from .node import PacsNode
from .retrieve import STORAGE_CLASSES

MAX_CONTEXTS = 120
STATUS_MEANINGS = {
    0x0117: "invalid SOP instance",
    0x0122: "SOP class not supported",
    0x0124: "not authorised",
    0x0210: "duplicate invocation",
    0x0211: "unrecognised operation",
    0x0212: "mistyped argument",
    0xA700: "out of resources",
    0xA900: "data set does not match the SOP class",
    0xB000: "coercion of data elements",
    0xB006: "elements discarded",
    0xB007: "data set does not match the SOP class",
    0xC000: "cannot understand",
}


@dataclass(frozen=True)
class SendItem:
    """The outcome of one file: ``ok`` when stored (success or warning status)."""

    path: Path
    ok: bool
    message: str
    sop_instance_uid: str | None = None
    status: int | None = None


@dataclass
class SendResult:
    """Per-file outcomes of :func:`send_files`."""

    items: list[SendItem] = field(default_factory=list)

    @property
    def n_sent(self) -> int:
        return sum(1 for i in self.items if i.ok)

    @property
    def n_failed(self) -> int:
        return sum(1 for i in self.items if not i.ok)

    @property
    def ok(self) -> bool:
        return bool(self.items) and self.n_failed == 0

    @property
    def failures(self) -> list[SendItem]:
        return [i for i in self.items if not i.ok]


@dataclass(frozen=True)
class _File:
    path: Path
    sop_class: str
    sop_instance: str
    syntax: str


def _read_header(path: Path) -> _File | str:
    """The file's SOP class/instance and transfer syntax, or the reason it cannot be sent."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    if not path.is_file():
        return "no such file"
    try:
        ds = dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        return "not a DICOM file (no DICM header)"
    except (OSError, ValueError, EOFError) as exc:
        return f"unreadable DICOM file ({exc})"
    meta = getattr(ds, "file_meta", None)
    sop_class = str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta else ""))
    sop_instance = str(ds.get("SOPInstanceUID", "") or (meta.get("MediaStorageSOPInstanceUID", "") if meta else ""))
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta else ""
    if not sop_class or not sop_instance:
        return "the file has no SOP Class UID or SOP Instance UID"
    if not syntax:
        return "the file has no transfer syntax (no file meta information)"
    return _File(path, sop_class, sop_instance, syntax)


def _class_name(uid: str) -> str:
    from pydicom.uid import UID

    return STORAGE_CLASSES.get(uid) or UID(uid).name or uid


def _not_accepted(node: PacsNode, f: _File) -> SendItem:
    from pydicom.uid import UID

    return SendItem(f.path, False, f"{f.path}: {node.label} does not accept {_class_name(f.sop_class)} in "
                    f"{UID(f.syntax).name or f.syntax}", f.sop_instance)


def send_files(node: PacsNode, paths: Sequence[str | os.PathLike[str]],
               progress: Callable[[float, str], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> SendResult:
    """C-STORE each file to the node, as it is (its own transfer syntax).

    Parameters
    ----------
    node : PacsNode
    paths : sequence of path
        DICOM files. Files that are not DICOM, or whose SOP class / transfer syntax the node does not
        accept, get a failed :class:`SendItem` with the reason; the others are still sent.
    progress, cancel : callable, optional
        ``progress(fraction, message)`` after each file; ``cancel()`` True stops (raises PacsCancelled).

    Returns
    -------
    SendResult
        One item per path, in order.

    Raises
    ------
    PacsError
        The node cannot be reached, rejects the association, times out or aborts.
    """
    items: dict[int, SendItem] = {}
    files: list[tuple[int, _File]] = []
    for k, raw in enumerate(paths):
        header = _read_header(Path(raw))
        if isinstance(header, str):
            items[k] = SendItem(Path(raw), False, f"{raw}: {header}")
        else:
            files.append((k, header))
    total = max(1, len(files))
    pairs = sorted({(f.sop_class, f.syntax) for _, f in files})
    for start in range(0, len(pairs), MAX_CONTEXTS):
        chunk = set(pairs[start:start + MAX_CONTEXTS])
        batch = [(k, f) for k, f in files if (f.sop_class, f.syntax) in chunk]
        try:
            _send_batch(node, sorted(chunk), batch, items, total, progress, cancel)
        except PacsNoServiceError:  # not one SOP class / transfer syntax of the batch is accepted
            for k, f in batch:
                items[k] = _not_accepted(node, f)
    return SendResult([items[k] for k in sorted(items)])


def _send_batch(node: PacsNode, pairs: list[tuple[str, str]], batch: list[tuple[int, _File]],
                items: dict[int, SendItem], total: int, progress: Callable[[float, str], None] | None,
                cancel: Callable[[], bool] | None) -> None:
    with associate(node, [(c, [s]) for c, s in pairs], what="C-STORE") as assoc:
        accepted = {(c.abstract_syntax, c.transfer_syntax[0]) for c in assoc.accepted_contexts}
        for k, f in batch:
            if cancel is not None and cancel():
                raise PacsCancelled(f"sending to {node.label} cancelled after {len(items)} file(s)")
            if (f.sop_class, f.syntax) not in accepted:
                items[k] = _not_accepted(node, f)
                continue
            try:
                status = assoc.send_c_store(f.path)
            except (ValueError, AttributeError, OSError) as exc:
                items[k] = SendItem(f.path, False, f"{f.path}: cannot be sent ({exc})", f.sop_instance)
                continue
            try:
                check_dimse_status(node, assoc, status, f"C-STORE of {f.path.name}")
            except PacsError as exc:
                items[k] = SendItem(f.path, False, str(exc), f.sop_instance)
                raise
            code = int(status.Status)
            meaning = STATUS_MEANINGS.get(code, "")
            comment = str(status.get("ErrorComment", "") or "")
            detail = "; ".join(x for x in (meaning, comment) if x)
            if code == 0x0000:
                items[k] = SendItem(f.path, True, f"{f.path}: stored", f.sop_instance, code)
            elif code & 0xF000 == 0xB000:
                items[k] = SendItem(f.path, True, f"{f.path}: stored with a warning (0x{code:04X} {detail})",
                                    f.sop_instance, code)
            else:
                items[k] = SendItem(f.path, False, f"{f.path}: {node.label} refused it (status 0x{code:04X}"
                                    + (f": {detail})" if detail else ")"), f.sop_instance, code)
            if progress is not None:
                progress(len(items) / total, f"C-STORE: {len(items)} of {total} file(s)")
