"""Fixtures for the core tests: small synthetic DICOM files written with pydicom."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


def build_dataset(pixels: np.ndarray | None = None, rows: int = 64, cols: int = 200, **attrs: Any) -> Dataset:
    """A small single-frame CR dataset (unsigned 12-bit in 16, MONOCHROME2) with ``attrs`` set on it.

    ``pixels`` defaults to a deterministic ramp; ``attrs`` values of ``None`` delete the element.
    """
    if pixels is None:
        pixels = (np.arange(rows * cols, dtype=np.int64).reshape(rows, cols) * 7 % 4096).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CR_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = CR_STORAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CR"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-0001"
    ds.PatientBirthDate = "19600102"
    ds.PatientSex = "F"
    ds.StudyDate = "20240305"
    ds.StudyDescription = "Long leg standing"
    ds.AccessionNumber = "ACC-42"
    ds.InstitutionName = "General Hospital"
    ds.Manufacturer = "ACME"
    ds.BodyPartExamined = "LEG"
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.PixelData = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()
    for key, value in attrs.items():
        if value is None:
            if key in ds:
                delattr(ds, key)
        else:
            setattr(ds, key, value)
    return ds


@pytest.fixture
def write_dicom(tmp_path: pathlib.Path) -> Callable[..., pathlib.Path]:
    """Factory: ``write_dicom(name, dataset=None, **build_dataset_kwargs) -> path`` in ``tmp_path``."""

    def _write(name: str = "image.dcm", dataset: Dataset | None = None, **kwargs: Any) -> pathlib.Path:
        ds = dataset if dataset is not None else build_dataset(**kwargs)
        path = tmp_path / name
        ds.save_as(path, enforce_file_format=True)
        return path

    return _write


@pytest.fixture
def make_dataset() -> Callable[..., Dataset]:
    """The :func:`build_dataset` factory, as a fixture."""
    return build_dataset
