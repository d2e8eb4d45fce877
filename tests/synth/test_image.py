"""Ground truth agrees with the pixels: head landmark at the centre of the bright disc, knee landmark in
the notch, DICOM round trip, determinism."""

import math

import cv2
import numpy as np
import pydicom
import pytest

from llm_viewer.synth.dicom import dicom_bytes
from llm_viewer.synth.generator import generate_case
from llm_viewer.synth.params import SynthConfig

CFG = SynthConfig.with_height(2025, monochrome="MONOCHROME2", implants_rate=0.0, one_leg_rate=0.0,
                              calibration="none")


@pytest.fixture(scope="module")
def cases():
    return [generate_case(seed, CFG) for seed in (11, 12, 13, 14)]


def _display(case):
    img = case.pixels.astype(np.float32)
    return img  # MONOCHROME2: higher = brighter = more attenuation


def test_femoral_head_landmark_is_centre_of_the_bright_disc(cases):
    for case in cases:
        img = _display(case)
        sp = case.pixel_spacing_mm
        for side, lms in case.landmarks.items():
            if case.study.legs[side].hip_implant:
                continue
            hx, hy = lms["femoral_head"]
            r_px = case.study.legs[side].head_radius_mm / sp
            half = int(2.2 * r_px)
            x0, y0 = int(round(hx)) - half, int(round(hy)) - half
            crop = img[y0:y0 + 2 * half + 1, x0:x0 + 2 * half + 1]
            crop8 = cv2.normalize(cv2.GaussianBlur(crop, (0, 0), 1.0), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
            circles = cv2.HoughCircles(crop8, cv2.HOUGH_GRADIENT, dp=1, minDist=r_px / 2, param1=40, param2=12,
                                       minRadius=int(0.8 * r_px), maxRadius=int(1.2 * r_px) + 1)
            assert circles is not None, (case.case_id, side)
            cx, cy, _ = circles[0][0]
            err = math.hypot(x0 + cx - hx, y0 + cy - hy)
            assert err < 0.2 * r_px, (case.case_id, side, err, r_px)


def test_knee_landmark_sits_in_the_notch_between_brighter_condyles(cases):
    for case in cases:
        img = cv2.GaussianBlur(_display(case), (0, 0), 1.5)
        sp = case.pixel_spacing_mm
        for side, lms in case.landmarks.items():
            k = np.array(lms["knee_center"])
            cl, cm = np.array(lms["femoral_condyle_lateral"]), np.array(lms["femoral_condyle_medial"])
            e = (cl - cm) / np.linalg.norm(cl - cm)
            samples = []
            for t_mm in np.linspace(-30, 30, 61):
                p = k + e * t_mm / sp
                samples.append(img[int(round(p[1])), int(round(p[0]))])
            samples = np.array(samples)
            centre = samples[25:36].mean()  # +-5 mm around K
            lateral = samples[45:].max()    # 15..30 mm lateral: lateral condyle
            medial = samples[:16].max()     # 15..30 mm medial: medial condyle
            assert centre < lateral and centre < medial, (case.case_id, side, centre, lateral, medial)
            # the notch is a local minimum along the condylar line
            assert samples[25:36].min() <= samples.min() + 0.25 * (samples.max() - samples.min())


def test_dicom_round_trip_and_determinism():
    cfg = SynthConfig.with_height(1024)
    a = generate_case(5, cfg, index=2)
    b = generate_case(5, cfg, index=2)
    c = generate_case(6, cfg, index=2)
    da, db, dc = dicom_bytes(a), dicom_bytes(b), dicom_bytes(c)
    assert da == db
    assert da != dc
    assert not np.array_equal(a.pixels, c.pixels)
    ds = pydicom.dcmread(__import__("io").BytesIO(da))
    assert ds.Modality == "DX"
    assert "PixelSpacing" not in ds
    assert float(ds.ImagerPixelSpacing[0]) == a.pixel_spacing_mm
    assert ds.PhotometricInterpretation == a.photometric
    assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0
    assert np.array_equal(ds.pixel_array, a.pixels)
    assert str(ds.PatientName).startswith("SYNTH^")


def test_monochrome1_is_inverted():
    cfg2 = SynthConfig.with_height(1024, monochrome="MONOCHROME2")
    cfg1 = SynthConfig.with_height(1024, monochrome="MONOCHROME1")
    a, b = generate_case(9, cfg2), generate_case(9, cfg1)
    assert b.photometric == "MONOCHROME1"
    assert np.array_equal(a.pixels.astype(np.int64), 65535 - b.pixels.astype(np.int64))


def test_trabecular_grain_lies_inside_bone_and_runs_along_the_limb():
    from llm_viewer.synth.imaging import trabecular_streaks
    from llm_viewer.synth.primitives import Canvas

    canvas = Canvas(400, 800, 0.14, 4)
    canvas.bone[:, canvas.wc // 2:] = 1.0  # right half is bone
    t = trabecular_streaks(np.random.default_rng(0), canvas)
    assert t.shape == (800, 400)
    assert np.abs(t[:, :180]).max() == 0.0  # nothing outside bone (upsampling blends only at the edge)
    inside = t[:, 230:]
    assert 0.5 < inside.std() < 2.0
    # longitudinal grain: neighbours along the limb (rows) correlate more than across it (columns)
    along = np.corrcoef(inside[:-4].ravel(), inside[4:].ravel())[0, 1]
    across = np.corrcoef(inside[:, :-4].ravel(), inside[:, 4:].ravel())[0, 1]
    assert along > across + 0.2
