"""Ground truth agrees with the pixels: head landmark at the centre of the bright disc, knee landmark in
the notch, DICOM round trip, determinism."""

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


def _head_edge_radii(img, hx, hy, r_px):
    """Along 29 rays over the superior half of the head (the side of the joint space), the distance from
    (hx, hy) at which the intensity falls fastest, in units of ``r_px``. The search (0.75–1.12 r) stops
    short of the acetabular roof, a bright arc at about 1.1–1.28 r."""
    from scipy.ndimage import map_coordinates

    ang = np.radians(np.linspace(-160.0, -20.0, 29))
    rad = np.linspace(0.75 * r_px, 1.12 * r_px, 75)
    xs = hx + np.cos(ang)[:, None] * rad[None]
    ys = hy + np.sin(ang)[:, None] * rad[None]
    prof = map_coordinates(img, [ys.ravel(), xs.ravel()], order=1).reshape(xs.shape)
    return rad[np.argmin(np.gradient(prof, axis=1), axis=1)] / r_px


def test_femoral_head_landmark_is_centre_of_the_bright_disc(cases):
    """The bright disc's edge lies at the head radius all round the landmark; from a point 0.15 r away it
    does not (the check would catch a landmark off by about 0.1 r, or a wrong radius)."""
    for case in cases:
        img = cv2.GaussianBlur(_display(case), (0, 0), 1.5)
        sp = case.pixel_spacing_mm
        for side, lms in case.landmarks.items():
            if case.study.legs[side].hip_implant:
                continue
            hx, hy = lms["femoral_head"]
            r_px = case.study.legs[side].head_radius_mm / sp
            dev = np.median(np.abs(_head_edge_radii(img, hx, hy, r_px) - 1.0))
            assert dev < 0.05, (case.case_id, side, dev)
            off = np.median(np.abs(_head_edge_radii(img, hx + 0.15 * r_px, hy, r_px) - 1.0))
            assert off > dev + 0.03, (case.case_id, side, dev, off)


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
    from llm_viewer.synth.imaging import add_trabecular_grain
    from llm_viewer.synth.primitives import Canvas

    canvas = Canvas(400, 800, 0.14, 4)
    canvas.bone[:, canvas.wc // 2:] = 1.0  # right half is bone
    t = np.zeros((800, 400), np.float32)
    add_trabecular_grain(t, np.random.default_rng(0), canvas, 1.0)
    assert np.abs(t[:, :180]).max() == 0.0  # nothing outside bone (upsampling blends only at the edge)
    inside = t[:, 230:]
    assert 0.7 < inside.std() < 1.4  # unit variance by construction (exact normalisation of the band)
    # longitudinal grain: neighbours along the limb (rows) correlate more than across it (columns)
    along = np.corrcoef(inside[:-4].ravel(), inside[4:].ravel())[0, 1]
    across = np.corrcoef(inside[:, :-4].ravel(), inside[:, 4:].ravel())[0, 1]
    assert along > across + 0.2
    # a lattice of thin bright ridges (trabeculae), not a symmetric speckle: right-skewed
    z = (inside - inside.mean()) / inside.std()
    assert (z ** 3).mean() > 0.1  # plain band-pass noise: about 0 (-0.03 here); ridges: 0.23


@pytest.mark.parametrize("scale", [4, 3])
def test_trabecular_grain_tiles_join_without_seams(monkeypatch, scale):
    """Computing only the tiles that hold bone gives exactly the whole-field result (no seams), and skips
    the empty tiles."""
    import llm_viewer.synth.imaging as imaging
    from llm_viewer.synth.primitives import Canvas

    canvas = Canvas(900, 1300, 0.14, scale)
    yy, xx = np.mgrid[0:canvas.hc, 0:canvas.wc]
    canvas.bone[:] = ((xx - canvas.wc * 0.3) ** 2 / 40.0 ** 2 + (yy - canvas.hc * 0.5) ** 2 / 150.0 ** 2 < 1)
    whole = np.zeros((1300, 900), np.float32)
    monkeypatch.setattr(imaging, "GRAIN_TILE", 10_000)
    imaging.add_trabecular_grain(whole, np.random.default_rng(3), canvas, 0.5)
    tiled = np.zeros((1300, 900), np.float32)
    monkeypatch.setattr(imaging, "GRAIN_TILE", 64)
    imaging.add_trabecular_grain(tiled, np.random.default_rng(3), canvas, 0.5)
    assert np.abs(whole).max() > 0.5
    np.testing.assert_allclose(tiled, whole, atol=1e-4)  # 1e-4 of a grain amplitude 0.5
    assert np.abs(tiled[:, 700:]).max() == 0.0  # far from the bone nothing is added


def test_generated_ground_truth_is_approved_verifiably():
    """The generator's approval carries the fingerprint of its points (the frozen timestamps do not enter it), so a
    report or an SR of a generated case says "verified", and a point edited afterwards makes it stale."""
    from llm_viewer.core.approval import check_approval
    from llm_viewer.core.casefile import Case
    from llm_viewer.synth.writer import build_case_document

    doc = build_case_document(generate_case(5, SynthConfig.with_height(512), index=0))
    case = Case(doc, source="synthetic")
    assert check_approval(case).state == "valid"
    side = case.sides[0]
    doc["legs"][side]["landmarks"]["knee_center"][0] += 3.0  # edited outside the viewer
    assert check_approval(Case(doc, source="synthetic")).state == "stale"
