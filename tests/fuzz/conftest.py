"""Helpers of the bad-input suite: run a command in-process with bounded time and memory, make bad files.

Every CLI input is run through :func:`run_cli`, which calls ``llm_viewer.cli.main`` in this process (no
interpreter start-up, torch imported once), captures stdout / stderr, and stops it after ``timeout_s``
with ``SIGALRM`` (a hang fails the test instead of hanging the suite). :func:`assert_clear_error` is the
contract every bad input must meet: the expected exit status, one stderr line naming the problem, no
traceback, no "internal error".
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import signal
import struct
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "examples" / "example_case.json"


@dataclass
class Run:
    rc: int
    out: str
    err: str
    seconds: float
    rss_growth_mb: float


class _Timeout(Exception):
    pass


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_cli(argv: list[str], *, stdin: bytes | None = None, timeout_s: float = 30.0) -> Run:
    """``llm-viewer ARGV`` in-process; a run past ``timeout_s`` fails the calling test (a hang)."""
    from llm_viewer.cli import main

    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):  # noqa: ARG001
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    rss0, t0 = _maxrss_mb(), time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse
                rc = int(exc.code or 0)
    except _Timeout:
        pytest.fail(f"llm-viewer {' '.join(argv)}: still running after {timeout_s} s (a hang)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        sys.stdin = old_stdin
    return Run(rc, out.getvalue(), err.getvalue(), time.perf_counter() - t0, _maxrss_mb() - rss0)


def assert_clear_error(run: Run, *needles: str, rc: int | tuple[int, ...] = 2, max_mb: float = 300.0) -> None:
    """The bad-input contract: exit status, a stderr line naming the problem, no traceback, bounded memory."""
    codes = (rc,) if isinstance(rc, int) else rc
    assert run.rc in codes, f"exit {run.rc}, expected {codes}; stderr: {run.err!r}"
    assert "Traceback" not in run.err and "internal error" not in run.err, run.err
    lines = [ln for ln in run.err.splitlines() if ln.strip()]
    assert lines, "no message on stderr"
    assert all(len(ln) < 1000 for ln in lines), "a message line is unreadably long"
    text = run.err.lower()
    for n in needles:
        assert n.lower() in text, f"{n!r} not in {run.err!r}"
    assert run.rss_growth_mb < max_mb, f"memory grew by {run.rss_growth_mb:.0f} MB"


def strict_loads(text: str):
    """``json.loads`` that refuses NaN / Infinity tokens (what strict JSON output must satisfy)."""
    def bad(name):
        raise ValueError(f"non-strict JSON token {name}")
    return json.loads(text, parse_constant=bad)


@pytest.fixture()
def example() -> dict:
    """The bundled example case (both legs, nine landmarks each, spacing 0.143 mm)."""
    return json.loads(EXAMPLE.read_text())


# ------------------------------------------------------------------------------------------------ bad images
def png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)


def png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG header declaring ``width × height`` grey pixels, with a tiny compressed body."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + png_chunk(b"IEND", b""))


def png_bomb_valid(width: int, height: int) -> bytes:
    """A complete, decodable all-black PNG of ``width × height`` (a few hundred kB for 20000², 400 MB decoded)."""
    z = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + pixels
    body = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def jpeg_bomb(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\1\1\0\0\1\0\1\0\0"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def tiff_bomb(width: int, height: int) -> bytes:
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 200),
               (277, 3, 1), (278, 4, height), (279, 4, width * height)]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, value in entries:
        ifd += struct.pack("<HHII", tag, typ, 1, value) if typ == 4 else struct.pack("<HHIHH", tag, typ, 1, value, 0)
    data = b"II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0"
    return data + b"\0" * (1200 - len(data))


def dicom_bomb(path: Path, rows: int, cols: int) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\0" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path
