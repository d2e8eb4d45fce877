"""The PDF report of a case as a DICOM Encapsulated PDF, in the source image's study.

The PDF is the one ``llm-viewer report`` writes (:func:`llm_viewer.report.pdf.render_case_pdf`). The object
copies the source's Patient and General Study modules, starts a new series (Modality ``DOC``), and names
the source image in SourceInstanceSequence and its series in ReferencedSeriesSequence.
"""

from __future__ import annotations

import datetime as _dt
import tempfile
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from .dicom_source import (
    DicomResultsError,
    SourceImage,
    code_item,
    copy_patient_study,
    new_uid,
    referenced_image,
    referenced_series,
    set_equipment,
)
from .model import CaseReport

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
PDF_SERIES_NUMBER = 9902
DOCUMENT_TITLE = "Lower-limb alignment report"
DOCUMENT_CONCEPT = ("18748-4", "LN", "Diagnostic imaging report")
"""LOINC concept name of the document (ConceptNameCodeSequence)."""


def render_pdf_bytes(report: CaseReport, institution: str = "") -> bytes:
    """The case's PDF report as bytes (rendered by :func:`llm_viewer.report.pdf.render_case_pdf`).

    ``institution`` is printed in the header (the source's InstitutionName when written as DICOM).

    Raises
    ------
    DicomResultsError
        When the report cannot be rendered.
    """
    from .pdf import ReportError, ReportOptions, render_case_pdf

    with tempfile.TemporaryDirectory(prefix="llm-viewer-pdf-") as tmp:
        target = Path(tmp) / "report.pdf"
        try:
            render_case_pdf(report, target, ReportOptions(institution=institution))
        except ReportError as exc:
            raise DicomResultsError(f"{report.case_path}: the PDF report cannot be rendered: {exc}") from None
        return target.read_bytes()


def build_encapsulated_pdf(pdf: bytes, source: SourceImage, *, verified: bool = False) -> Dataset:
    """An Encapsulated PDF instance holding ``pdf``, in the source's study, in a new series.

    Parameters
    ----------
    pdf : bytes
        A complete PDF document.
    source : SourceImage
        The case's source radiograph.
    verified : bool
        Whether the case's approval holds (VerificationFlag).

    Returns
    -------
    pydicom.dataset.Dataset
        With file meta information, ready for ``save_as(..., enforce_file_format=True)``.
    """
    if not pdf.startswith(b"%PDF-"):
        raise DicomResultsError("the rendered report is not a PDF document")
    now = _dt.datetime.now()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = new_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    copy_patient_study(source, ds)
    # Encapsulated Document Series
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = new_uid()
    ds.SeriesNumber = PDF_SERIES_NUMBER
    ds.SeriesDescription = "llm-viewer alignment report (PDF)"
    ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    # General Equipment, SC Equipment
    set_equipment(ds)
    ds.ConversionType = "WSD"
    # Encapsulated Document
    ds.InstanceNumber = 1
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"  # the report prints the patient's name and identifiers
    ds.DocumentTitle = DOCUMENT_TITLE
    ds.ConceptNameCodeSequence = [code_item(*DOCUMENT_CONCEPT)]
    ds.VerificationFlag = "VERIFIED" if verified else "UNVERIFIED"
    src = referenced_image(source)
    src.PurposeOfReferenceCodeSequence = [code_item("121322", "DCM", "Source image for image processing operation")]
    ds.SourceInstanceSequence = [src]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    # Common Instance Reference: the source's series in this study
    ds.ReferencedSeriesSequence = [referenced_series(source)]
    return ds
