"""The source radiograph of a case as DICOM, and the modules every result object copies from it.

The DICOM results (:mod:`llm_viewer.report.dicom_results`) sit in the source's study: they copy its
Patient and General Study modules, start a new series each, and reference the source image by its SOP
Class / Instance UIDs and its series. This module reads the source header (pixels are not read),
checks that it has what those references need, and builds the shared attributes. No Qt, no torch.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from .. import __version__

MANUFACTURER = "llm-viewer"
"""Manufacturer written into the General Equipment module of every result object."""

PRIVATE_SCHEME = "99LLMV"
"""Coding scheme designator of the codes this project defines (landmarks, metrics, plans)."""

PRIVATE_SCHEME_NAME = "llm-viewer lower-limb alignment codes"

PATIENT_STUDY_KEYWORDS: tuple[str, ...] = (
    # Patient module
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
    "OtherPatientIDsSequence", "PatientAge", "PatientWeight", "PatientSize",
    # General Study module
    "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
    "StudyDescription", "IssuerOfAccessionNumberSequence",
)
"""Attributes copied verbatim from the source when present (Patient, General Study, Patient Study)."""

TYPE2_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "StudyID", "AccessionNumber",
)
"""Type 2 attributes of those modules: written empty when the source lacks them."""

UNSTATED_DEID_METHOD = "as the source image (method not stated there)"
"""DeidentificationMethod written when the source says PatientIdentityRemoved YES but names no method."""

REQUIRED_UIDS: tuple[str, ...] = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
)


class DicomResultsError(ValueError):
    """The DICOM results cannot be written; the message names the file and the problem."""


@dataclass(frozen=True)
class SourceImage:
    """The source radiograph's DICOM header (no pixels) and where it is."""

    path: Path
    dataset: Dataset

    @property
    def study_instance_uid(self) -> str:
        return str(self.dataset.StudyInstanceUID)

    @property
    def series_instance_uid(self) -> str:
        return str(self.dataset.SeriesInstanceUID)

    @property
    def sop_class_uid(self) -> str:
        return str(self.dataset.SOPClassUID)

    @property
    def sop_instance_uid(self) -> str:
        return str(self.dataset.SOPInstanceUID)


def _kind_of_file(path: Path) -> str | None:
    """``"a PNG image"`` etc. when the file's first bytes say so, else ``None``.

    A DICOM Part 10 file (``DICM`` after the 128-byte preamble) is DICOM whatever its preamble holds: a
    dual-personality file may carry a TIFF header there.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return None
    if head[128:132] == b"DICM":
        return None
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def read_source(path: str | Path) -> SourceImage:
    """Read the header of the case's source image and check it can be referenced.

    Parameters
    ----------
    path : path-like
        The case's image file.

    Returns
    -------
    SourceImage

    Raises
    ------
    DicomResultsError
        The file is missing, is not DICOM (a PNG/JPEG/TIFF export: the SR must reference the original
        image by its UIDs), is malformed, or lacks one of the UIDs the references need.
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    p = Path(path)
    if not p.is_file():
        raise DicomResultsError(f"the case's source image {p} does not exist")
    kind = _kind_of_file(p)
    if kind is not None:
        raise DicomResultsError(
            f"the SR references the source image by its DICOM UIDs; {p} is {kind}, not DICOM: export the "
            "results from a case made on the original DICOM image")
    try:
        ds = dcmread(p, stop_before_pixels=True)
    except InvalidDicomError:
        raise DicomResultsError(
            f"the SR references the source image by its DICOM UIDs; {p} is not a DICOM file (no DICM preamble)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on truncated or corrupt files
        raise DicomResultsError(f"cannot read {p} as DICOM: {type(exc).__name__}: {exc}") from None
    missing = []
    for kw in REQUIRED_UIDS:
        try:
            value = ds.get(kw)
        except Exception:  # noqa: BLE001 - a malformed element raises on access
            value = None
        if not value or not str(value).strip():
            missing.append(kw)
    if missing:
        raise DicomResultsError(f"{p} lacks {', '.join(missing)}: the results cannot reference it")
    return SourceImage(p, ds)


def person_name(text: str | None) -> str | None:
    """A free-text name as a DICOM PN value: control characters and ``\\`` (the value separator) removed,
    each ``^``/``=`` component group cut to 64 characters; ``None`` when nothing is left.

    A name typed without ``^`` (``"Dr Test"``) is kept as one family-name component: splitting it would guess.
    """
    if text is None:
        return None
    clean = "".join(ch for ch in str(text) if ch.isprintable() and ch != "\\").strip()
    if not clean:
        return None
    return "=".join(group[:64] for group in clean.split("=")[:3])


def new_uid() -> str:
    """A new, random UID (a new SOP instance or series each export)."""
    return str(generate_uid())


_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
_CHECKED: dict[str, str] = {"PatientSex": "sex", "PatientBirthDate": "date", "StudyDate": "date", "StudyTime": "time"}
"""Attributes whose malformed source value is written empty (highdicom refuses it; none of them identifies)."""


def _valid(kind: str, value: str) -> bool:
    if not value:
        return True
    if kind == "sex":
        return value in ("M", "F", "O")
    if kind == "time":
        return bool(_TM.match(value)) and int(value[:2]) < 24 and int(value[2:4] or 0) < 60
    if not _DA.match(value):
        return False
    try:
        _dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return False
    return True


def header_problems(source: SourceImage) -> list[str]:
    """One line per source value the results write empty because it is malformed (e.g. ``PatientSex 'X'``)."""
    out = []
    for kw, kind in _CHECKED.items():
        value = str(source.dataset.get(kw, "") or "").strip()
        if not _valid(kind, value):
            out.append(f"{source.path}: {kw} {value!r} is not a valid DICOM {kind}; the results leave it empty")
    return out


def copy_patient_study(source: SourceImage, ds: Dataset) -> None:
    """Copy the Patient and General Study modules from the source (type 2 attributes empty if absent); UTF-8.

    Values are copied as they are, identifiers included even when longer than their VR allows (the results
    must match the study they join); a malformed sex, date or time (:func:`header_problems`) is written empty.
    """
    src = source.dataset
    for kw in PATIENT_STUDY_KEYWORDS:
        if kw in src:
            ds[kw] = src[kw]
            if kw in _CHECKED and not _valid(_CHECKED[kw], str(src.get(kw, "") or "").strip()):
                setattr(ds, kw, "")
        elif kw in TYPE2_KEYWORDS:
            setattr(ds, kw, "")
    if str(ds.get("PatientIdentityRemoved", "")).upper() == "YES" and not (
            ds.get("DeidentificationMethod") or ds.get("DeidentificationMethodCodeSequence")):
        ds.DeidentificationMethod = UNSTATED_DEID_METHOD  # type 1C once the identity is said to be removed
    # pydicom decoded the source's text with its character set; the results are written as UTF-8, which holds
    # any name (a reviewer's included) whatever the source's repertoire
    ds.SpecificCharacterSet = "ISO_IR 192"


def set_equipment(ds: Dataset) -> None:
    """General Equipment (and SOP Common creation time stamp) of a result object."""
    now = _dt.datetime.now()
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "llm-viewer"
    ds.SoftwareVersions = __version__
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")


def referenced_image(source: SourceImage) -> Dataset:
    """An item with ReferencedSOPClassUID / ReferencedSOPInstanceUID of the source image."""
    item = Dataset()
    item.ReferencedSOPClassUID = source.sop_class_uid
    item.ReferencedSOPInstanceUID = source.sop_instance_uid
    return item


def referenced_series(source: SourceImage) -> Dataset:
    """A ReferencedSeriesSequence item (Common Instance Reference module) naming the source image."""
    item = Dataset()
    item.SeriesInstanceUID = source.series_instance_uid
    item.ReferencedInstanceSequence = [referenced_image(source)]
    return item


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    """A code sequence item (CodeValue, CodingSchemeDesignator, CodeMeaning)."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def dicom_datetime(iso: str | None) -> _dt.datetime | None:
    """A case time stamp (ISO 8601, ``...Z``) as a naive UTC datetime; ``None`` when absent or malformed."""
    if not iso:
        return None
    try:
        when = _dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(_dt.UTC).replace(tzinfo=None)
    return when
