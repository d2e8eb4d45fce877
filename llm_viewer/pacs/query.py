"""C-ECHO and C-FIND (Study Root): is the node there, which studies and series does it hold."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from .association import associate, check_dimse_status
from .errors import PacsSettingsError, PacsStatusError
from .node import PacsNode

UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")  # explicit, implicit VR little endian
VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
MAX_RESULTS = 5000
_DATE = re.compile(r"^(\d{8})?(-)?(\d{8})?$")


@dataclass(frozen=True)
class StudyRecord:
    """One study a C-FIND found (empty attributes are ``None``)."""

    study_instance_uid: str
    patient_id: str | None = None
    patient_name: str | None = None
    patient_birth_date: str | None = None
    study_date: str | None = None
    study_time: str | None = None
    accession_number: str | None = None
    study_description: str | None = None
    modalities: tuple[str, ...] = ()
    n_series: int | None = None
    n_instances: int | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["modalities"] = list(self.modalities)
        return d


@dataclass(frozen=True)
class SeriesRecord:
    """One series of a study."""

    series_instance_uid: str
    study_instance_uid: str
    modality: str | None = None
    series_number: int | None = None
    series_description: str | None = None
    n_instances: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def echo(node: PacsNode) -> float:
    """C-ECHO the node; returns the round-trip time in seconds.

    Raises
    ------
    PacsError
        No connection, association refused, timeout, or a failure status.
    """
    import time

    t0 = time.monotonic()
    with associate(node, [(VERIFICATION, UNCOMPRESSED)], what="C-ECHO") as assoc:
        status = assoc.send_c_echo()
        check_dimse_status(node, assoc, status, "C-ECHO")
        if status.Status != 0x0000:
            raise PacsStatusError(f"{node.label} answered C-ECHO with status 0x{status.Status:04X}")
    return time.monotonic() - t0


def validate_date(value: str | None) -> str | None:
    """A DICOM date or range (``YYYYMMDD``, ``YYYYMMDD-``, ``-YYYYMMDD``, ``A-B``); dashes in dates allowed."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    compact = re.sub(r"(\d{4})-(\d{2})-(\d{2})", r"\1\2\3", text)
    m = _DATE.match(compact)
    if not m or not (m.group(1) or m.group(3)) or (m.group(1) and m.group(3) and not m.group(2)):
        raise PacsSettingsError(f"study date {value!r} is not YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
    return compact


def _text(ds: Any, keyword: str) -> str | None:
    value = ds.get(keyword, None)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(ds: Any, keyword: str) -> int | None:
    value = ds.get(keyword, None)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _multi(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v for v in value.split("\\") if v)
    return tuple(str(v) for v in value if v)


def _find(node: PacsNode, query: Any, what: str) -> list[Any]:
    answers = []
    with associate(node, [(STUDY_ROOT_FIND, UNCOMPRESSED)], what=what) as assoc:
        for status, identifier in assoc.send_c_find(query, STUDY_ROOT_FIND):
            check_dimse_status(node, assoc, status, what)
            code = int(status.Status)
            if code in (0xFF00, 0xFF01):
                if identifier is not None:
                    answers.append(identifier)
                if len(answers) > MAX_RESULTS:
                    assoc.abort()
                    raise PacsStatusError(f"{node.label}: more than {MAX_RESULTS} answers to {what}; narrow the query")
            elif code == 0x0000:
                break
            else:
                comment = _text(status, "ErrorComment")
                raise PacsStatusError(f"{node.label} refused {what}: status 0x{code:04X}"
                                      + (f" ({comment})" if comment else ""))
    return answers


def find_studies(node: PacsNode, *, patient_id: str | None = None, patient_name: str | None = None,
                 study_date: str | None = None, modality: str | None = None, accession: str | None = None,
                 study_uid: str | None = None) -> list[StudyRecord]:
    """C-FIND at the STUDY level of the Study Root model.

    Parameters
    ----------
    node : PacsNode
    patient_id, patient_name, accession : str, optional
        Matched by the node (``*`` and ``?`` wildcards allowed).
    study_date : str, optional
        ``YYYYMMDD`` or a range ``YYYYMMDD-YYYYMMDD`` (either end open).
    modality : str, optional
        Matched against Modalities in Study (``DX``, ``CR``...).
    study_uid : str, optional
        One study.

    Returns
    -------
    list of StudyRecord
        Sorted by study date (newest first), then patient.
    """
    from pydicom.dataset import Dataset

    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = (study_uid or "").strip()
    q.PatientID = (patient_id or "").strip()
    q.PatientName = (patient_name or "").strip()
    q.PatientBirthDate = ""
    q.StudyDate = validate_date(study_date) or ""
    q.StudyTime = ""
    q.AccessionNumber = (accession or "").strip()
    q.StudyDescription = ""
    q.ModalitiesInStudy = (modality or "").strip().upper()
    q.NumberOfStudyRelatedSeries = None
    q.NumberOfStudyRelatedInstances = None
    out = []
    for ds in _find(node, q, "C-FIND (studies)"):
        uid = _text(ds, "StudyInstanceUID")
        if not uid:
            continue
        mods_t = _multi(ds.get("ModalitiesInStudy", None))
        out.append(StudyRecord(uid, _text(ds, "PatientID"), _text(ds, "PatientName"), _text(ds, "PatientBirthDate"),
                               _text(ds, "StudyDate"), _text(ds, "StudyTime"), _text(ds, "AccessionNumber"),
                               _text(ds, "StudyDescription"), mods_t, _int(ds, "NumberOfStudyRelatedSeries"),
                               _int(ds, "NumberOfStudyRelatedInstances")))
    out.sort(key=lambda r: (r.study_date or "", r.study_time or ""), reverse=True)
    return out


def find_series(node: PacsNode, study_uid: str) -> list[SeriesRecord]:
    """C-FIND at the SERIES level: the series of one study, by series number."""
    from pydicom.dataset import Dataset

    if not study_uid or not study_uid.strip():
        raise PacsSettingsError("find_series needs a Study Instance UID")
    q = Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.StudyInstanceUID = study_uid.strip()
    q.SeriesInstanceUID = ""
    q.Modality = ""
    q.SeriesNumber = None
    q.SeriesDescription = ""
    q.NumberOfSeriesRelatedInstances = None
    out = [SeriesRecord(_text(ds, "SeriesInstanceUID") or "", study_uid.strip(), _text(ds, "Modality"),
                        _int(ds, "SeriesNumber"), _text(ds, "SeriesDescription"),
                        _int(ds, "NumberOfSeriesRelatedInstances"))
           for ds in _find(node, q, "C-FIND (series)")]
    return sorted((s for s in out if s.series_instance_uid), key=lambda s: (s.series_number is None, s.series_number or 0))
