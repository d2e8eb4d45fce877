"""Reading a single-frame DICOM radiograph into a :class:`RadiographImage` (pydicom 3).

What is applied, in order: decoding (native or compressed transfer syntaxes whose pydicom decoder
plugin is installed: JPEG baseline/extended/lossless through pylibjpeg-libjpeg or Pillow, JPEG-LS through
pylibjpeg-libjpeg, JPEG 2000 through pylibjpeg-openjpeg or Pillow, RLE natively), palette colour LUT,
colour to grey, the modality LUT (``pydicom.pixels.apply_modality_lut``: Rescale Slope/Intercept or
Modality LUT Sequence), then the MONOCHROME1 inversion. The VOI window is *not* applied to the pixels;
it is returned separately as the default :class:`DisplayWindow`.
"""

from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .imageio_types import (
    SPACING_UNKNOWN,
    DisplayWindow,
    ImageLoadError,
    RadiographImage,
    StudyMetadata,
    check_image_size,
    window_from_percentiles,
)

PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, R, G, B

_METADATA_KEYWORDS: dict[str, str] = {
    "patient_name": "PatientName",
    "patient_id": "PatientID",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "study_date": "StudyDate",
    "study_description": "StudyDescription",
    "accession_number": "AccessionNumber",
    "institution_name": "InstitutionName",
    "modality": "Modality",
    "manufacturer": "Manufacturer",
    "body_part": "BodyPartExamined",
    "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID",
    "sop_instance_uid": "SOPInstanceUID",
}


@dataclass(frozen=True)
class DicomSpacing:
    """Physical pixel spacing of a DICOM image and where it came from.

    Attributes
    ----------
    pixel_spacing_mm : tuple of float or None
        ``(row_spacing, column_spacing)`` in mm, ``None`` when unknown.
    source : str
        ``"PixelSpacing"``, ``"ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"``,
        ``"ImagerPixelSpacing"`` or ``"unknown"``.
    """

    pixel_spacing_mm: tuple[float, float] | None
    source: str


def load_error(path: pathlib.Path | str | None, problem: str) -> ImageLoadError:
    """Build the :class:`ImageLoadError` for ``path`` with a message naming the file and the problem."""
    where = f"'{path}'" if path is not None else "image"
    return ImageLoadError(f"cannot load {where}: {problem}")


def _get(ds: Dataset, keyword: str) -> Any:
    """``ds.get(keyword)``, or ``None`` when the element is absent or its value cannot be parsed."""
    try:
        return ds.get(keyword)
    except Exception:  # a malformed element counts as absent
        return None


def _positive_pair(value: Any) -> tuple[float, float] | None:
    """``(a, b)`` if ``value`` holds exactly two positive finite numbers, else ``None``."""
    try:
        items = list(value) if not isinstance(value, (str, bytes)) else [value]
        if len(items) != 2:
            return None
        a, b = float(items[0]), float(items[1])
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0 or b <= 0:
        return None
    return (a, b)


def spacing_from_dataset(ds: Dataset) -> DicomSpacing:
    """Physical pixel spacing of a DICOM dataset, with its source.

    Order: *Pixel Spacing*; else *Imager Pixel Spacing* divided by *Estimated Radiographic
    Magnification Factor*; else *Imager Pixel Spacing* alone; else unknown. A value that is not two
    positive finite numbers (``0\\0`` is common) counts as absent, so the next source is tried.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The dataset (pixel data not needed).

    Returns
    -------
    DicomSpacing
    """
    pixel = _positive_pair(_get(ds, "PixelSpacing"))
    if pixel is not None:
        return DicomSpacing(pixel, "PixelSpacing")
    imager = _positive_pair(_get(ds, "ImagerPixelSpacing"))
    if imager is not None:
        factor = _first_float(_get(ds, "EstimatedRadiographicMagnificationFactor"))
        if factor is not None and factor > 0:
            return DicomSpacing(
                (imager[0] / factor, imager[1] / factor),
                "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor",
            )
        return DicomSpacing(imager, "ImagerPixelSpacing")
    return DicomSpacing(None, SPACING_UNKNOWN)


def _first_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        if not isinstance(value, (str, bytes, float, int)):
            value = list(value)[0]
        number = float(value)
    except (TypeError, ValueError, IndexError):
        return None
    return number if math.isfinite(number) else None


def _text(ds: Dataset, keyword: str) -> str | None:
    value = _get(ds, keyword)
    if value is None:
        return None
    if isinstance(value, (list, tuple, MultiValue)):
        value = "\\".join(str(v) for v in value)
    text = str(value).strip().strip("\x00").strip()
    return text or None


def metadata_from_dataset(ds: Dataset) -> StudyMetadata:
    """Patient and study attributes of a dataset (``None`` for absent or empty elements).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset

    Returns
    -------
    StudyMetadata
    """
    return StudyMetadata(**{field: _text(ds, keyword) for field, keyword in _METADATA_KEYWORDS.items()})


def _stored_range(ds: Dataset) -> tuple[int, int]:
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if int(ds.get("PixelRepresentation") or 0) == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _ensure_transfer_syntax(ds: Dataset) -> UID:
    """The dataset's Transfer Syntax UID, inferred from how it was read if the file meta lacks it."""
    meta = ds.file_meta if hasattr(ds, "file_meta") else None
    tsuid = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsuid:
        return UID(str(tsuid))
    implicit, little = ds.original_encoding
    if implicit is None or little is None:
        implicit, little = True, True
    tsuid = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    if meta is None:
        ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = tsuid
    return tsuid


def _check_decodable(ds: Dataset, tsuid: UID, path: pathlib.Path | None) -> None:
    try:
        decoder = get_decoder(tsuid)
    except NotImplementedError:
        raise load_error(
            path, f"unsupported transfer syntax '{tsuid.name}' ({tsuid}): pydicom has no pixel data decoder for it"
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "no plugin available"
        raise load_error(
            path,
            f"transfer syntax '{tsuid.name}' ({tsuid}) cannot be decoded: decoder plugin missing ({missing})",
        )
    if not tsuid.is_compressed and "PixelData" in ds:
        expected = get_expected_length(ds, "bytes")
        actual = len(ds.PixelData)
        if actual < expected:
            raise load_error(path, f"truncated pixel data: the file holds {actual} of the {expected} bytes expected")


def _decode(ds: Dataset, tsuid: UID, path: pathlib.Path | None) -> np.ndarray:
    try:
        return ds.pixel_array
    except MemoryError:
        raise load_error(path, "not enough memory to decode the pixel data") from None
    except Exception as exc:  # decoders raise many types; all become ImageLoadError
        raise load_error(
            path, f"cannot decode the '{tsuid.name}' pixel data (corrupt or truncated?): {type(exc).__name__}: {exc}"
        ) from exc


def _to_grey(arr: np.ndarray) -> np.ndarray:
    """RGB(A) ``(rows, cols, 3|4)`` to float32 luma."""
    rgb = arr[..., :3].astype(np.float32, copy=False)
    return rgb @ _LUMA_WEIGHTS


def _apply_modality(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """The modality LUT as a new float32 array.

    A *Modality LUT Sequence* goes through ``pydicom.pixels.apply_modality_lut``. *Rescale Slope* /
    *Intercept* (applied, as pydicom does, only when both are present) are applied here in float32, in
    place: the same operation without pydicom's float64 intermediate, which costs ~0.1 s and 180 MB on a
    full-leg image. Results differ from float64-then-float32 by at most one float32 rounding.
    """
    if ds.get("ModalityLUTSequence"):
        return np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
    pixels = arr.astype(np.float32)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        if not (math.isfinite(slope) and math.isfinite(intercept)):
            raise ValueError(f"non-finite Rescale Slope {slope} or Intercept {intercept}")
        if slope != 1.0:
            pixels *= np.float32(slope)
        if intercept != 0.0:
            pixels += np.float32(intercept)
    return pixels


def image_from_dataset(ds: Dataset, source_path: pathlib.Path | str | None = None) -> RadiographImage:
    """Turn a DICOM dataset (with pixel data) into a :class:`RadiographImage`.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A single-frame image dataset, e.g. from ``pydicom.dcmread``. It may be modified (a missing
        *Transfer Syntax UID* is filled in from how it was read).
    source_path : path-like, optional
        Recorded in the result and named in error messages.

    Returns
    -------
    RadiographImage

    Raises
    ------
    ImageLoadError
        No pixel data, multi-frame, not 2-D, unsupported or undecodable pixel data.
    """
    path = pathlib.Path(source_path) if source_path is not None else None
    if not any(keyword in ds for keyword in PIXEL_DATA_KEYWORDS):
        sop = ds.get("SOPClassUID")
        if ds.get("Rows") and ds.get("Columns"):
            kind = f" although it declares a {ds.Rows}x{ds.Columns} image: the file is probably truncated"
        elif sop:
            kind = f" (it is a '{UID(str(sop)).name}' object, not an image)"
        else:
            kind = ""
        raise load_error(path, f"DICOM file has no pixel data{kind}")
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        frames = 1
    if frames > 1:
        raise load_error(path, f"multi-frame DICOM ({frames} frames) is not a single radiograph")
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows <= 0 or cols <= 0:
        raise load_error(path, f"DICOM image has no pixels (Rows={rows}, Columns={cols})")
    if problem := check_image_size(cols, rows):  # before any decoding: a compressed bomb never expands
        raise load_error(path, problem)
    samples = int(ds.get("SamplesPerPixel") or 1)
    if samples not in (1, 3):
        raise load_error(path, f"unsupported Samples per Pixel {samples} (expected 1 or 3)")
    photometric = str(ds.get("PhotometricInterpretation") or ("MONOCHROME2" if samples == 1 else "RGB")).strip()

    tsuid = _ensure_transfer_syntax(ds)
    _check_decodable(ds, tsuid, path)
    arr = _decode(ds, tsuid, path)

    try:
        if photometric == "PALETTE COLOR" and arr.ndim == 2:
            arr = apply_color_lut(arr, ds)
        if arr.ndim == 3 and arr.shape[-1] in (3, 4):
            pixels = _to_grey(arr)
            low, high = 0.0, float((1 << int(ds.get("BitsStored") or 8)) - 1)
            invert = False
        elif arr.ndim == 2:
            pixels = _apply_modality(arr, ds)
            lo_hi = apply_modality_lut(np.array(_stored_range(ds), dtype=np.int64), ds)
            low, high = float(np.min(lo_hi)), float(np.max(lo_hi))
            invert = photometric == "MONOCHROME1"
        else:
            raise load_error(path, f"pixel array of shape {arr.shape} is not a single 2-D radiograph")
    except ImageLoadError:
        raise
    except Exception as exc:  # malformed LUT/rescale elements
        raise load_error(path, f"cannot apply the modality/colour LUT: {type(exc).__name__}: {exc}") from exc

    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    if invert:
        # (low + high) - v keeps the values in the modality output range, bone becomes bright.
        np.subtract(np.float32(low + high), pixels, out=pixels)
    if "PixelData" not in ds and not np.isfinite(pixels).all():
        raise load_error(path, "float pixel data holds NaN or infinite values")

    center = _first_float(_get(ds, "WindowCenter"))
    width = _first_float(_get(ds, "WindowWidth"))
    if center is not None and width is not None and width > 0:
        window = DisplayWindow(center=(low + high) - center if invert else center, width=width)
    else:
        window = window_from_percentiles(pixels)

    spacing = spacing_from_dataset(ds)
    return RadiographImage(
        pixels=pixels,
        pixel_spacing_mm=spacing.pixel_spacing_mm,
        spacing_source=spacing.source,
        window=window,
        photometric=photometric,
        bits_stored=int(ds.get("BitsStored") or ds.get("BitsAllocated") or 0),
        file_format="dicom",
        metadata=metadata_from_dataset(ds),
        source_path=path,
    )


def read_dicom(path: pathlib.Path, force: bool = False) -> RadiographImage:
    """Read a DICOM file into a :class:`RadiographImage`.

    Parameters
    ----------
    path : pathlib.Path
        An existing file.
    force : bool
        Read a file without the ``DICM`` preamble (a bare dataset).

    Returns
    -------
    RadiographImage

    Raises
    ------
    ImageLoadError
        For every problem, naming the file.
    """
    try:
        head = pydicom.dcmread(path, force=force, stop_before_pixels=True)  # header only: refuse bombs early
        rows, cols = int(head.get("Rows") or 0), int(head.get("Columns") or 0)
    except Exception:  # noqa: BLE001 - the full read below reports what is wrong with the file
        rows = cols = 0
    if problem := check_image_size(cols, rows):
        raise load_error(path, problem)
    try:
        ds = pydicom.dcmread(path, force=force)
    except pydicom.errors.InvalidDicomError as exc:
        raise load_error(path, f"not a valid DICOM file: {exc}") from exc
    except (EOFError, OSError) as exc:
        raise load_error(path, f"truncated or unreadable DICOM file: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # pydicom raises many types for corrupt files
        raise load_error(path, f"corrupt DICOM file: {type(exc).__name__}: {exc}") from exc
    return image_from_dataset(ds, path)
