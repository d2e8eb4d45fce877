"""Synthetic DICOM studies for the PACS tests (small: 1024 px high)."""

from __future__ import annotations

from pathlib import Path

PRIVATE_SOP_CLASS = "1.2.826.0.1.3680043.8.498.424242"


def synthetic_study(folder: Path, seed: int, height_px: int = 1024) -> Path:
    """Write one synthetic DX study (``SYN-<seed>-000000``) as ``<folder>/synth-<seed>.dcm``."""
    from llm_viewer.synth.dicom import dicom_bytes
    from llm_viewer.synth.generator import generate_case
    from llm_viewer.synth.params import SynthConfig

    case = generate_case(seed, SynthConfig.with_height(height_px, monochrome="MONOCHROME2", implants_rate=0.0,
                                                       one_leg_rate=0.0))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"synth-{seed}.dcm"
    path.write_bytes(dicom_bytes(case))
    return path


def private_class_copy(source: Path, target: Path) -> Path:
    """A copy of ``source`` claiming a private SOP class no PACS knows (its C-STORE is refused)."""
    from pydicom import dcmread
    from pydicom.uid import generate_uid

    ds = dcmread(source)
    uid = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = PRIVATE_SOP_CLASS
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.save_as(target, enforce_file_format=True)
    return target
