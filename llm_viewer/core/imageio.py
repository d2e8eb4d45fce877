"""Image I/O: read a radiograph (DICOM, PNG, JPEG, TIFF) into a :class:`RadiographImage`.

:func:`load_image` is the single entry point. It recognises the format from the file's first bytes
(not its name), returns 2-D ``float32`` pixels with the DICOM modality LUT applied and MONOCHROME1
inverted (bone bright), the physical pixel spacing with its source, a default display window kept
separate from the pixel values, and the study metadata. Every failure is an :class:`ImageLoadError`
whose message names the file and the problem.

PNG/JPEG/TIFF keep their bit depth (16-bit stays 16-bit), colour is reduced to grey, and their spacing is
unknown: TIFF/PNG resolution tags usually hold a meaningless 72 or 96 dpi default, so they are not used.

The DICOM reader is :mod:`llm_viewer.core.imageio_dicom`; de-identification for training exports
(:func:`deidentify_dataset`, :func:`strip_identity`, :func:`write_deidentified_dicom`) is
:mod:`llm_viewer.core.imageio_deid`; all are re-exported here.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from .imageio_deid import deidentify_dataset, remap_uid, strip_identity, write_deidentified_dicom
from .imageio_dicom import DicomSpacing, image_from_dataset, load_error, metadata_from_dataset, spacing_from_dataset
from .imageio_dicom import read_dicom as _read_dicom
from .imageio_types import (
    DEFAULT_MAX_IMAGE_PIXELS,
    IMAGE_SUFFIXES,
    SPACING_UNKNOWN,
    DisplayWindow,
    ImageLoadError,
    RadiographImage,
    StudyMetadata,
    check_image_size,
    max_image_pixels,
    window_from_percentiles,
)

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "IMAGE_SUFFIXES",
    "IMAGE_FORMATS",
    "SPACING_UNKNOWN",
    "DicomSpacing",
    "DisplayWindow",
    "ImageLoadError",
    "RadiographImage",
    "StudyMetadata",
    "deidentify_dataset",
    "detect_format",
    "image_from_dataset",
    "load_image",
    "max_image_pixels",
    "raster_size",
    "metadata_from_dataset",
    "remap_uid",
    "spacing_from_dataset",
    "strip_identity",
    "window_from_percentiles",
    "write_deidentified_dicom",
]

IMAGE_FORMATS: tuple[str, ...] = ("dicom", "png", "jpeg", "tiff")
"""Values of :attr:`RadiographImage.file_format`."""

_LUMA_BGR = np.array([0.114, 0.587, 0.299], dtype=np.float32)  # ITU-R BT.601 weights in OpenCV's B, G, R order


def detect_format(head: bytes) -> str | None:
    """Recognise an image format from the first 132 bytes of a file.

    Parameters
    ----------
    head : bytes
        The file's first bytes (at least 132 for a DICOM preamble to be seen).

    Returns
    -------
    str or None
        ``"dicom"``, ``"dicom-raw"`` (a DICOM dataset without the 128-byte preamble and ``DICM``
        prefix: it starts with a group 0x0002 or 0x0008 element), ``"png"``, ``"jpeg"``, ``"tiff"``,
        or ``None`` when unrecognised.
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3] == 0:
        # Little-endian group 0x0002/0x0008, element 0x00xx: a raw dataset (e.g. ACR-NEMA style file).
        return "dicom-raw"
    return None


def _tiff_pages(data: bytes) -> int:
    """Number of pages (IFDs) of a TIFF, via Pillow's lazy reader (1 if it cannot tell)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(getattr(img, "n_frames", 1))
    except Exception:  # OpenCV gets the final word on whether the file decodes
        return 1


def raster_size(data: bytes, file_format: str) -> tuple[int, int] | None:
    """``(width, height)`` a PNG, JPEG or TIFF declares in its header, without decoding; ``None`` if unknown."""
    if file_format == "png":
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return None
    if file_format == "jpeg":
        i = 2
        while i + 9 <= len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xFF, 0x01) or 0xD0 <= marker <= 0xD8:  # fill byte, TEM, RSTn, SOI: no length
                i += 1 if marker == 0xFF else 2
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
                return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
            if marker == 0xDA:  # start of scan before any frame header
                return None
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
        return None
    return _tiff_size(data)


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """ImageWidth / ImageLength of a classic or Big TIFF's first IFD."""
    import struct

    try:
        bo = "<" if data[:2] == b"II" else ">"
        big = struct.unpack(bo + "H", data[2:4])[0] == 43
        if big:
            off = struct.unpack(bo + "Q", data[8:16])[0]
            n = struct.unpack(bo + "Q", data[off:off + 8])[0]
            start, size, vfmt = off + 8, 20, {3: "H", 4: "I", 16: "Q"}
        else:
            off = struct.unpack(bo + "I", data[4:8])[0]
            n = struct.unpack(bo + "H", data[off:off + 2])[0]
            start, size, vfmt = off + 2, 12, {3: "H", 4: "I"}
        dims: dict[int, int] = {}
        for k in range(min(int(n), 4096)):
            e = data[start + k * size:start + (k + 1) * size]
            tag, typ = struct.unpack(bo + "HH", e[:4])
            if tag in (256, 257) and typ in vfmt:
                value_at = 12 if big else 8
                dims[tag] = struct.unpack(bo + vfmt[typ], e[value_at:value_at + struct.calcsize(vfmt[typ])])[0]
        if 256 in dims and 257 in dims:
            return int(dims[256]), int(dims[257])
    except (struct.error, IndexError, ValueError):
        pass
    return None


def _read_raster(path: pathlib.Path, file_format: str) -> RadiographImage:
    """Read a PNG, JPEG or TIFF file with OpenCV (bit depth kept)."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)  # imdecode, unlike imread, copes with any path on any OS
    size = raster_size(data[:64].tobytes() if file_format == "png" else data.tobytes(), file_format)
    if size is not None and (problem := check_image_size(*size)):
        raise load_error(path, problem)
    if file_format == "tiff":
        pages = _tiff_pages(data.tobytes())
        if pages > 1:
            raise load_error(path, f"multi-page TIFF ({pages} pages) is not a single radiograph")
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise load_error(
            path, f"corrupt, truncated or unsupported {file_format.upper()} file (OpenCV cannot decode it)"
        )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        photometric = "MONOCHROME2"
        pixels = arr.astype(np.float32)
    elif arr.ndim == 3 and arr.shape[2] == 2:  # grey + alpha
        photometric = "MONOCHROME2"
        pixels = arr[:, :, 0].astype(np.float32)
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):  # BGR / BGRA: alpha is dropped
        photometric = "RGB" if arr.shape[2] == 3 else "RGBA"
        pixels = arr[:, :, :3].astype(np.float32) @ _LUMA_BGR
    else:
        raise load_error(path, f"pixel array of shape {arr.shape} is not a single 2-D radiograph")
    if arr.dtype.kind not in "uif":
        raise load_error(path, f"unsupported pixel type {arr.dtype}")
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    if arr.dtype.kind == "f" and not np.isfinite(pixels).all():
        raise load_error(path, "float pixel data holds NaN or infinite values")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise load_error(path, f"image has no pixels (shape {pixels.shape})")
    return RadiographImage(
        pixels=pixels,
        pixel_spacing_mm=None,
        spacing_source=SPACING_UNKNOWN,
        window=window_from_percentiles(pixels),
        photometric=photometric,
        bits_stored=int(arr.dtype.itemsize * 8),
        file_format=file_format,
        metadata=StudyMetadata(),
        source_path=path,
    )


def load_image(path: str | os.PathLike[str]) -> RadiographImage:
    """Load a radiograph from a DICOM, PNG, JPEG or TIFF file.

    Parameters
    ----------
    path : path-like
        The image file. Its format is recognised from its content, not its extension.

    Returns
    -------
    RadiographImage
        2-D ``float32`` pixels (modality LUT applied, MONOCHROME1 inverted, colour reduced to grey),
        spacing with its source, default display window, photometric interpretation, bits stored,
        format, study metadata and the source path.

    Raises
    ------
    ImageLoadError
        For every problem (missing file, folder, empty, not an image, corrupt or truncated, DICOM
        without pixel data, multi-frame, 3-D, undecodable transfer syntax, ...); the message names
        the file and the problem. No other exception type escapes.
    """
    try:
        file_path = pathlib.Path(path)
    except TypeError as exc:
        raise ImageLoadError(f"cannot load image: {path!r} is not a file path") from exc
    try:
        return _load(file_path)
    except ImageLoadError:
        raise
    except MemoryError:
        raise load_error(file_path, "not enough memory to load the image") from None
    except Exception as exc:  # the contract: only ImageLoadError escapes
        raise load_error(file_path, f"unexpected error: {type(exc).__name__}: {exc}") from exc


def _load(path: pathlib.Path) -> RadiographImage:
    if not path.exists():
        raise load_error(path, "file does not exist")
    if path.is_dir():
        raise load_error(path, "is a folder, not an image file")
    if not path.is_file():
        raise load_error(path, "is not a regular file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError as exc:
        raise load_error(path, f"cannot read the file: {exc.strerror or exc}") from exc
    if size == 0:
        raise load_error(path, "empty file (0 bytes)")
    file_format = detect_format(head)
    if file_format == "dicom":
        return _read_dicom(path)
    if file_format == "dicom-raw":
        return _read_dicom(path, force=True)
    if file_format in ("png", "jpeg", "tiff"):
        return _read_raster(path, file_format)
    raise load_error(path, "not a recognised image file (expected DICOM, PNG, JPEG or TIFF)")
