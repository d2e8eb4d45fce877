"""De-identification of images for a training-set store: DICOM after PS3.15 Annex E, raster images re-encoded.

Every route into a store (the viewer's export, ``training.import_cases``, ``llm-viewer export``) calls
:func:`deidentify_image_file`; nothing else writes a patient's image into a store.

DICOM (:func:`deidentify_dataset`), in three passes:

1. **The profile's removals and emptyings** (our rules, recursively through every kept sequence, the file
   meta included). The basic profile (PS3.15 E.1-1) removes (X) or empties (Z) most identifying
   attributes and leaves *cleaning* free text to options; this goes further and keeps only what the
   measurement needs: every text element (VR AE AS LO LT PN SH ST UC UR UT) that is not on
   :data:`KEEP_TEXT` is removed (so StudyComments, DeviceDescription, ContentDescription,
   ClinicalTrialSubject(Reading)ID, PatientBirthDateInAlternativeCalendar, LUT explanations ... all go),
   as is every sequence not on :data:`KEEP_SEQUENCES` (content sequences with their TextValue, code
   sequences with their CodeMeaning, request attributes, ...), every binary element that is not pixel or
   LUT data, every element of unknown tag or VR UN, private elements (and their creators), overlays and
   curves (groups 50xx/60xx); :data:`EMPTY` (the type-2 identifiers an IOD requires: PatientName,
   PatientID, PatientBirthDate, PatientSex, AccessionNumber, StudyID, ReferringPhysicianName, ...) are
   emptied; dates and times other than the study's acquisition dates (:data:`SHIFT_DATES`) are removed.
2. **The profile's replacements, by dicognito** (a maintained de-identification library): every instance
   UID (U: study, series, SOP instance, frame of reference, referenced instances, the file meta's Media
   Storage SOP Instance UID) is replaced by a new one, the same source UID always giving the same new UID;
   the dates and times of :data:`SHIFT_DATES` are moved back by one fixed offset of 62 to 730 days (the
   profile's *Retain Longitudinal Temporal Information With Modified Dates* option: their order is kept).
   Class UIDs and transfer syntaxes are kept. dicognito is seeded with this installation's secret key
   (:func:`deid_key`), which never goes into a store: without it, new UIDs and dates cannot be traced back.
3. The 128-byte **preamble is zeroed**; *Patient Identity Removed* = ``YES``, *De-identification Method*
   and its code sequence (113100 basic profile, 113107 modified dates) are set.

Kept: pixel data (byte for byte, compression unchanged), image geometry (rows, columns, bits, frames,
planar configuration, pixel aspect ratio), PixelSpacing, ImagerPixelSpacing, the calibration
(PixelSpacingCalibrationType, EstimatedRadiographicMagnificationFactor, source/detector distances),
photometric interpretation, palette LUTs, rescale, modality and VOI LUT (window centre/width, VOI LUT
sequence, VOI LUT function, presentation LUT shape), modality, manufacturer and model, body part, view,
laterality, image type. Pixel data are not inspected: text burned into the pixels is not removed (the
report warns unless *Burned In Annotation* is ``NO``).

PNG / JPEG / TIFF (:func:`clean_raster_image`): decoded and re-encoded as PNG, which keeps the pixels
(bit depth included) and drops every metadata chunk (PNG text / time / EXIF chunks, JPEG APPn segments
such as EXIF and XMP, and comments, TIFF tags).

Each call returns a :class:`DeidReport`: what was removed, emptied, replaced and shifted, by attribute
name or tag (never the values).
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import secrets
import struct
from typing import Any

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID

from .atomic import atomic_write_bytes
from .imageio_dicom import load_error
from .imageio_types import ImageLoadError, StudyMetadata

DEIDENTIFICATION_METHOD = "llm-viewer: PS3.15 E basic profile, dicognito UIDs, dates"
"""Written to *De-identification Method* (LO, at most 64 characters)."""

KEY_ENV = "LLM_VIEWER_DEID_KEY"
"""Environment variable holding the de-identification key itself (tests, shared installations)."""
KEY_FILE_ENV = "LLM_VIEWER_DEID_KEY_FILE"
"""Environment variable naming the key file (default ``~/.config/llm-viewer/deid-key``)."""

TEXT_VRS = frozenset({"AE", "AS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW", "US or OW", "US or SS or OW"})
DATE_VRS = frozenset({"DA", "DT", "TM"})

EMPTY: frozenset[str] = frozenset({
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
    "ReferringPhysicianName",
})
"""Type-2 attributes that the IODs require to be present: emptied at the top level (the profile's Z)."""

KEEP_TEXT: frozenset[str] = frozenset({
    "Manufacturer", "ManufacturerModelName", "RescaleType", "DeidentificationMethod",
})
"""Text elements kept (none can hold a name, an ID or a date; every other text element is removed)."""

KEEP_SEQUENCES: frozenset[str] = frozenset({
    "VOILUTSequence", "ModalityLUTSequence", "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence",
    "PixelMeasuresSequence", "FrameVOILUTSequence", "PixelValueTransformationSequence", "PlanePositionSequence",
    "PlaneOrientationSequence", "ReferencedImageSequence", "SourceImageSequence",
})
"""Sequences kept (their items go through the same rules); every other sequence is removed."""

KEEP_BINARY: frozenset[str] = frozenset({
    "PixelData", "FloatPixelData", "DoubleFloatPixelData", "LUTData", "FileMetaInformationVersion",
    "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
})

SHIFT_DATES: frozenset[str] = frozenset({
    "StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime", "ContentDate",
    "ContentTime", "AcquisitionDateTime",
})
"""Dates and times kept, moved back by dicognito's fixed offset; every other date and time is removed."""

REMOVE: frozenset[str] = frozenset({
    # non-text attributes on the profile's removal list (text ones are removed by the VR rule anyway)
    "PatientSize", "PatientWeight", "PatientSexNeutered", "SmokingStatus", "PregnancyStatus",
    "ResponsiblePersonRole", "PatientBreedDescription", "QualityControlSubject", "PatientAge",
    "DeidentificationMethodCodeSequence",  # rewritten below
})

FILE_META_KEEP: frozenset[str] = frozenset({
    "FileMetaInformationGroupLength", "FileMetaInformationVersion", "MediaStorageSOPClassUID",
    "MediaStorageSOPInstanceUID", "TransferSyntaxUID", "ImplementationClassUID",
})

_PROFILE_CODES = (("113100", "Basic Application Confidentiality Profile"),
                  ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))

_fallback_key: str | None = None


# ------------------------------------------------------------------------------------------------- the key
def key_file_path() -> pathlib.Path:
    """Where this installation's de-identification key lives (outside every store)."""
    explicit = os.environ.get(KEY_FILE_ENV)
    if explicit:
        return pathlib.Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(pathlib.Path.home() / ".config")
    return pathlib.Path(base) / "llm-viewer" / "deid-key"


def deid_key() -> tuple[str, str | None]:
    """This installation's secret key and a warning (``None`` when all is well).

    ``$LLM_VIEWER_DEID_KEY`` when set; else the key file (created with 32 random bytes, mode 0600, on first
    use). When the file can be neither read nor created, a random key for this process only: UIDs are
    then consistent within this run but not with earlier exports (said in the warning).
    """
    global _fallback_key
    env = os.environ.get(KEY_ENV)
    if env:
        return env, None
    path = key_file_path()
    try:
        text = path.read_text(encoding="ascii").strip()
        if text:
            return text, None
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError):
        text = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        key = secrets.token_hex(32)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
        return key, None
    except FileExistsError:  # created by a concurrent writer meanwhile
        text = path.read_text(encoding="ascii").strip()
        if text:
            return text, None
    except OSError:
        pass
    if _fallback_key is None:
        _fallback_key = secrets.token_hex(32)
    return _fallback_key, (f"de-identification key {path} could not be read or created: new UIDs are "
                           "consistent within this run only")


def _anonymizer() -> Any:
    from dicognito.anonymizer import Anonymizer

    return Anonymizer(seed=deid_key()[0])


def keyed_digest(text: str, n: int = 20) -> str:
    """``n`` hex digits of an HMAC-SHA256 of ``text`` under the installation key (store ids)."""
    import hashlib
    import hmac

    return hmac.new(deid_key()[0].encode(), text.encode("utf-8"), hashlib.sha256).hexdigest()[:n]


# ------------------------------------------------------------------------------------------------- the report
@dataclasses.dataclass
class DeidReport:
    """What de-identification did to one image, by attribute name or tag, never by value."""

    format: str
    removed: list[str] = dataclasses.field(default_factory=list)
    emptied: list[str] = dataclasses.field(default_factory=list)
    replaced: list[str] = dataclasses.field(default_factory=list)
    shifted: list[str] = dataclasses.field(default_factory=list)
    private_tags_removed: int = 0
    preamble_cleared: bool = False
    metadata_removed: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    method: str = DEIDENTIFICATION_METHOD

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("removed", "emptied", "replaced", "shifted", "metadata_removed"):
            d[k] = sorted(set(d[k]))
        return d

    def summary(self) -> str:
        """One line: counts and the first names."""
        d = self.as_dict()
        if self.format != "dicom":
            what = ", ".join(d["metadata_removed"]) or "no metadata found"
            return f"re-encoded as PNG ({what} removed)"
        parts = [f"{len(d['removed'])} element(s) removed"]
        if d["removed"]:
            parts[0] += " (" + ", ".join(d["removed"][:6]) + (", ..." if len(d["removed"]) > 6 else "") + ")"
        parts.append(f"{len(d['emptied'])} emptied")
        parts.append(f"{len(d['replaced'])} UID(s) replaced")
        parts.append(f"{len(d['shifted'])} date(s)/time(s) shifted")
        parts.append(f"{self.private_tags_removed} private tag(s) removed")
        parts.append("preamble zeroed" if self.preamble_cleared else "preamble empty")
        return ", ".join(parts)


# ------------------------------------------------------------------------------------------------- DICOM
def _is_well_known(uid: str) -> bool:
    """SOP class, transfer syntax and other registered UIDs are not identifying."""
    return UID(uid).name != uid


def _name(elem: DataElement) -> str:
    return elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"


def _profile_pass(ds: Dataset, report: DeidReport, prefix: str = "", *, meta: bool = False) -> None:
    """Pass 1: remove and empty (recursively); what stays for dicognito is UIDs and :data:`SHIFT_DATES`."""
    for elem in list(ds):
        tag, kw, vr = elem.tag, elem.keyword, elem.VR
        where = prefix + _name(elem)
        if meta:
            if kw not in FILE_META_KEEP:
                del ds[tag]
                report.removed.append(where)
            continue
        if tag.is_private:
            del ds[tag]
            report.private_tags_removed += 1
            report.removed.append(prefix + "private tags")
            continue
        if 0x5000 <= tag.group <= 0x50FF or 0x6000 <= tag.group <= 0x60FF:
            del ds[tag]
            report.removed.append(prefix + "overlays/curves (groups 50xx/60xx)")
            continue
        if kw in EMPTY and not prefix:  # at the top level; inside a sequence item the rules below remove them
            if elem.value not in (None, "", b""):
                report.emptied.append(where)
            elem.value = ""
            continue
        if not kw or vr == "UN" or kw in REMOVE:
            del ds[tag]
            report.removed.append(where)
            continue
        if vr == "SQ":
            if kw not in KEEP_SEQUENCES:
                del ds[tag]
                report.removed.append(where)
                continue
            for i, item in enumerate(elem.value or []):
                _profile_pass(item, report, f"{where}[{i}].")
            continue
        if vr in TEXT_VRS and kw not in KEEP_TEXT:
            del ds[tag]
            report.removed.append(where)
        elif vr in BINARY_VRS and kw not in KEEP_BINARY:
            del ds[tag]
            report.removed.append(where)
        elif vr in DATE_VRS:
            if kw not in SHIFT_DATES:
                del ds[tag]
                report.removed.append(where)
            elif elem.value not in (None, ""):
                report.shifted.append(where)
        elif vr == "UI" and elem.value and not kw.endswith("ClassUID"):
            values = elem.value if isinstance(elem.value, (list, tuple, pydicom.multival.MultiValue)) else [elem.value]
            if any(not _is_well_known(str(v)) for v in values):
                report.replaced.append(where)


def _unpaired_times(ds: Dataset) -> None:
    """dicognito shifts a TM only together with its DA: a time without its date is emptied."""
    for elem in list(ds):
        if elem.VR == "SQ":
            for item in elem.value or []:
                _unpaired_times(item)
        elif elem.VR == "TM" and elem.value:
            date = ds.get(elem.keyword.replace("Time", "Date"))
            if not date:
                elem.value = ""


def _reempty(ds: Dataset) -> None:
    """dicognito gives even an empty ID a dummy value: the profile's Z keeps them empty."""
    for elem in list(ds):
        if elem.keyword in EMPTY:
            elem.value = ""


def deidentify_dataset(ds: Dataset, report: DeidReport | None = None) -> Dataset:
    """De-identify a DICOM dataset in place (see the module docs); fills ``report`` when given.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        Modified in place; its ``preamble`` is zeroed.
    report : DeidReport, optional

    Returns
    -------
    pydicom.dataset.Dataset
        ``ds`` itself, for chaining.
    """
    report = report if report is not None else DeidReport("dicom")
    preamble = getattr(ds, "preamble", None)
    report.preamble_cleared = bool(preamble) and any(preamble)
    ds.preamble = b"\x00" * 128
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    _profile_pass(ds.file_meta, report, meta=True)
    _profile_pass(ds, report)
    _unpaired_times(ds)
    _anonymizer().anonymize(ds)  # dicognito: UIDs (keyed, consistent) and the date shift
    _reempty(ds)
    meta = ds.file_meta
    if ds.get("SOPInstanceUID"):
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEIDENTIFICATION_METHOD
    codes = []
    for value, meaning in _PROFILE_CODES:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = DicomSequence(codes)
    burned = str(ds.get("BurnedInAnnotation") or "").strip().upper()
    if burned != "NO":
        report.warnings.append("Burned In Annotation is not NO: text burned into the pixels (if any) is not removed")
    warning = deid_key()[1]
    if warning:
        report.warnings.append(warning)
    return ds


def remap_uid(uid: str) -> str:
    """The UID that :func:`deidentify_dataset` writes in place of ``uid`` (same input, same output)."""
    text = str(uid).strip()
    if not text or _is_well_known(text):
        return text
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.StudyInstanceUID = text
    _anonymizer().anonymize(ds)
    return str(ds.StudyInstanceUID)


def strip_identity(metadata: StudyMetadata) -> StudyMetadata:
    """The :class:`StudyMetadata` of the de-identified study.

    Names, IDs, birth date, sex, description, accession number and institution become ``None``; the study
    date is shifted and the UIDs replaced exactly as :func:`deidentify_dataset` does; modality,
    manufacturer and body part are kept. Hence
    ``metadata_from_dataset(deidentify_dataset(ds)) == strip_identity(metadata_from_dataset(ds))``.
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    if metadata.study_date:
        ds.StudyDate = metadata.study_date
    for field, keyword in (("study_instance_uid", "StudyInstanceUID"), ("series_instance_uid", "SeriesInstanceUID"),
                           ("sop_instance_uid", "SOPInstanceUID")):
        if getattr(metadata, field):
            setattr(ds, keyword, getattr(metadata, field))
    _anonymizer().anonymize(ds)

    def get(keyword: str) -> str | None:
        value = ds.get(keyword)
        return str(value) if value else None

    return dataclasses.replace(
        metadata,
        patient_name=None,
        patient_id=None,
        patient_birth_date=None,
        patient_sex=None,
        study_date=get("StudyDate"),
        study_description=None,
        accession_number=None,
        institution_name=None,
        study_instance_uid=get("StudyInstanceUID"),
        series_instance_uid=get("SeriesInstanceUID"),
        sop_instance_uid=get("SOPInstanceUID"),
    )


def _read_dicom_dataset(src: pathlib.Path) -> Dataset:
    if not src.is_file():
        raise load_error(src, "file does not exist" if not src.exists() else "is not a regular file")
    try:
        ds = pydicom.dcmread(src, force=True)
        if len(ds) == 0:
            raise ValueError("no DICOM elements found")
    except Exception as exc:  # every read failure becomes ImageLoadError
        raise load_error(src, f"not a readable DICOM file: {type(exc).__name__}: {exc}") from exc
    return ds


def dicom_identity_uid(path: str | os.PathLike[str]) -> str | None:
    """The SOP Instance UID (else the study's) of a DICOM file, read without its pixels; ``None`` if none."""
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True,
                             specific_tags=["SOPInstanceUID", "StudyInstanceUID"])
        uid = ds.get("SOPInstanceUID") or ds.get("StudyInstanceUID")
    except Exception:  # noqa: BLE001 - then the caller falls back to the file's hash
        return None
    text = str(uid or "").strip()
    return text or None


def write_deidentified_dicom(src_path: str | os.PathLike[str], dst_path: str | os.PathLike[str],
                             report: DeidReport | None = None) -> pathlib.Path:
    """Write a de-identified copy of a DICOM file (atomically; pixel data and its compression unchanged).

    Raises
    ------
    ImageLoadError
        The source cannot be read as DICOM, or the copy cannot be encoded.
    ValueError
        ``dst_path`` is the source file.
    OSError
        The destination cannot be written.
    """
    src, dst = pathlib.Path(src_path), pathlib.Path(dst_path)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"refusing to overwrite the source file '{src}' with its de-identified copy")
    ds = _read_dicom_dataset(src)
    try:
        deidentify_dataset(ds, report)
    except ImageLoadError:
        raise
    except Exception as exc:  # a malformed element the rules cannot handle: never write half-cleaned data
        raise ImageLoadError(f"cannot de-identify '{src}': {type(exc).__name__}: {exc}") from exc
    buffer = io.BytesIO()
    try:
        ds.save_as(buffer, enforce_file_format=True)
    except Exception as exc:  # e.g. file meta that cannot be completed
        raise ImageLoadError(f"cannot write a de-identified copy of '{src}': {type(exc).__name__}: {exc}") from exc
    data = buffer.getvalue()
    data = b"\x00" * 128 + data[128:] if data[128:132] == b"DICM" else data
    atomic_write_bytes(dst, data)
    return dst


# ------------------------------------------------------------------------------------------------- raster images
_PNG_CRITICAL = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}


def _png_metadata(data: bytes) -> list[str]:
    """Names of the PNG chunks that re-encoding drops (text, time, EXIF, ICC profile ...)."""
    found: list[str] = []
    i = 8
    while i + 8 <= len(data) and len(found) < 10_000:
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind = data[i + 4:i + 8]
        if kind not in _PNG_CRITICAL:
            found.append("PNG " + kind.decode("latin-1") + " chunk")
        if kind == b"IEND":
            break
        i += 12 + length
    return found


def _jpeg_metadata(data: bytes) -> list[str]:
    """Names of the JPEG segments that carry metadata (APPn: JFIF, EXIF, XMP, ICC; COM comments)."""
    found: list[str] = []
    i = 2
    while i + 4 <= len(data) and len(found) < 10_000:
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: no more headers
            break
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if 0xE0 <= marker <= 0xEF:
            body = data[i + 4:i + 4 + 5]
            label = {b"Exif\x00": "EXIF", b"JFIF\x00": "JFIF"}.get(body, "")
            found.append(f"JPEG APP{marker - 0xE0} segment" + (f" ({label})" if label else ""))
        elif marker == 0xFE:
            found.append("JPEG comment")
        i += 2 + length
    return found


def clean_raster_image(src: pathlib.Path, dst: pathlib.Path, file_format: str, report: DeidReport) -> pathlib.Path:
    """Decode a PNG / JPEG / TIFF and re-encode it as PNG (pixels and bit depth kept, all metadata dropped)."""
    import cv2
    import numpy as np

    from .imageio import raster_size
    from .imageio_types import check_image_size

    data = src.read_bytes()
    size = raster_size(data, file_format)
    if size is not None and (problem := check_image_size(*size)):
        raise load_error(src, problem)
    if file_format == "png":
        report.metadata_removed.extend(_png_metadata(data))
    elif file_format == "jpeg":
        report.metadata_removed.extend(_jpeg_metadata(data))
    else:
        report.metadata_removed.append("TIFF tags")
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise load_error(src, f"corrupt or unsupported {file_format.upper()} file: cannot re-encode it for export")
    if arr.dtype.kind == "f" or arr.dtype.itemsize > 2:
        raise load_error(src, f"{arr.dtype} pixels cannot be stored as PNG for export")
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise ImageLoadError(f"cannot re-encode '{src}' as PNG")
    atomic_write_bytes(dst, buf.tobytes())
    return dst


def clean_png_bytes(data: bytes, what: str = "mask") -> bytes:
    """A PNG (e.g. a 1-bit mask) rebuilt from its pixels: same mode and values, no metadata chunk."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG":
                raise ValueError(f"{im.format} is not PNG")
            im.load()
            fresh = Image.frombytes(im.mode, im.size, im.tobytes())
            if im.mode == "P" and im.getpalette():
                fresh.putpalette(im.getpalette())
    except Exception as exc:  # noqa: BLE001 - every failure is one clear error
        raise ImageLoadError(f"cannot read the {what} as PNG: {exc}") from None
    out = io.BytesIO()
    fresh.save(out, format="PNG")
    return out.getvalue()


def deidentify_image_file(src: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> tuple[pathlib.Path, str,
                                                                                                   DeidReport]:
    """The one de-identification every route into a store uses: a clean copy of ``src`` in ``out_dir``.

    Returns
    -------
    (path, suffix, report)
        ``out_dir/image.dcm`` (DICOM) or ``out_dir/image.png`` (any raster format), its suffix and the
        :class:`DeidReport`.

    Raises
    ------
    ImageLoadError
        Not an image, unreadable, too large, or cannot be re-encoded.
    """
    from .imageio import detect_format

    path = pathlib.Path(src)
    if not path.is_file():
        raise load_error(path, "file does not exist" if not path.exists() else "is not a regular file")
    with open(path, "rb") as fh:
        fmt = detect_format(fh.read(132))
    out = pathlib.Path(out_dir)
    if fmt in ("dicom", "dicom-raw"):
        report = DeidReport("dicom")
        return write_deidentified_dicom(path, out / "image.dcm", report), ".dcm", report
    if fmt in ("png", "jpeg", "tiff"):
        report = DeidReport(fmt)
        return clean_raster_image(path, out / "image.png", fmt, report), ".png", report
    raise load_error(path, "not a DICOM, PNG, JPEG or TIFF image")


def identity_key(src: str | os.PathLike[str], sha256: str) -> str:
    """What a store id is derived from: the image's SOP Instance UID (DICOM) or its sha256 (never its name)."""
    from .imageio import detect_format

    with open(src, "rb") as fh:
        fmt = detect_format(fh.read(132))
    uid = dicom_identity_uid(src) if fmt in ("dicom", "dicom-raw") else None
    return f"uid:{uid}" if uid else f"sha256:{sha256}"


__all__ = [
    "DEIDENTIFICATION_METHOD",
    "DeidReport",
    "clean_png_bytes",
    "deid_key",
    "deidentify_dataset",
    "deidentify_image_file",
    "identity_key",
    "keyed_digest",
    "remap_uid",
    "strip_identity",
    "write_deidentified_dicom",
]
