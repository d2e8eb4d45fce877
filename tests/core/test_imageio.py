"""Tests of llm_viewer.core.imageio: DICOM (real CR radiographs from pydicom-data and synthetic files),
PNG/JPEG/TIFF, spacing, windows, metadata, de-identification and every kind of bad input."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, get_decoder, get_encoder
from pydicom.uid import JPEG2000Lossless

from llm_viewer.core import imageio
from llm_viewer.core.imageio import (
    DisplayWindow,
    ImageLoadError,
    RadiographImage,
    StudyMetadata,
    deidentify_dataset,
    detect_format,
    load_image,
    metadata_from_dataset,
    remap_uid,
    spacing_from_dataset,
    strip_identity,
    write_deidentified_dicom,
)

CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


def pydicom_file(name: str) -> str:
    """Path of a pydicom / pydicom-data test file, or skip when the data package lacks it."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"pydicom test file {name} not available")
    return str(path)


# ---------------------------------------------------------------------------------------------- DICOM pixels


def test_real_cr_monochrome1_is_inverted_against_raw_pixels() -> None:
    path = pydicom_file("RG1_UNCR.dcm")  # real CR, MONOCHROME1, 15 bits stored, WC 15000 / WW 30000
    raw = pydicom.dcmread(path).pixel_array.astype(np.float64)
    image = load_image(path)
    assert image.photometric == "MONOCHROME1"
    assert image.bits_stored == 15
    assert image.pixels.dtype == np.float32 and image.pixels.shape == raw.shape
    np.testing.assert_array_equal(image.pixels, (2**15 - 1) - raw)
    # the window centre is inverted with the pixels; the width is unchanged
    assert image.window == DisplayWindow(center=(2**15 - 1) - 15000.0, width=30000.0)


def test_synthetic_monochrome1_with_rescale_inverts_in_modality_units(write_dicom) -> None:
    raw = np.array([[0, 100, 4095]] * 4, dtype=np.uint16)
    path = write_dicom(
        pixels=raw,
        PhotometricInterpretation="MONOCHROME1",
        RescaleSlope="2",
        RescaleIntercept="-10",
        WindowCenter=["1000", "2000"],
        WindowWidth=["500", "800"],
    )
    image = load_image(path)
    low, high = -10.0, 4095 * 2 - 10.0  # modality output range of 12-bit stored values
    np.testing.assert_array_equal(image.pixels, (low + high) - (raw * 2.0 - 10.0))
    assert image.pixels[0, 0] > image.pixels[0, 2]  # stored 0 (white in MONOCHROME1) is now the highest value
    assert image.window == DisplayWindow(center=(low + high) - 1000.0, width=500.0)


def test_rescale_slope_intercept_applied(write_dicom) -> None:
    raw = (np.arange(64 * 200).reshape(64, 200) % 4096).astype(np.uint16)
    image = load_image(write_dicom(pixels=raw, RescaleSlope="2.5", RescaleIntercept="-1000"))
    np.testing.assert_allclose(image.pixels, raw * 2.5 - 1000.0, rtol=0, atol=1e-3)
    assert image.photometric == "MONOCHROME2"


def test_real_ct_rescale_matches_pydicom_modality_lut() -> None:
    path = pydicom_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    expected = apply_modality_lut(ds.pixel_array, ds)
    assert float(ds.RescaleIntercept) != 0  # the file really exercises the rescale
    np.testing.assert_array_equal(load_image(path).pixels, expected.astype(np.float32))


def test_modality_lut_sequence_applied() -> None:
    path = pydicom_file("mlut_18.dcm")
    ds = pydicom.dcmread(path)
    assert "ModalityLUTSequence" in ds
    expected = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
    assert not np.array_equal(expected, ds.pixel_array)  # the LUT really changes the values
    np.testing.assert_array_equal(load_image(path).pixels, expected)


def test_real_cr_jpeg2000_lossless_equals_uncompressed_counterpart() -> None:
    uncompressed = load_image(pydicom_file("RG3_UNCR.dcm"))
    j2k = load_image(pydicom_file("RG3_J2KR.dcm"))
    assert pydicom.dcmread(pydicom_file("RG3_J2KR.dcm"), stop_before_pixels=True).file_meta.TransferSyntaxUID == (
        JPEG2000Lossless
    )
    assert j2k.photometric == "MONOCHROME1"
    np.testing.assert_array_equal(j2k.pixels, uncompressed.pixels)
    assert j2k.window == uncompressed.window


def test_jpeg2000_lossless_encoded_here_decodes_exactly(write_dicom, make_dataset) -> None:
    if not get_encoder(JPEG2000Lossless).is_available:
        pytest.skip("no JPEG 2000 encoder plugin")
    ds = make_dataset()
    raw = ds.pixel_array.copy()
    ds.compress(JPEG2000Lossless)
    image = load_image(write_dicom("j2k.dcm", dataset=ds))
    np.testing.assert_array_equal(image.pixels, raw.astype(np.float32))


@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm"])
def test_lossless_transfer_syntaxes_equal_uncompressed(name: str) -> None:
    tsuid = pydicom.dcmread(pydicom_file(name), stop_before_pixels=True).file_meta.TransferSyntaxUID
    if not get_decoder(tsuid).is_available:
        pytest.skip(f"no decoder plugin for {tsuid.name}")
    np.testing.assert_array_equal(
        load_image(pydicom_file(name)).pixels, load_image(pydicom_file("MR_small.dcm")).pixels
    )


@pytest.mark.filterwarnings("ignore:Expected explicit VR")
def test_jpeg_lossless_and_baseline_decode() -> None:
    lossless = load_image(pydicom_file("JPEG-LL.dcm"))  # JPEG lossless process 14, 16-bit
    assert lossless.pixels.shape == (1024, 256) and lossless.pixels.max() > 0
    rgb_path = pydicom_file("SC_rgb_jpeg.dcm")  # JPEG baseline colour: reduced to grey
    rgb = pydicom.dcmread(rgb_path).pixel_array.astype(np.float64)
    grey = load_image(rgb_path)
    assert grey.pixels.ndim == 2 and grey.photometric == "RGB"
    np.testing.assert_allclose(grey.pixels, rgb @ [0.299, 0.587, 0.114], atol=1e-2)


def test_window_from_dicom_first_value_else_percentiles(write_dicom) -> None:
    with_voi = load_image(write_dicom("voi.dcm", WindowCenter=["1500", "40"], WindowWidth=["3000", "400"]))
    assert with_voi.window == DisplayWindow(center=1500.0, width=3000.0)
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 4096, size=(64, 200)).astype(np.uint16)
    image = load_image(write_dicom("novoi.dcm", pixels=raw, WindowWidth="0", WindowCenter="5"))  # width 0: invalid
    low, high = np.percentile(raw, [0.5, 99.5])
    assert image.window.center == pytest.approx((low + high) / 2)
    assert image.window.width == pytest.approx(high - low)
    np.testing.assert_array_equal(image.pixels, raw)  # the window never touches the pixel values


# --------------------------------------------------------------------------------------------------- spacing


@pytest.mark.parametrize(
    ("attrs", "spacing", "source"),
    [
        ({"PixelSpacing": ["0.15", "0.2"], "ImagerPixelSpacing": ["0.3", "0.3"]}, (0.15, 0.2), "PixelSpacing"),
        (
            {"ImagerPixelSpacing": ["0.2", "0.25"], "EstimatedRadiographicMagnificationFactor": "1.25"},
            (0.16, 0.2),
            "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor",
        ),
        ({"ImagerPixelSpacing": ["0.2", "0.25"]}, (0.2, 0.25), "ImagerPixelSpacing"),
        (
            {"ImagerPixelSpacing": ["0.2", "0.2"], "EstimatedRadiographicMagnificationFactor": "0"},
            (0.2, 0.2),
            "ImagerPixelSpacing",
        ),
        ({"PixelSpacing": ["0", "0"], "ImagerPixelSpacing": ["0.1", "0.1"]}, (0.1, 0.1), "ImagerPixelSpacing"),
        ({"PixelSpacing": ["0", "0"]}, None, "unknown"),
        ({"PixelSpacing": ["-0.1", "0.1"]}, None, "unknown"),
        ({"ImagerPixelSpacing": ["nan", "0.1"]}, None, "unknown"),
        ({"PixelSpacing": ["0.1"]}, None, "unknown"),
        ({}, None, "unknown"),
    ],
)
@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
def test_spacing_sources(make_dataset, attrs, spacing, source) -> None:
    result = spacing_from_dataset(make_dataset(**attrs))
    assert result.source == source
    if spacing is None:
        assert result.pixel_spacing_mm is None
    else:
        assert result.pixel_spacing_mm == pytest.approx(spacing)


def test_zero_spacing_file_is_unknown_not_zero(write_dicom) -> None:
    image = load_image(write_dicom(PixelSpacing="0\\0"))
    assert image.pixel_spacing_mm is None and image.spacing_source == "unknown"
    real = load_image(pydicom_file("RG1_UNCR.dcm"))  # a real CR that carries PixelSpacing 0\0
    assert real.pixel_spacing_mm is None and real.spacing_source == "unknown"


def test_magnification_corrected_spacing_through_load_image(write_dicom) -> None:
    path = write_dicom(ImagerPixelSpacing="0.143\\0.143", EstimatedRadiographicMagnificationFactor="1.1")
    image = load_image(path)
    assert image.spacing_source == "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
    assert image.pixel_spacing_mm == pytest.approx((0.13, 0.13))


# ---------------------------------------------------------------------------------------- PNG / JPEG / TIFF


def test_png_16bit_stays_16bit_and_detects_by_content(tmp_path: pathlib.Path) -> None:
    raw = (np.arange(50 * 70).reshape(50, 70) * 13 % 65536).astype(np.uint16)
    path = tmp_path / "leg.dcm"  # misleading extension: the content decides
    assert cv2.imwrite(str(path.with_suffix(".png")), raw)
    path.with_suffix(".png").rename(path)
    image = load_image(path)
    assert image.file_format == "png" and image.bits_stored == 16
    assert image.pixels.max() > 255
    np.testing.assert_array_equal(image.pixels, raw)
    assert image.pixel_spacing_mm is None and image.spacing_source == "unknown"
    assert image.metadata == StudyMetadata()
    assert (image.height_px, image.width_px) == (50, 70)


def test_png_8bit_rgb_and_rgba_reduced_to_grey(tmp_path: pathlib.Path) -> None:
    bgr = np.zeros((8, 9, 3), dtype=np.uint8)
    bgr[..., 2] = 200  # pure red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    red = load_image(tmp_path / "red.png")
    assert red.photometric == "RGB" and red.bits_stored == 8 and red.pixels.shape == (8, 9)
    np.testing.assert_allclose(red.pixels, 0.299 * 200, atol=1e-3)
    bgra = np.dstack([np.full((8, 9, 3), 77, np.uint16), np.full((8, 9), 5, np.uint16)])  # alpha ignored
    cv2.imwrite(str(tmp_path / "grey_alpha.png"), bgra)
    rgba = load_image(tmp_path / "grey_alpha.png")
    assert rgba.bits_stored == 16
    np.testing.assert_allclose(rgba.pixels, 77, atol=1e-3)


def test_tiff_16bit_and_jpeg_8bit(tmp_path: pathlib.Path) -> None:
    raw = (np.arange(40 * 30).reshape(40, 30) * 51).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "a.tif"), raw)
    tiff = load_image(tmp_path / "a.tif")
    assert tiff.file_format == "tiff" and tiff.bits_stored == 16
    np.testing.assert_array_equal(tiff.pixels, raw)
    grey = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (32, 1))
    cv2.imwrite(str(tmp_path / "a.jpg"), grey, [cv2.IMWRITE_JPEG_QUALITY, 100])
    jpeg = load_image(tmp_path / "a.jpg")
    assert jpeg.file_format == "jpeg" and jpeg.bits_stored == 8 and jpeg.photometric == "MONOCHROME2"
    assert np.abs(jpeg.pixels - grey).max() <= 3  # lossy, but close


# ----------------------------------------------------------------------------------------------- bad input


def _expect_error(path, *fragments: str) -> str:
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_file_folder_and_empty_file(tmp_path: pathlib.Path) -> None:
    _expect_error(tmp_path / "nope.dcm", "does not exist")
    _expect_error(tmp_path, "is a folder")
    (tmp_path / "empty.dcm").write_bytes(b"")
    _expect_error(tmp_path / "empty.dcm", "empty file")


def test_text_and_json_files_are_not_images(tmp_path: pathlib.Path) -> None:
    (tmp_path / "notes.txt").write_text("femoral head at 10, 20\n")
    (tmp_path / "case.json").write_text(json.dumps({"pixel_spacing_mm": [0.1, 0.1]}))
    (tmp_path / "fake.png").write_text("not really a png")
    for name in ("notes.txt", "case.json", "fake.png"):
        _expect_error(tmp_path / name, "not a recognised image file")


def test_truncated_dicom_pixel_data(write_dicom, tmp_path: pathlib.Path) -> None:
    data = write_dicom().read_bytes()
    for cut in (len(data) // 2, len(data) - 1):
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(data[:cut])
        _expect_error(path, "truncated pixel data")


def test_dicom_truncated_inside_header(write_dicom, tmp_path: pathlib.Path) -> None:
    data = write_dicom().read_bytes()
    path = tmp_path / "head.dcm"
    path.write_bytes(data[:400])
    _expect_error(path, "no pixel data")


def test_corrupt_compressed_pixel_data(write_dicom, make_dataset) -> None:
    ds = make_dataset()
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(range(256)) * 2])
    ds["PixelData"].VR = "OB"
    _expect_error(write_dicom("corrupt.dcm", dataset=ds), "cannot decode", "JPEG 2000", "corrupt or truncated")


def test_garbage_after_dicm_prefix(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "garbage.dcm"
    path.write_bytes(b"\0" * 128 + b"DICM" + bytes(np.random.default_rng(1).integers(0, 256, 600, dtype=np.uint8)))
    with pytest.raises(ImageLoadError, match="garbage.dcm"):
        load_image(path)


def test_corrupt_and_truncated_png(tmp_path: pathlib.Path) -> None:
    cv2.imwrite(str(tmp_path / "ok.png"), np.full((64, 64), 9, np.uint8))
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "corrupt.png").write_bytes(data[:16] + b"\x00" * (len(data) - 16))
    _expect_error(tmp_path / "trunc.png", "corrupt, truncated or unsupported PNG")
    _expect_error(tmp_path / "corrupt.png", "corrupt, truncated or unsupported PNG")


def test_dicom_without_pixel_data(write_dicom, make_dataset) -> None:
    ds = make_dataset()
    for keyword in ("PixelData", "Rows", "Columns"):
        delattr(ds, keyword)
    _expect_error(write_dicom("nopix.dcm", dataset=ds), "no pixel data", "Computed Radiography Image Storage")
    _expect_error(pydicom_file("rtplan.dcm"), "no pixel data", "RT Plan Storage")


def test_multi_frame_refused(write_dicom) -> None:
    frames = np.zeros((3, 16, 20), dtype=np.uint16)
    path = write_dicom("multi.dcm", pixels=frames[0], NumberOfFrames=3, PixelData=frames.tobytes())
    message = _expect_error(path, "multi-frame DICOM (3 frames) is not a single radiograph")
    assert message.endswith("multi-frame DICOM (3 frames) is not a single radiograph")


def test_multi_page_tiff_refused(tmp_path: pathlib.Path) -> None:
    assert cv2.imwritemulti(str(tmp_path / "stack.tif"), [np.zeros((10, 12), np.uint16)] * 4)
    _expect_error(tmp_path / "stack.tif", "multi-page TIFF (4 pages)")


def test_unsupported_transfer_syntax(write_dicom, make_dataset) -> None:
    ds = make_dataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: pydicom has no decoder
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    _expect_error(write_dicom("mpeg.dcm", dataset=ds), "unsupported transfer syntax", "MPEG2")


def test_missing_decoder_plugin(write_dicom, make_dataset, monkeypatch) -> None:
    ds = make_dataset()
    ds.compress(pydicom.uid.RLELossless)
    path = write_dicom("rle.dcm", dataset=ds)
    decoder_class = type(get_decoder(pydicom.uid.RLELossless))
    monkeypatch.setattr(decoder_class, "is_available", property(lambda self: False))
    _expect_error(path, "cannot be decoded: decoder plugin missing", "RLE Lossless")


def test_unexpected_exceptions_are_wrapped(tmp_path: pathlib.Path, monkeypatch) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 4), np.uint8))

    def boom(*args, **kwargs):
        raise KeyError("decoder exploded")

    monkeypatch.setattr(imageio, "_read_raster", boom)
    _expect_error(tmp_path / "a.png", "unexpected error", "KeyError", "decoder exploded")


def test_non_path_argument() -> None:
    with pytest.raises(ImageLoadError, match="not a file path"):
        load_image(12345)  # type: ignore[arg-type]


def test_detect_format() -> None:
    assert detect_format(b"\0" * 128 + b"DICM") == "dicom"
    assert detect_format(b"\x89PNG\r\n\x1a\n" + b"\0" * 10) == "png"
    assert detect_format(b"\xff\xd8\xff\xe0") == "jpeg"
    assert detect_format(b"II*\x00rest") == "tiff"
    assert detect_format(b"\x08\x00\x05\x00CS\x0a\x00") == "dicom-raw"
    assert detect_format(b'{"a": 1}') is None


def test_preamble_less_dicom_loads() -> None:
    path = pydicom_file("OT-PAL-8-face.dcm")  # no preamble / DICM prefix, palette colour
    image = load_image(path)
    assert image.file_format == "dicom" and image.pixels.shape == (480, 640)
    assert image.photometric == "PALETTE COLOR" and float(image.pixels.std()) > 0


# ------------------------------------------------------------------------------------ metadata and de-identification


def test_metadata_read(write_dicom) -> None:
    meta = load_image(write_dicom()).metadata
    assert meta.patient_name == "Doe^Jane" and meta.patient_id == "PID-0001"
    assert meta.patient_birth_date == "19600102" and meta.accession_number == "ACC-42"
    assert meta.institution_name == "General Hospital" and meta.modality == "CR" and meta.body_part == "LEG"
    assert set(meta.as_dict()) == {f.name for f in dataclasses.fields(StudyMetadata)}
    assert len(meta.as_dict()) == 14


def test_deidentify_dataset_removes_phi_keeps_image(make_dataset) -> None:
    ds = make_dataset(
        PixelSpacing="0.14\\0.14",
        ReferringPhysicianName="Who^Dr",
        OperatorsName="Tech^A",
        PatientAddress="1 Main St",
        OtherPatientIDs="X-9",
        InstitutionAddress="Somewhere",
    )
    ds.add_new(0x00091001, "LO", "private secret")
    item = pydicom.dataset.Dataset()
    item.PatientName = "Nested^Name"
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    item.ReferencedSOPClassUID = ds.SOPClassUID
    ds.ReferencedImageSequence = [item]
    original = metadata_from_dataset(ds)
    pixels_before = ds.PixelData
    out = deidentify_dataset(ds)
    assert out is ds
    text = str(ds)
    for secret in (
        "Doe^Jane",
        "PID-0001",
        "19600102",
        "ACC-42",
        "General Hospital",
        "Who^Dr",
        "Tech^A",
        "1 Main St",
        "X-9",
        "private secret",
        "Nested^Name",
        "Somewhere",
        original.sop_instance_uid,
    ):
        assert secret not in text, secret
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.Modality == "CR" and ds.PixelData == pixels_before and [float(v) for v in ds.PixelSpacing] == [0.14] * 2
    assert ds.SOPClassUID == CR_STORAGE  # well-known UIDs are kept
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID  # remapped consistently
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert metadata_from_dataset(ds) == strip_identity(original)


def test_strip_identity() -> None:
    meta = StudyMetadata(
        patient_name="A^B",
        patient_id="1",
        patient_birth_date="19000101",
        patient_sex="M",
        study_date="20200101",
        accession_number="9",
        institution_name="H",
        modality="DX",
        manufacturer="M",
        body_part="LEG",
        study_instance_uid="1.2.3",
    )
    stripped = strip_identity(meta)
    assert stripped.patient_name is None and stripped.patient_id is None and stripped.patient_birth_date is None
    assert stripped.accession_number is None and stripped.institution_name is None
    assert stripped.study_date is not None and "20191031" >= stripped.study_date >= "20180101"  # 62-730 days back
    assert (stripped.modality, stripped.manufacturer, stripped.body_part) == ("DX", "M", "LEG")
    assert stripped.study_instance_uid == remap_uid("1.2.3") != "1.2.3"
    assert remap_uid("1.2.3") == remap_uid("1.2.3") != remap_uid("1.2.4")
    assert meta.patient_name == "A^B"  # the input is unchanged


def test_write_deidentified_dicom_roundtrip(write_dicom, tmp_path: pathlib.Path) -> None:
    src = write_dicom(ImagerPixelSpacing="0.2\\0.2", EstimatedRadiographicMagnificationFactor="1.25")
    dst = write_deidentified_dicom(src, tmp_path / "anon.dcm")
    before, after = load_image(src), load_image(dst)
    np.testing.assert_array_equal(after.pixels, before.pixels)
    assert after.pixel_spacing_mm == before.pixel_spacing_mm and after.spacing_source == before.spacing_source
    assert after.metadata.patient_name is None and after.metadata.patient_id is None
    assert after.metadata.modality == "CR"
    assert b"Doe^Jane" not in dst.read_bytes() and b"PID-0001" not in dst.read_bytes()
    with pytest.raises(ValueError, match="refusing to overwrite"):
        write_deidentified_dicom(src, src)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageLoadError, match="notes.txt"):
        write_deidentified_dicom(tmp_path / "notes.txt", tmp_path / "x.dcm")


def test_radiograph_image_fields() -> None:
    image = RadiographImage(
        pixels=np.zeros((3, 5), np.float32),
        pixel_spacing_mm=None,
        spacing_source="unknown",
        window=DisplayWindow(1.0, 2.0),
        photometric="MONOCHROME2",
        bits_stored=8,
        file_format="png",
        metadata=StudyMetadata(),
        source_path=None,
    )
    assert (image.height_px, image.width_px) == (3, 5)
    assert (image.window.low, image.window.high) == (0.0, 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        image.bits_stored = 16  # type: ignore[misc]
