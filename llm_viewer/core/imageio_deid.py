"""De-identification for training exports: a basic profile after DICOM PS3.15 Annex E.

What :func:`deidentify_dataset` does, recursively through sequences:

- removes private elements, overlays/curves (groups 50xx/60xx: they may hold burned-in text), icon
  images, and the identifying attributes listed in ``_REMOVE`` (patient address, other IDs, age,
  institution, physicians, operators, station, device serial numbers, descriptions and comments,
  request/procedure attributes, ...);
- empties the type-2 identifiers that IODs require to be present (patient name, ID, birth date, sex,
  accession number, study ID, referring physician), every other person name (VR PN) is removed,
  and every date, time and date-time (VR DA/TM/DT) is emptied;
- replaces instance UIDs (study, series, SOP instance, frame of reference, referenced instances and the
  file meta's Media Storage SOP Instance UID) by ``2.25.<uuid5>`` UIDs derived from the original, so
  that the same source UID always maps to the same new one (series stay together across exports)
  without revealing it; well-known UIDs (SOP classes, transfer syntaxes, coding schemes) are kept;
- sets *Patient Identity Removed* = ``YES`` and *De-identification Method*.

Kept: modality, manufacturer and model, body part, view, image geometry, pixel data, pixel spacing,
imager pixel spacing, magnification factor, rescale and window attributes. Pixel data are not
inspected: text burned into the pixels (*Burned In Annotation* = ``YES``) is not removed.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import uuid

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID

from .atomic import atomic_write_bytes
from .imageio_dicom import load_error
from .imageio_types import ImageLoadError, StudyMetadata

DEIDENTIFICATION_METHOD = "llm-viewer basic profile (PS3.15 E.1 subset)"
"""Written to *De-identification Method* (LO, at most 64 characters)."""

_EMPTY: frozenset[str] = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "AccessionNumber",
        "StudyID",
        "ReferringPhysicianName",
    }
)

_REMOVE: frozenset[str] = frozenset(
    {
        # patient
        "PatientBirthTime",
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "PatientMotherBirthName",
        "PatientBirthName",
        "OtherPatientIDs",
        "OtherPatientNames",
        "OtherPatientIDsSequence",
        "IssuerOfPatientID",
        "MilitaryRank",
        "BranchOfService",
        "MedicalRecordLocator",
        "EthnicGroup",
        "Occupation",
        "AdditionalPatientHistory",
        "PatientComments",
        "PatientReligiousPreference",
        "CountryOfResidence",
        "RegionOfResidence",
        "MedicalAlerts",
        "Allergies",
        "SmokingStatus",
        "PregnancyStatus",
        "LastMenstrualDate",
        "SpecialNeeds",
        "PatientState",
        "InsurancePlanIdentification",
        "PatientInsurancePlanCodeSequence",
        "ResponsiblePerson",
        "ResponsibleOrganization",
        "ReferencedPatientSequence",
        "PatientTransportArrangements",
        # institution, staff, equipment
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "InstitutionCodeSequence",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "ReferringPhysicianIdentificationSequence",
        "PhysiciansOfRecord",
        "PhysiciansOfRecordIdentificationSequence",
        "PerformingPhysicianName",
        "PerformingPhysicianIdentificationSequence",
        "NameOfPhysiciansReadingStudy",
        "PhysiciansReadingStudyIdentificationSequence",
        "OperatorsName",
        "OperatorIdentificationSequence",
        "RequestingPhysician",
        "RequestingService",
        "ScheduledPerformingPhysicianName",
        "StationName",
        "DeviceSerialNumber",
        "PlateID",
        "DetectorID",
        "CassetteID",
        "GantryID",
        "SourceApplicationEntityTitle",
        # study / request / procedure
        "StudyDescription",
        "SeriesDescription",
        "ImageComments",
        "ProtocolName",
        "RequestedProcedureDescription",
        "RequestedProcedureID",
        "PerformedProcedureStepDescription",
        "PerformedProcedureStepID",
        "ScheduledProcedureStepDescription",
        "ScheduledProcedureStepID",
        "RequestAttributesSequence",
        "ReferencedStudySequence",
        "AdmittingDiagnosesDescription",
        "AdmittingDiagnosesCodeSequence",
        "AdmissionID",
        "IssuerOfAdmissionID",
        "DerivationDescription",
        "AcquisitionComments",
        "FillerOrderNumberImagingServiceRequest",
        "PlacerOrderNumberImagingServiceRequest",
        "OrderEnteredBy",
        "OrderEntererLocation",
        "OrderCallbackPhoneNumber",
        "ReasonForStudy",
        "RequestedProcedureComments",
        "ImagingServiceRequestComments",
        "VisitComments",
        "ServiceEpisodeID",
        "ServiceEpisodeDescription",
        "TextComments",
        "TextString",
        "IdentifyingComments",
        "ContentCreatorName",
        "ContributionDescription",
        "DigitalSignaturesSequence",
        "OriginalAttributesSequence",
        "IconImageSequence",
        "PerformedStationName",
        "PerformedLocation",
        "ScheduledStationName",
        "ScheduledProcedureStepLocation",
    }
)


def remap_uid(uid: str) -> str:
    """The replacement of an instance UID: ``2.25.`` followed by a UUID derived from it (uuid5).

    Parameters
    ----------
    uid : str
        Original UID.

    Returns
    -------
    str
        The same output for the same input, a different one for a different input.
    """
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, 'llm-viewer-deid:' + str(uid).strip()).int}"


def _is_well_known(uid: str) -> bool:
    """SOP class, transfer syntax and other registered UIDs are not identifying."""
    return UID(uid).name != uid


def _new_uid_value(value: object) -> object:
    if value is None or value == "":
        return value
    if isinstance(value, (list, tuple, MultiValue)):
        return [str(v) if _is_well_known(str(v)) else remap_uid(str(v)) for v in value]
    text = str(value)
    return text if _is_well_known(text) else remap_uid(text)


def _clean(ds: Dataset, elem: DataElement) -> None:
    tag = elem.tag
    if tag.is_private or 0x5000 <= tag.group <= 0x50FF or 0x6000 <= tag.group <= 0x60FF:
        del ds[tag]
        return
    keyword = elem.keyword
    if keyword in _REMOVE:
        del ds[tag]
    elif keyword in _EMPTY:
        elem.value = None if elem.VR == "SQ" else ""
    elif elem.VR == "PN":
        del ds[tag]
    elif elem.VR in ("DA", "TM", "DT"):
        elem.value = ""
    elif elem.VR == "UI" and keyword != "SOPClassUID":
        elem.value = _new_uid_value(elem.value)


def deidentify_dataset(ds: Dataset) -> Dataset:
    """Remove or replace the identifying attributes of a DICOM dataset (basic profile, see module docs).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        Modified in place.

    Returns
    -------
    pydicom.dataset.Dataset
        ``ds`` itself, for chaining.
    """
    ds.walk(_clean, recursive=True)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("MediaStorageSOPInstanceUID"):
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID") or remap_uid(meta.MediaStorageSOPInstanceUID)
    if meta is not None and "SourceApplicationEntityTitle" in meta:
        del meta.SourceApplicationEntityTitle
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEIDENTIFICATION_METHOD
    return ds


def strip_identity(metadata: StudyMetadata) -> StudyMetadata:
    """The :class:`StudyMetadata` of the de-identified study.

    Names, IDs, birth date, sex, study date and description, accession number and institution become
    ``None``; UIDs are replaced exactly as :func:`deidentify_dataset` replaces them; modality,
    manufacturer and body part are kept. Hence
    ``metadata_from_dataset(deidentify_dataset(ds)) == strip_identity(metadata_from_dataset(ds))``.

    Parameters
    ----------
    metadata : StudyMetadata

    Returns
    -------
    StudyMetadata
        A new object; ``metadata`` is unchanged.
    """

    def uid(value: str | None) -> str | None:
        return None if value is None else str(_new_uid_value(value))

    return dataclasses.replace(
        metadata,
        patient_name=None,
        patient_id=None,
        patient_birth_date=None,
        patient_sex=None,
        study_date=None,
        study_description=None,
        accession_number=None,
        institution_name=None,
        study_instance_uid=uid(metadata.study_instance_uid),
        series_instance_uid=uid(metadata.series_instance_uid),
        sop_instance_uid=uid(metadata.sop_instance_uid),
    )


def write_deidentified_dicom(src_path: str | os.PathLike[str], dst_path: str | os.PathLike[str]) -> pathlib.Path:
    """Write a de-identified copy of a DICOM file (atomically; pixel data and its compression unchanged).

    Parameters
    ----------
    src_path : path-like
        Source DICOM file (with or without the ``DICM`` preamble).
    dst_path : path-like
        Destination; its folder must exist. Must differ from ``src_path``.

    Returns
    -------
    pathlib.Path
        ``dst_path``.

    Raises
    ------
    ImageLoadError
        The source cannot be read as DICOM.
    ValueError
        ``dst_path`` is the source file.
    OSError
        The destination cannot be written.
    """
    src, dst = pathlib.Path(src_path), pathlib.Path(dst_path)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"refusing to overwrite the source file '{src}' with its de-identified copy")
    if not src.is_file():
        raise load_error(src, "file does not exist" if not src.exists() else "is not a regular file")
    try:
        ds = pydicom.dcmread(src, force=True)
        if len(ds) == 0:
            raise ValueError("no DICOM elements found")
    except Exception as exc:  # every read failure becomes ImageLoadError
        raise load_error(src, f"not a readable DICOM file: {type(exc).__name__}: {exc}") from exc
    deidentify_dataset(ds)
    buffer = io.BytesIO()
    try:
        ds.save_as(buffer, enforce_file_format=True)
    except Exception as exc:  # e.g. file meta that cannot be completed
        raise ImageLoadError(f"cannot write a de-identified copy of '{src}': {type(exc).__name__}: {exc}") from exc
    atomic_write_bytes(dst, buffer.getvalue())
    return dst
