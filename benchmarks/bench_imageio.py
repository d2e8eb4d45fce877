"""Benchmark of llm_viewer.core.imageio.load_image on a full-leg sized radiograph (2800 x 8100, 16 bit).

Writes, in a temporary folder, the same synthetic image as an uncompressed DICOM, a 16-bit PNG, a 16-bit
TIFF and (when pydicom has a JPEG 2000 encoder plugin) a JPEG 2000 lossless DICOM, then prints the
median load time of each over ``--runs`` runs, with the machine described. Target: the uncompressed
DICOM opens in under 1 s.

Usage::

    .venv/bin/python benchmarks/bench_imageio.py [--runs 5] [--width 2800] [--height 8100] [--no-j2k]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import cv2
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_encoder
from pydicom.uid import JPEG2000Lossless, generate_uid

from llm_viewer.core.imageio import load_image

TARGET_S = 1.0


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or the platform's description)."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def synthetic_radiograph(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth 12-bit 'leg-like' image with noise (compresses like a radiograph, not like zeros)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    legs = np.exp(-(((np.abs(x) - 0.35) / 0.12) ** 2)) * (0.8 + 0.2 * np.sin(6.0 * y))
    image = 400.0 + 3000.0 * legs + rng.normal(0.0, 25.0, size=(height, width)).astype(np.float32)
    return np.clip(image, 0, 4095).astype(np.uint16)


def dicom_dataset(pixels: np.ndarray) -> Dataset:
    """A single-frame DX dataset holding ``pixels`` (12 bits stored in 16)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientName = "Bench^Mark"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = "1", "0"
    ds.ImagerPixelSpacing = "0.15\\0.15"
    ds.EstimatedRadiographicMagnificationFactor = "1.1"
    ds.PixelData = pixels.tobytes()
    return ds


def median_time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and minimum wall time of ``fn`` over ``runs`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=2800)
    parser.add_argument("--height", type=int, default=8100)
    parser.add_argument("--no-j2k", action="store_true", help="skip the JPEG 2000 row (its encoding is slow)")
    args = parser.parse_args(argv)

    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()}")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pydicom {pydicom.__version__}, "
        f"opencv {cv2.__version__}"
    )
    pixels = synthetic_radiograph(args.height, args.width)
    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-imageio-") as tmp:
        folder = pathlib.Path(tmp)
        dcm = folder / "leg.dcm"
        dicom_dataset(pixels).save_as(dcm, enforce_file_format=True)
        png = folder / "leg.png"
        cv2.imwrite(str(png), pixels)
        tif = folder / "leg.tif"
        cv2.imwrite(str(tif), pixels)
        cases: list[tuple[str, pathlib.Path]] = [
            ("DICOM uncompressed 16-bit", dcm),
            ("PNG 16-bit", png),
            ("TIFF 16-bit", tif),
        ]
        if args.no_j2k:
            print("JPEG 2000 row skipped (--no-j2k)")
        elif get_encoder(JPEG2000Lossless).is_available:
            ds = dicom_dataset(pixels)
            start = time.perf_counter()
            ds.compress(JPEG2000Lossless)
            print(f"(JPEG 2000 lossless encoding took {time.perf_counter() - start:.1f} s, once)")
            j2k = folder / "leg_j2k.dcm"
            ds.save_as(j2k, enforce_file_format=True)
            cases.append(("DICOM JPEG 2000 lossless", j2k))
        else:
            print("JPEG 2000 row skipped: no pydicom JPEG 2000 encoder plugin installed")

        for label, path in cases:
            image = load_image(path)
            assert image.pixels.shape == (args.height, args.width), image.pixels.shape
            median_s, min_s = median_time(lambda p=path: load_image(p), args.runs)
            rows.append((label, path.stat().st_size, median_s, min_s))

        def pydicom_only() -> object:
            return pydicom.dcmread(dcm).pixel_array

        median_s, min_s = median_time(pydicom_only, args.runs)
        rows.append(("  (reference: dcmread + pixel_array only)", dcm.stat().st_size, median_s, min_s))

    print(f"\nload_image on {args.width} x {args.height} px, median of {args.runs} runs\n")
    print(f"| {'file':<42} | {'size MB':>8} | {'median s':>8} | {'min s':>6} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 8}|")
    for label, size, median_s, min_s in rows:
        print(f"| {label:<42} | {size / 1e6:>8.1f} | {median_s:>8.3f} | {min_s:>6.3f} |")
    dicom_median = rows[0][2]
    verdict = "OK" if dicom_median < TARGET_S else "TOO SLOW"
    print(f"\ntarget: uncompressed DICOM < {TARGET_S:.1f} s -> {dicom_median:.3f} s {verdict}")
    return 0 if dicom_median < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
