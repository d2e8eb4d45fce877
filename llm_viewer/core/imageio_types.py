"""The value types of the image I/O layer: :class:`RadiographImage` and what it holds.

They live in their own module so that the DICOM reader, the raster reader and the de-identification
helpers can share them without importing one another; import them from :mod:`llm_viewer.core.imageio`.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from dataclasses import dataclass

import numpy as np

IMAGE_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
"""File name endings treated as radiographs when a folder is searched (loading sniffs the bytes instead)."""

SPACING_UNKNOWN = "unknown"
"""``spacing_source`` of an image whose physical pixel size is not known."""

_PERCENTILE_SAMPLES = 1 << 20
"""About this many pixels are sampled when a display window is estimated from percentiles."""


DEFAULT_MAX_IMAGE_PIXELS = 100_000_000
"""Largest image (width × height) loaded by default: 100 megapixels, about four times a stitched
full-leg radiograph (3000 × 9000). Larger images are refused from their header, before any decoding,
so a small file declaring 32000 × 32000 pixels (a decompression bomb) never allocates gigabytes.
Set the environment variable ``LLM_VIEWER_MAX_IMAGE_PIXELS`` to change it."""

MAX_IMAGE_PIXELS_ENV = "LLM_VIEWER_MAX_IMAGE_PIXELS"


class ImageLoadError(ValueError):
    """An image cannot be loaded; the message names the file and the problem."""


def max_image_pixels() -> int:
    """The pixel limit in force: ``$LLM_VIEWER_MAX_IMAGE_PIXELS`` when set to a positive integer, else the default."""
    import os

    raw = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip().replace("_", "")
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value > 0:
            return value
    return DEFAULT_MAX_IMAGE_PIXELS


def check_image_size(width: int, height: int) -> str | None:
    """``None`` when a ``width × height`` image may be decoded, else the reason (one line) it is refused."""
    limit = max_image_pixels()
    if width <= 0 or height <= 0:
        return None
    if width * height > limit:
        return (f"image of {width} x {height} pixels ({width * height / 1e6:.0f} megapixels) is larger than the "
                f"limit of {limit / 1e6:g} megapixels (refused before decoding; set {MAX_IMAGE_PIXELS_ENV} to "
                "raise it)")
    return None


@dataclass(frozen=True)
class StudyMetadata:
    """Patient and study attributes of an image, as text exactly as stored (``None`` when absent).

    Dates are DICOM ``YYYYMMDD`` strings and names DICOM ``Family^Given`` person names. Non-DICOM
    images have every field ``None``.
    """

    patient_name: str | None = None
    patient_id: str | None = None
    patient_birth_date: str | None = None
    patient_sex: str | None = None
    study_date: str | None = None
    study_description: str | None = None
    accession_number: str | None = None
    institution_name: str | None = None
    modality: str | None = None
    manufacturer: str | None = None
    body_part: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """Return the fields as a plain ``{name: value}`` dict (JSON-ready)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DisplayWindow:
    """A linear display window in the units of :attr:`RadiographImage.pixels`.

    Values ``<= center - width / 2`` show black, values ``>= center + width / 2`` white.
    """

    center: float
    width: float

    @property
    def low(self) -> float:
        """Value shown as black."""
        return self.center - self.width / 2.0

    @property
    def high(self) -> float:
        """Value shown as white."""
        return self.center + self.width / 2.0


@dataclass(frozen=True, eq=False)
class RadiographImage:
    """A single 2-D radiograph ready for display and analysis.

    Attributes
    ----------
    pixels : numpy.ndarray
        2-D ``float32`` array (rows, columns). DICOM: the modality LUT (rescale slope/intercept or
        LUT sequence) is applied, and MONOCHROME1 images are inverted so that a higher value is
        brighter on screen and means more attenuation (bone bright). Colour images are reduced to
        grey. Treat it as read-only.
    pixel_spacing_mm : tuple of float or None
        ``(row_spacing, column_spacing)`` in mm, or ``None`` when unknown.
    spacing_source : str
        ``"PixelSpacing"``, ``"ImagerPixelSpacing"``,
        ``"ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"`` or ``"unknown"``.
    window : DisplayWindow
        Default display window: the DICOM VOI window if present, else the 0.5/99.5 percentiles.
        It is only a display suggestion; ``pixels`` are never windowed.
    photometric : str
        Original photometric interpretation (``"MONOCHROME1"``, ``"MONOCHROME2"``, ``"RGB"``, ...).
    bits_stored : int
        Bits per sample in the file (DICOM *Bits Stored*; 8 or 16 for PNG/JPEG/TIFF, 32 for float TIFF).
    file_format : str
        ``"dicom"``, ``"png"``, ``"jpeg"`` or ``"tiff"``.
    metadata : StudyMetadata
        Patient and study attributes (all ``None`` for non-DICOM files).
    source_path : pathlib.Path or None
        The file the image was read from.

    Notes
    -----
    The class is frozen but compares by identity (``eq=False``): comparing pixel arrays with ``==``
    would be ambiguous.
    """

    pixels: np.ndarray
    pixel_spacing_mm: tuple[float, float] | None
    spacing_source: str
    window: DisplayWindow
    photometric: str
    bits_stored: int
    file_format: str
    metadata: StudyMetadata
    source_path: pathlib.Path | None

    @property
    def height_px(self) -> int:
        """Number of rows."""
        return int(self.pixels.shape[0])

    @property
    def width_px(self) -> int:
        """Number of columns."""
        return int(self.pixels.shape[1])


def window_from_percentiles(pixels: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> DisplayWindow:
    """Estimate a display window from the ``low_pct`` and ``high_pct`` percentiles of ``pixels``.

    Large images are sampled on a regular grid (about a million pixels), which changes the result by a
    negligible amount and keeps this fast. Non-finite values are ignored.

    Parameters
    ----------
    pixels : numpy.ndarray
        2-D image.
    low_pct, high_pct : float
        Percentiles (0-100) mapped to black and white.

    Returns
    -------
    DisplayWindow
        A constant image gets a window of width 1 around its value.
    """
    step = max(1, int(math.sqrt(pixels.size / _PERCENTILE_SAMPLES)))
    sample = np.asarray(pixels[::step, ::step], dtype=np.float64).ravel()
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return DisplayWindow(center=0.0, width=1.0)
    low, high = np.percentile(sample, [low_pct, high_pct])
    width = float(high - low)
    if not width > 0:
        width = 1.0
    return DisplayWindow(center=float(low + high) / 2.0, width=width)
